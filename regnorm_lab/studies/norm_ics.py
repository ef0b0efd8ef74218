"""Chapter 10's study: Santurkar et al.'s internal-covariate-shift probes over data draws and seeds.

:func:`ics_study` trains the plain, BN and noisy-BN versions of the deep MLP
of :mod:`~regnorm_lab.studies.experiments_norm` on several independent draws
of the synthetic classification task, with several seeds per draw, probing
each run with :func:`~regnorm_lab.studies.experiments_norm.probe_training`.
It returns a tidy table (one row per run, one column per summary) and the
raw probes for the figure; the chapter reads paired effects from the table
with :func:`~regnorm_lab.studies.claims_analysis.paired_effect`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..feature_scaling import z_score
from .datasets import make_classification_task
from .experiments_norm import make_deep_mlp
from .norm_probe import TrainingProbe, probe_training_batched

__all__ = ["BOOK_DRAWS", "BOOK_SEEDS", "MODELS", "IcsStudy", "ics_study", "summarise_probe", "median_band", "paired_scatter"]

#: The design chapter 10 runs (and chapter 13 cites): data draws and training seeds per draw.
BOOK_DRAWS: tuple[int, ...] = (0, 1, 2, 3, 4)
BOOK_SEEDS: tuple[int, ...] = (0, 1, 2, 3, 4)

#: The three networks of the chapter: display name -> ``make_deep_mlp``'s ``norm``.
MODELS: dict[str, str] = {"plain": "none", "BN": "batch", "noisy BN": "noisy_batch"}


@dataclass
class IcsStudy:
    """What :func:`ics_study` measured.

    Attributes:
        table: One row per run: ``draw``, ``seed``, ``model`` and the summaries of :func:`summarise_probe`.
        probes: The raw probe of every run, keyed by ``(draw, seed, model)``.
        every: Steps between two smoothness/ICS probes (for the figure's x axis).
    """

    table: pd.DataFrame
    probes: dict[tuple[int, int, str], TrainingProbe]
    every: int


def summarise_probe(probe: TrainingProbe, window: int = 50) -> dict[str, float]:
    """One run's probe reduced to the chapter's numbers.

    Returns the mean training loss over the first and the last ``window``
    steps, the mean per-step shift of the probed layer's input mean and
    variance (eq. 1), and the median (and, for the landscape, maximum) of
    the gradient ICS (eq. 2), of the loss range and of beta-hat (eq. 3).
    """
    if window < 1 or window > len(probe.losses):
        raise ValueError(f"window must be in 1..{len(probe.losses)} (the number of steps), got {window!r}")
    return {
        "loss_first": float(np.mean(probe.losses[:window])),
        "loss_last": float(np.mean(probe.losses[-window:])),
        "mean_shift": float(np.mean(probe.mean_shift)),
        "var_shift": float(np.mean(probe.var_shift)),
        "ics": float(np.median(probe.ics)),
        "loss_range": float(np.median(probe.loss_range)),
        "loss_range_max": float(np.max(probe.loss_range)),
        "beta": float(np.median(probe.grad_change)),
        "beta_max": float(np.max(probe.grad_change)),
    }


def ics_study(
    draws: Sequence[int] = BOOK_DRAWS,
    seeds: Sequence[int] = BOOK_SEEDS,
    *,
    lr: float = 0.3,
    steps: int = 300,
    every: int = 30,
    noise_scale: float = 0.2,
    n_train: int = 1024,
) -> IcsStudy:
    """Probe plain, BN and noisy-BN MLPs on every ``(draw, seed)``; paired runs share weights and batches.

    Draw ``d`` is ``make_classification_task(n_train, rng=default_rng(d))``,
    z-scored with its training statistics. Run ``(d, s)`` seeds the initial
    weights (He, so the plain network trains too), the mini-batch order and
    the noisy-BN noise from ``1000 * d + s``, so its three networks start
    from identical ``Linear`` weights and see identical mini-batches, and no
    two runs of the study share a seed. Each run is SGD with ``lr`` for
    ``steps`` steps of 64 rows, probing the input of the fourth ``Linear``
    (:func:`~regnorm_lab.studies.experiments_norm.probe_training`; ICS and
    smoothness every ``every`` steps at 0.5, 1, 2 and 4 times ``lr``). The
    runs of one network are probed together, as one stacked model
    (:func:`~regnorm_lab.studies.norm_probe.probe_training_batched`, which
    measures what ``probe_training`` measures run by run).

    Returns:
        An :class:`IcsStudy`; ``table`` has ``len(draws) * len(seeds) * 3`` rows.

    Raises:
        ValueError: an empty ``draws`` or ``seeds``, or repeated entries.
    """
    for name, values in (("draws", draws), ("seeds", seeds)):
        if len(values) == 0 or len(set(values)) != len(values):
            raise ValueError(f"{name} must be a non-empty sequence of distinct integers, got {values!r}")
    data = {}
    for d in draws:
        task = make_classification_task(n_train=n_train, rng=np.random.default_rng(d))
        data[int(d)] = (torch.tensor(z_score(task.X_train, task.X_val)[0], dtype=torch.float32),
                        torch.tensor(task.y_train), task.n_classes)
    runs = [(int(d), int(s)) for d in draws for s in seeds]
    probes: dict[tuple[int, int, str], TrainingProbe] = {}
    for name, norm in MODELS.items():
        # All runs of one network at once (one stacked model): the same numbers as one probe_training per run.
        models = [
            make_deep_mlp(
                data[d][0].shape[1], data[d][2], generator=torch.Generator().manual_seed(1000 * d + s), norm=norm,
                init="he", noise_scale=noise_scale, noise_generator=torch.Generator().manual_seed(1000 * d + s + 2),
            )
            for d, s in runs
        ]
        results = probe_training_batched(
            models, [data[d][0] for d, _ in runs], [data[d][1] for d, _ in runs], lr=lr, steps=steps, every=every,
            probe_layer=3, step_multipliers=(0.5, 1.0, 2.0, 4.0),
            generators=[torch.Generator().manual_seed(1000 * d + s + 1) for d, s in runs],
        )
        probes.update({(d, s, name): r for (d, s), r in zip(runs, results)})
    rows = [{"draw": d, "seed": s, "model": name, **summarise_probe(probes[(d, s, name)])}
            for d, s in runs for name in MODELS]
    return IcsStudy(table=pd.DataFrame(rows), probes=probes, every=every)


def median_band(ax: Any, x: np.ndarray, curves: Sequence[Sequence[float]], colour: str, label: str) -> None:
    """Plot the median of ``curves`` over runs on ``ax``, with a band between their 25th and 75th percentiles.

    Shape:
        x: ``(T,)``; curves: ``(runs, T)``.
    """
    lo, mid, hi = np.percentile(np.asarray(curves, dtype=np.float64), [25, 50, 75], axis=0)
    ax.plot(x, mid, color=colour, label=label)
    ax.fill_between(x, lo, hi, color=colour, alpha=0.2, lw=0)


def paired_scatter(ax: Any, table: pd.DataFrame, value: str, x: str, y: str, colour: str) -> None:
    """One point per ``(draw, seed)`` run: ``value`` of model ``x`` against model ``y``, with the diagonal.

    Points below the diagonal are runs in which ``y`` has the smaller ``value``.
    """
    wide = table.pivot_table(index=["draw", "seed"], columns="model", values=value)
    ax.scatter(wide[x], wide[y], color=colour, label="one run (draw, seed)")
    both = wide[[x, y]].to_numpy()
    lim = [float(both.min()) * 0.9, float(both.max()) * 1.1]
    ax.plot(lim, lim, "k:", lw=1, label="equal")
    ax.set(xlim=lim, ylim=lim, xlabel=x, ylabel=y)
