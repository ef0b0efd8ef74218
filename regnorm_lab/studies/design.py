"""A study design — factors x independent data draws x training seeds — run into one tidy table.

A *cell* is one setting of the factors (a dict such as ``{"l1": 0.01,
"dropout": 0.3, "penalty_layers": "first"}``, applied to a base
:class:`~regnorm_lab.studies.training.TrainConfig`). Each cell is trained on
every data draw with every seed; a *draw* is an independent sample of the
data (a fresh synthetic task, or a fresh train/validation/test split of a real
data set), so that the analysis can tell the variance between data sets from
the variance between training seeds.

:func:`run_design` trains all ``cells x draws x seeds`` runs with the batched
trainer, in chunks, locally or on a Dask cluster (``scheduler="tcp://..."``,
or a ``distributed.Client``), and returns one row per run: the cell's
factors, ``dataset``, ``draw``, ``seed`` and the final ``train_r2``,
``val_r2``, ``test_r2``. Chunking and the scheduler change no result beyond
float32 rounding (about 1e-8 in R²: a batched matmul over another number of
models may sum in another order): each model's result depends on its own
config, seed and data only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .batched import KERNELS, SHARED_FIELDS, train_batched
from .datasets import make_regression_task
from .training import TrainConfig

__all__ = ["SplitTask", "synthetic_draw", "diabetes_draw", "DATASETS", "run_design"]


@dataclass
class SplitTask:
    """One data draw: train / validation / test arrays (float32) of one regression data set.

    Shape:
        ``X_*``: ``(n_*, n_features)``; ``y_*``: ``(n_*,)``.
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray


def synthetic_draw(draw: int) -> SplitTask:
    """Draw ``draw`` of the course's synthetic task: 256 training, 1024 validation and 1024 test rows.

    ``make_regression_task(n_train=256, n_val=2048, rng=default_rng(draw))``
    (20 features of wildly different scales, 6 informative), its validation
    rows split in half into validation and test. Each draw is a new function,
    new feature scales and new rows.
    """
    t = make_regression_task(n_train=256, n_val=2048, rng=np.random.default_rng(draw))
    return SplitTask(t.X_train, t.y_train, t.X_val[:1024], t.y_val[:1024], t.X_val[1024:], t.y_val[1024:])


def diabetes_draw(draw: int) -> SplitTask:
    """Draw ``draw`` of scikit-learn's ``load_diabetes`` (442 patients, 10 raw features, nothing downloaded).

    A draw is a random 60/20/20 train/validation/test split
    (``default_rng(draw)``). Features are left raw (age in years, sex as 1/2,
    BMI, ...): the input BatchNorm is what scales them, as in the seed's
    model. The target is standardised with the training rows' mean and std,
    so the penalty strengths mean the same as on the synthetic task (R² does
    not depend on the target's scale).
    """
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True, scaled=False)
    idx = np.random.default_rng(draw).permutation(len(y))
    n_train, n_val = int(0.6 * len(y)), int(0.2 * len(y))
    parts = idx[:n_train], idx[n_train : n_train + n_val], idx[n_train + n_val :]
    mu, sd = y[parts[0]].mean(), y[parts[0]].std()
    Xs = [X[p].astype(np.float32) for p in parts]
    ys = [((y[p] - mu) / sd).astype(np.float32) for p in parts]
    return SplitTask(Xs[0], ys[0], Xs[1], ys[1], Xs[2], ys[2])


#: The data sets a study can name: ``name -> draw -> SplitTask``.
DATASETS: dict[str, Callable[[int], SplitTask]] = {"synthetic": synthetic_draw, "diabetes": diabetes_draw}


def _run_chunk(tasks: list[SplitTask], configs: list[TrainConfig], kernel: str = "fast") -> dict[str, np.ndarray]:
    """One batched training (what a Dask worker runs); returns the score arrays."""
    return train_batched(tasks, configs, kernel=kernel).scores


def _chunks(runs: list[tuple[dict, str, int, TrainConfig]], size: int) -> list[list[int]]:
    """Indices of ``runs`` grouped so that one chunk shares :data:`SHARED_FIELDS` and dataset, sorted by lr."""
    groups: dict[tuple, list[int]] = {}
    for i, (_, dataset, _, config) in enumerate(runs):
        key = (dataset, *(getattr(config, f) for f in SHARED_FIELDS))
        groups.setdefault(key, []).append(i)
    out = []
    for idx in groups.values():
        idx.sort(key=lambda i: runs[i][3].lr)  # equal learning rates side by side: one Adam group each
        out += [idx[a : a + size] for a in range(0, len(idx), size)]
    return out


def run_design(
    cells: Sequence[Mapping[str, Any]],
    draws: Sequence[int],
    seeds: int,
    *,
    base: TrainConfig,
    datasets: Sequence[str] = ("synthetic",),
    chunk: int = 96,
    scheduler: Any = None,
    progress: bool = True,
    kernel: str = "fast",
) -> pd.DataFrame:
    """Train every ``dataset x cell x draw x seed`` and return the tidy table of final scores.

    Args:
        cells: factor settings; each key must be a :class:`TrainConfig`
            field (``l1``, ``l2``, ``dropout``, ``lr``, ``penalty_layers``, ...).
        draws: data-draw numbers (each one seeds its data set's draw).
        seeds: training seeds per cell and draw, ``0 .. seeds-1``.
        base: the config every cell starts from.
        datasets: names in :data:`DATASETS`.
        chunk: models per batched training.
        scheduler: ``None`` (run here), a Dask scheduler address, or a
            ``distributed.Client``.
        progress: a tqdm bar over chunks.
        kernel: the batched trainer's implementation, ``"fast"`` or
            ``"autograd"`` (see :func:`~regnorm_lab.studies.batched.train_batched`):
            the same training, different float32 rounding.

    Returns:
        One row per run: the cell's factors, ``dataset``, ``draw``, ``seed``,
        ``train_r2``, ``val_r2``, ``test_r2``; ordered by dataset, cell, draw, seed.

    Raises:
        ValueError: no cells or draws, ``seeds``/``chunk`` below 1, an unknown
            data set or factor name, or an unknown ``kernel``.
    """
    if not cells:
        raise ValueError("cells must hold at least one cell")
    if not draws:
        raise ValueError("draws must hold at least one draw")
    for name, value in (("seeds", seeds), ("chunk", chunk)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    for cell in cells:
        unknown = set(cell) - fields
        if unknown:
            raise ValueError(f"cells: unknown factor(s) {sorted(unknown)}; factors must be TrainConfig fields")
    if kernel not in KERNELS:  # checked here too: a Dask worker would raise it only mid-run
        raise ValueError(f"kernel must be one of {list(KERNELS)}, got {kernel!r}")
    for d in datasets:
        if d not in DATASETS:
            raise ValueError(f"datasets: unknown data set {d!r}, known: {sorted(DATASETS)}")

    data = {(d, k): DATASETS[d](k) for d in datasets for k in draws}
    runs = [
        (dict(cell), d, k, dataclasses.replace(base, **cell, seed=s))
        for d in datasets
        for cell in cells
        for k in draws
        for s in range(seeds)
    ]
    plan = _chunks(runs, chunk)
    args = [([data[runs[i][1], runs[i][2]] for i in idx], [runs[i][3] for i in idx], kernel) for idx in plan]
    results = _execute(args, scheduler, progress)
    scores = {key: np.empty(len(runs)) for key in ("train_r2", "val_r2", "test_r2")}
    for idx, res in zip(plan, results):
        for key in scores:
            scores[key][idx] = res[key]
    factor_names = list(dict.fromkeys(k for cell in cells for k in cell))
    table = pd.DataFrame(
        [{**{f: cell.get(f, getattr(base, f)) for f in factor_names}, "dataset": d, "draw": k, "seed": c.seed}
         for cell, d, k, c in runs]
    )
    for key, values in scores.items():
        table[key] = values
    return table


def _execute(args: list[tuple], scheduler: Any, progress: bool) -> list[dict[str, np.ndarray]]:
    """Run the chunks here or on a Dask cluster; results in the order of ``args``."""
    bar = tqdm(total=len(args), desc="batched trainings", unit="chunk", disable=not progress)
    try:
        if scheduler is None:
            out = []
            for a in args:
                out.append(_run_chunk(*a))
                bar.update()
            return out
        from distributed import Client, as_completed

        client = scheduler if isinstance(scheduler, Client) else Client(scheduler, timeout="30s")
        try:
            futures = [client.submit(_run_chunk, *a, pure=False) for a in args]
            for _ in as_completed(futures):
                bar.update()
            return client.gather(futures)
        finally:
            if client is not scheduler:
                client.close()
    finally:
        bar.close()
