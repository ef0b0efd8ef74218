"""Per-model time of the batched trainer against a loop of single-model runs (issue 13; goal >= 10x).

K = 64 seed-003 MLPs (2x128, Adam, batch 64, 256 training rows, 20 features,
150 epochs, scored once at the end) that differ in seed, L1, L2, dropout,
learning rate and BatchNorm, on one torch thread. The single-model side times
``train_mlp`` on a sample of the same configs (every 8th) and reports its time
per model; the sides alternate over rounds so machine load hits all of them.
The batched trainer is timed with its default kernel and with
``kernel="autograd"`` (its first implementation, kept for exact
reproduction), so the gain of the hand-written kernel is measured in one run.
Prints the CPU time (``time.process_time``: one thread, so it is the work
done, and it is far less disturbed than wall time when other jobs share the
cores) and the wall time per model for each side, and their ratios.

It also prints the arithmetic floor: the time the hidden-to-hidden matmuls
of one model's training alone take at the GEMM throughput this machine
reaches (``torch.bmm`` on the same shapes, measured in the same run). The
batched trainer cannot go below it, so ``single / floor`` bounds the
reachable speed-up.

It also prints the floor the random streams set: a model with dropout
draws two uniform doubles per hidden unit, row and step from its own
Mersenne-Twister generator (``train_mlp``'s stream, which the batched trainer
must reproduce), serially; that cost is per model, whatever K. The reachable
speed-up is at most ``single / (matmul floor + stream floor)``.

``--design seed003`` times a chunk of the ``seed003`` study's own design
instead (60 epochs, its L1/L2 x dropout cells on both penalty scopes,
synthetic draws 0-4, every 5th run of the grid) — what ``run_design``
actually trains.

Run: ``python benchmarks/batched_trainer.py [--rounds 2] [--epochs 150] [--design mix|seed003]``.
"""

from __future__ import annotations

import argparse
import dataclasses
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


def seed003_chunk(K: int) -> tuple[list, list, list[TrainConfig]]:
    """K runs of the seed003 study's synthetic grid (every few runs), as run_design builds them.

    Returns ``(split_tasks, train_tasks, configs)``: the draws for the batched
    trainer (train/validation/test) and the same draws as RegressionTask for
    ``train_mlp`` (train/validation: it scores one split less).
    """
    from regnorm_lab.studies.datasets import RegressionTask
    from regnorm_lab.studies.design import synthetic_draw
    from regnorm_lab.studies.seed003 import BASE, cells

    draws = {k: synthetic_draw(k) for k in range(5)}
    runs = [(k, dataclasses.replace(BASE, **c, seed=s))
            for c in cells("first") + cells("all") for k in range(5) for s in range(5)]
    runs = [runs[i * len(runs) // K] for i in range(K)]
    split = [draws[k] for k, _ in runs]
    train = [RegressionTask(t.X_train, t.y_train, t.X_val, t.y_val) for t in split]
    return split, train, [c for _, c in runs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=150, help="design 'mix' only (seed003: its own 60)")
    parser.add_argument("--models", type=int, default=64)
    parser.add_argument("--design", choices=("mix", "seed003"), default="mix")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.design == "seed003":
        batched_tasks, single_tasks, cfgs = seed003_chunk(args.models)
    else:
        task = make_regression_task(rng=np.random.default_rng(0))
        cfgs = configs(args.models, args.epochs)
        batched_tasks, single_tasks = task, [task] * len(cfgs)
    sample = list(range(0, len(cfgs), 8))
    train_mlp(single_tasks[0], cfgs[0])  # first run imports torch._dynamo (~4 s); not part of either side
    times: dict[str, list[tuple[float, float]]] = {"batched": [], "autograd": [], "single": []}
    for _ in range(args.rounds):
        for kernel, key in (("fast", "batched"), ("autograd", "autograd")):
            c0, w0 = time.process_time(), time.perf_counter()
            train_batched(batched_tasks, cfgs, kernel=kernel)
            times[key].append(((time.process_time() - c0) / len(cfgs), (time.perf_counter() - w0) / len(cfgs)))
        c0, w0 = time.process_time(), time.perf_counter()
        for k in sample:
            train_mlp(single_tasks[k], cfgs[k])
        times["single"].append(((time.process_time() - c0) / len(sample), (time.perf_counter() - w0) / len(sample)))
    (b_cpu, b_wall), (a_cpu, a_wall), (s_cpu, s_wall) = (min(times[k]) for k in ("batched", "autograd", "single"))
    n_train = single_tasks[0].X_train.shape[0]
    floor = _gemm_floor(len(cfgs), cfgs[0].epochs, n_train, cfgs[0])
    stream = _stream_floor(cfgs, n_train)
    print(f"design {args.design}: K = {len(cfgs)} models, {cfgs[0].epochs} epochs, "
          f"{sum(c.dropout > 0 for c in cfgs)} with dropout, torch threads = {torch.get_num_threads()}")
    print(f"single-model loop : {s_cpu * 1e3:8.1f} ms CPU, {s_wall * 1e3:8.1f} ms wall per model "
          f"(best of {args.rounds}; {len(sample)} runs each)")
    print(f"batched trainer   : {b_cpu * 1e3:8.1f} ms CPU, {b_wall * 1e3:8.1f} ms wall per model (best of {args.rounds})")
    print(f"  kernel=autograd : {a_cpu * 1e3:8.1f} ms CPU, {a_wall * 1e3:8.1f} ms wall per model "
          f"(the first implementation: {s_cpu / a_cpu:.1f}x CPU)")
    print(f"matmul floor      : {floor * 1e3:8.1f} ms per model (hidden-to-hidden GEMMs alone)")
    print(f"stream floor      : {stream * 1e3:8.1f} ms per model (dropout masks' uniforms from each model's generator)")
    print(f"speed-up per model: {s_cpu / b_cpu:.1f}x CPU, {s_wall / b_wall:.1f}x wall (goal >= 10x); "
          f"at most {s_cpu / floor:.1f}x at this machine's GEMM speed, "
          f"{s_cpu / (floor + stream):.1f}x with train_mlp's random streams")


def _gemm_floor(K: int, epochs: int, n: int, config: TrainConfig) -> float:
    """CPU seconds per model of the 128x128 layer's three GEMMs per step (forward, two backward) over a run."""
    B, H = config.batch_size, config.hidden
    a, w, out = torch.randn(K, B, H), torch.randn(K, H, H), torch.empty(K, B, H)
    torch.bmm(a, w, out=out)  # into a preallocated output, as the trainer does (a fresh one costs page faults)
    reps = 20
    c0 = time.process_time()
    for _ in range(reps):
        torch.bmm(a, w, out=out)
    per_bmm = (time.process_time() - c0) / reps
    steps = epochs * (n // B)
    return 3 * per_bmm * steps / K


def _stream_floor(cfgs: list[TrainConfig], n: int) -> float:
    """CPU seconds per model (averaged over cfgs) to draw the dropout masks' uniform doubles, torch's own kernel."""
    c = cfgs[0]
    batch = n if c.batch_size is None else min(c.batch_size, n)
    per_epoch = 2 * c.hidden * sum(min(batch, n - s) for s in range(0, n, batch) if n - s >= 2)
    u, g = torch.empty(per_epoch, dtype=torch.float64), torch.Generator().manual_seed(0)
    u.uniform_(generator=g)
    reps = 20
    c0 = time.process_time()
    for _ in range(reps):
        u.uniform_(generator=g)
    per_draw = (time.process_time() - c0) / reps
    return per_draw * c.epochs * sum(cf.dropout > 0 for cf in cfgs) / len(cfgs)


if __name__ == "__main__":
    main()
