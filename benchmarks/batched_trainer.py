"""Per-model time of the batched trainer against a loop of single-model runs (issue 13; goal >= 10x).

K = 64 seed-003 MLPs (2x128, Adam, batch 64, 256 training rows, 20 features,
150 epochs, scored once at the end) that differ in seed, L1, L2, dropout,
learning rate and BatchNorm, on one torch thread. The single-model side times
``train_mlp`` on a sample of the same configs (every 8th) and reports its time
per model; the two sides alternate over rounds so machine load hits both.
Prints the CPU time (``time.process_time``: one thread, so it is the work
done, and it is far less disturbed than wall time when other jobs share the
cores) and the wall time per model for each side, and their ratios.

It also prints the arithmetic floor: the time the hidden-to-hidden matmuls
of one model's training alone take at the GEMM throughput this machine
reaches (``torch.bmm`` on the same shapes, measured in the same run). The
batched trainer cannot go below it, so ``single / floor`` bounds the
reachable speed-up.

Run: ``python benchmarks/batched_trainer.py [--rounds 2] [--epochs 150]``.
"""

from __future__ import annotations

import argparse
import itertools
import time

import numpy as np
import torch

from regnorm_lab.studies.batched import train_batched
from regnorm_lab.studies.datasets import make_regression_task
from regnorm_lab.studies.training import TrainConfig, train_mlp


def configs(K: int, epochs: int) -> list[TrainConfig]:
    """K configurations cycling through the factors a study varies."""
    grid = itertools.cycle(
        itertools.product([0.0, 1e-3, 1e-2], [0.0, 1e-3], [0.0, 0.1, 0.3], [3e-3, 1e-2], [True, False])
    )
    return [
        TrainConfig(l1=l1, l2=l2, dropout=p, lr=lr, batch_norm=bn, epochs=epochs, eval_every=epochs, seed=k,
                    penalty_layers="first" if k % 2 else "all")
        for k, (l1, l2, p, lr, bn) in zip(range(K), grid)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--models", type=int, default=64)
    args = parser.parse_args()
    torch.set_num_threads(1)
    task = make_regression_task(rng=np.random.default_rng(0))
    cfgs = configs(args.models, args.epochs)
    sample = cfgs[::8]
    train_mlp(task, sample[0])  # first run imports torch._dynamo (~4 s); not part of either side
    times: dict[str, list[tuple[float, float]]] = {"batched": [], "single": []}
    for _ in range(args.rounds):
        c0, w0 = time.process_time(), time.perf_counter()
        train_batched(task, cfgs)
        times["batched"].append(((time.process_time() - c0) / len(cfgs), (time.perf_counter() - w0) / len(cfgs)))
        c0, w0 = time.process_time(), time.perf_counter()
        for c in sample:
            train_mlp(task, c)
        times["single"].append(((time.process_time() - c0) / len(sample), (time.perf_counter() - w0) / len(sample)))
    (b_cpu, b_wall), (s_cpu, s_wall) = (min(times[k]) for k in ("batched", "single"))
    floor = _gemm_floor(len(cfgs), args.epochs, task.X_train.shape[0], cfgs[0])
    print(f"K = {len(cfgs)} models, {args.epochs} epochs, torch threads = {torch.get_num_threads()}")
    print(f"single-model loop : {s_cpu * 1e3:8.1f} ms CPU, {s_wall * 1e3:8.1f} ms wall per model "
          f"(best of {args.rounds}; {len(sample)} runs each)")
    print(f"batched trainer   : {b_cpu * 1e3:8.1f} ms CPU, {b_wall * 1e3:8.1f} ms wall per model (best of {args.rounds})")
    print(f"matmul floor      : {floor * 1e3:8.1f} ms per model (hidden-to-hidden GEMMs alone)")
    print(f"speed-up per model: {s_cpu / b_cpu:.1f}x CPU, {s_wall / b_wall:.1f}x wall (goal >= 10x); "
          f"at most {s_cpu / floor:.1f}x at this machine's GEMM speed")


def _gemm_floor(K: int, epochs: int, n: int, config: TrainConfig) -> float:
    """CPU seconds per model of the 128x128 layer's three GEMMs per step (forward, two backward) over a run."""
    B, H = config.batch_size, config.hidden
    a, w = torch.randn(K, B, H), torch.randn(K, H, H)
    torch.bmm(a, w)
    reps = 20
    c0 = time.process_time()
    for _ in range(reps):
        torch.bmm(a, w)
    per_bmm = (time.process_time() - c0) / reps
    steps = epochs * (n // B)
    return 3 * per_bmm * steps / K


if __name__ == "__main__":
    main()
