"""Per-model time of the batched trainer against a loop of single-model runs (issue 13; goal >= 10x).

K = 64 seed-003 MLPs (2x128, Adam, batch 64, 256 training rows, 20 features,
150 epochs, scored once at the end) that differ in seed, L1, L2, dropout,
learning rate and BatchNorm, on one torch thread. The single-model side times
``train_mlp`` on a sample of the same configs (every 8th) and reports its time
per model; the two sides alternate over rounds so machine load hits both.
Prints seconds per model for each and their ratio (single / batched).

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
    batched, single = [], []
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        train_batched(task, cfgs)
        batched.append((time.perf_counter() - t0) / len(cfgs))
        t0 = time.perf_counter()
        for c in sample:
            train_mlp(task, c)
        single.append((time.perf_counter() - t0) / len(sample))
    b, s = min(batched), min(single)
    print(f"K = {len(cfgs)} models, {args.epochs} epochs, torch threads = {torch.get_num_threads()}")
    print(f"single-model loop : {s * 1e3:8.1f} ms per model (best of {args.rounds}; {len(sample)} runs each)")
    print(f"batched trainer   : {b * 1e3:8.1f} ms per model (best of {args.rounds})")
    print(f"speed-up per model: {s / b:.1f}x (goal >= 10x)")


if __name__ == "__main__":
    main()
