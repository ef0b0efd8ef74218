"""How far the numpy references are from torch's kernels (``make bench``, ``benchmarks/reference_vs_torch.py``).

Times forward + backward of batch norm and layer norm at one thread, numpy
reference against ``torch.nn.functional`` (training mode, autograd backward of
a fixed upstream gradient), side by side in one run, with the package's one
timer (:func:`regnorm_lab.timing.timer.best_medians`). The headline is the ratio
reference / torch: absolute times depend on the machine and its load, the ratio
much less. The course's goal for the batch norm reference is a ratio of at most 2.5.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..batch_norm import batchnorm_backward, batchnorm_forward
from ..layer_instance_norm import layernorm_backward, layernorm_forward
from .devices import plan_timing, set_cpu_threads
from .timer import best_medians

__all__ = ["BenchResult", "bench_norms", "main"]

EPS = 1e-5


@dataclass(frozen=True)
class BenchResult:
    """Median times of one operation (forward + backward) for the numpy reference and torch.

    Shape:
        ``shape`` is the ``(n, d)`` of the benchmarked input.
    """

    name: str
    shape: tuple[int, int]
    reference_s: float
    torch_s: float

    @property
    def ratio(self) -> float:
        """Reference time over torch time: 1 means as fast as torch, 2.5 means 2.5x slower."""
        return self.reference_s / self.torch_s


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

    def bn_reference() -> object:
        _, cache, _, _ = batchnorm_forward(x, gamma, beta, zeros, ones, training=True, eps=EPS)
        return batchnorm_backward(dout, cache)

    def bn_torch() -> object:
        y = F.batch_norm(xt, rm, rv, wt, bt, training=True, eps=EPS)
        return torch.autograd.grad(y, (xt, wt, bt), dt)

    def ln_reference() -> object:
        _, cache = layernorm_forward(x, gamma, beta, eps=EPS)
        return layernorm_backward(dout, cache)

    def ln_torch() -> object:
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

    Raises:
        ValueError: bad ``rounds`` or ``min_run_time``.

    Shape:
        the benchmarked input is ``(n, d)`` float32.
    """
    # The closures hold their own data and numpy has no cache ring to rotate: hot inputs, on the CPU.
    plan = plan_timing("cpu", cold_cache=False)
    results = []
    with set_cpu_threads(1):  # numpy's elementwise code is single-threaded too
        for name, (reference, torch_fn) in _cases(n, d, np.random.default_rng(seed)).items():
            best = best_medians({f"{name} numpy reference": reference, f"{name} torch": torch_fn}, (), plan,
                                rounds=rounds, min_run_time=min_run_time / rounds)
            results.append(BenchResult(name, (n, d), best[f"{name} numpy reference"], best[f"{name} torch"]))
    return results


def main(argv: list[str] | None = None) -> None:
    """Print the reference/torch ratios (the headline) and the raw median times."""
    parser = argparse.ArgumentParser(prog="benchmarks/reference_vs_torch.py", description=__doc__.splitlines()[0])
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
