"""How far the numpy references are from torch's kernels: ``python -m regnorm_lab.bench``.

Times forward + backward of batch norm and layer norm at one thread, numpy
reference against ``torch.nn.functional`` (training mode, autograd backward of
a fixed upstream gradient), side by side in one run, with
``torch.utils.benchmark.Timer``. The headline is the ratio reference / torch:
absolute times depend on the machine and its load, the ratio much less. The
course's goal for the batch norm reference is a ratio of at most 2.5.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils import benchmark

from .batch_norm import batchnorm_backward, batchnorm_forward
from .layer_instance_norm import layernorm_backward, layernorm_forward

__all__ = ["BenchResult", "bench_norms", "main"]

EPS = 1e-5


@dataclass(frozen=True)
class BenchResult:
    """Median times of one operation (forward + backward) for the numpy reference and torch."""

    name: str
    shape: tuple[int, int]
    reference_s: float
    torch_s: float

    @property
    def ratio(self) -> float:
        """Reference time over torch time: 1 means as fast as torch, 2.5 means 2.5x slower."""
        return self.reference_s / self.torch_s


def _median(fn: Callable[[], object], label: str, min_run_time: float) -> float:
    timer = benchmark.Timer(stmt="fn()", globals={"fn": fn}, num_threads=1, label=label)
    return timer.blocked_autorange(min_run_time=min_run_time).median


def _cases(n: int, d: int, rng: np.random.Generator) -> dict[str, tuple[Callable[[], object], Callable[[], object]]]:
    """For each operation, (numpy reference, torch) closures doing forward + backward on the same data."""
    x = rng.standard_normal((n, d), dtype=np.float32)
    dout = rng.standard_normal((n, d), dtype=np.float32)
    gamma = rng.standard_normal(d, dtype=np.float32)
    beta = rng.standard_normal(d, dtype=np.float32)
    zeros, ones = np.zeros(d, np.float32), np.ones(d, np.float32)

    # torch gets its own copies, with gradients where the reference computes them.
    xt = torch.tensor(x, requires_grad=True)
    wt = torch.tensor(gamma, requires_grad=True)
    bt = torch.tensor(beta, requires_grad=True)
    dt = torch.tensor(dout)
    rm, rv = torch.zeros(d), torch.ones(d)

    def bn_reference():
        _, cache, _, _ = batchnorm_forward(x, gamma, beta, zeros, ones, training=True, eps=EPS)
        return batchnorm_backward(dout, cache)

    def bn_torch():
        y = F.batch_norm(xt, rm, rv, wt, bt, training=True, eps=EPS)
        return torch.autograd.grad(y, (xt, wt, bt), dt)

    def ln_reference():
        _, cache = layernorm_forward(x, gamma, beta, eps=EPS)
        return layernorm_backward(dout, cache)

    def ln_torch():
        y = F.layer_norm(xt, (d,), wt, bt, EPS)
        return torch.autograd.grad(y, (xt, wt, bt), dt)

    return {"batch norm": (bn_reference, bn_torch), "layer norm": (ln_reference, ln_torch)}


def bench_norms(
    n: int = 4096, d: int = 1024, min_run_time: float = 1.0, rounds: int = 3, seed: int = 0
) -> list[BenchResult]:
    """Time forward + backward of batch and layer norm, numpy reference vs torch, at one thread.

    The two sides are measured alternately, ``rounds`` times each, and each
    keeps its best median: on a shared machine a burst of load then slows one
    round of both sides instead of skewing the ratio.

    Args:
        n: Batch size.
        d: Number of features.
        min_run_time: Seconds each side of each operation is timed in total
            (split over the rounds; ``Timer.blocked_autorange``).
        rounds: Alternating measurement rounds.
        seed: Seed of the input data.

    Returns:
        One :class:`BenchResult` per operation.

    Shape:
        the benchmarked input is ``(n, d)`` float32.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)  # numpy's elementwise code is single-threaded too
    try:
        results = []
        for name, (reference, torch_fn) in _cases(n, d, np.random.default_rng(seed)).items():
            reference(), torch_fn()  # warm up (first-touch allocations, kernel dispatch)
            ref_s = torch_s = float("inf")
            for _ in range(rounds):
                ref_s = min(ref_s, _median(reference, f"{name} numpy reference", min_run_time / rounds))
                torch_s = min(torch_s, _median(torch_fn, f"{name} torch", min_run_time / rounds))
            results.append(BenchResult(name, (n, d), ref_s, torch_s))
        return results
    finally:
        torch.set_num_threads(previous)


def main(argv: list[str] | None = None) -> None:
    """Print the reference/torch ratios (the headline) and the raw median times."""
    parser = argparse.ArgumentParser(prog="python -m regnorm_lab.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4096, help="batch size (default 4096)")
    parser.add_argument("--d", type=int, default=1024, help="features (default 1024)")
    parser.add_argument("--min-run-time", type=float, default=1.5, help="seconds per side and operation (default 1.5)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    args = parser.parse_args(argv)

    results = bench_norms(args.n, args.d, args.min_run_time, args.rounds)
    print(f"forward + backward, float32 ({args.n} x {args.d}), 1 thread")
    print(f"numpy {np.__version__}, torch {torch.__version__}")
    print("best median of alternating rounds; the ratio is the headline (goal for batch norm: <= 2.5)")
    print(f"{'operation':<12} {'reference/torch':>16} {'reference ms':>13} {'torch ms':>9}")
    for r in results:
        print(f"{r.name:<12} {r.ratio:>16.2f} {r.reference_s * 1e3:>13.2f} {r.torch_s * 1e3:>9.2f}")


if __name__ == "__main__":
    main()
