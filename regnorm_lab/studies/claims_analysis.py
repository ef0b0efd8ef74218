"""Intervals, equivalence tests and Holm's correction for the claims the normalization chapters make.

A study here is a tidy table (one row per run) with a ``draw`` column (which
independent draw of the data), a ``seed`` column (which training seed) and a
factor column (which model). A paired effect compares two levels of the
factor run on the same ``(draw, seed)``; its interval must include the
variance *between data draws*, not only between seeds, so the analysis
averages the paired differences within each draw and treats the per-draw
means as the independent units (a t-interval with ``n_draws - 1`` degrees
of freedom). The variance of a per-draw mean already contains the seed
variance divided by the seeds per draw, so nothing is left out; with one
seed per draw this is the ordinary paired t-interval over runs.

"No effect" is never read off a non-significant interval: :func:`paired_effect`
also runs the two one-sided tests (TOST) of equivalence against a stated
margin, and :func:`holm` adjusts p-values when a page reads several
intervals at once. The arithmetic is the study engine's
(:mod:`~regnorm_lab.studies.analysis`: ``draw_t_interval``, ``tost``,
``holm``), so the chapters and ``python -m regnorm_lab.studies`` compute
intervals one way; this module adds the factor-level interface the
chapters' tidy tables use, the run counts and the argument checks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import stats

from . import analysis

__all__ = ["Effect", "paired_effect", "holm", "interval", "count_below"]


@dataclass(frozen=True)
class Effect:
    """A paired effect ``treatment - control`` with its 95 % interval over draws and seeds.

    Attributes:
        estimate: Mean paired difference (mean of the per-draw means).
        ci: 95 % t-interval ``(lo, hi)`` of ``estimate`` over the per-draw means.
        p: Two-sided p-value of "the mean difference is 0".
        p_tost: p-value of the equivalence test ``|difference| < margin``
            (the larger of the two one-sided p-values), ``nan`` without a margin.
        margin: The equivalence margin, ``nan`` if none was given.
        n_draws: Independent data draws (the units of the interval).
        n_seeds: Training seeds per draw.
        n_below: Paired runs in which ``treatment < control``.
        n_pairs: All paired runs (``n_draws * n_seeds``).
    """

    estimate: float
    ci: tuple[float, float]
    p: float
    p_tost: float
    margin: float
    n_draws: int
    n_seeds: int
    n_below: int
    n_pairs: int

    def as_row(self) -> dict[str, float]:
        """The fields as one flat dict (``ci`` split into ``ci_lo`` and ``ci_hi``), a row for a table."""
        row = asdict(self)
        row["ci_lo"], row["ci_hi"] = row.pop("ci")
        return row


def interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean and two-sided t-interval of independent ``values``: ``(mean, lo, hi)``.

    Raises:
        ValueError: fewer than two values, or ``confidence`` outside ``(0, 1)``.

    Shape:
        values: ``(n,)`` with ``n >= 2``.
    """
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1 or v.size < 2:
        raise ValueError(f"values must be 1-D with at least 2 entries, got shape {v.shape}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    mean = float(v.mean())
    se = float(v.std(ddof=1)) / math.sqrt(v.size)
    half = float(stats.t.ppf(0.5 + confidence / 2, df=v.size - 1)) * se
    return mean, mean - half, mean + half


def _paired_differences(table: pd.DataFrame, factor: str, value: str, treatment: str, control: str) -> pd.Series:
    """``treatment - control`` of ``value`` for every ``(draw, seed)`` run of both, indexed by ``(draw, seed)``."""
    for col in ("draw", "seed", factor, value):
        if col not in table.columns:
            raise ValueError(f"table must have a {col!r} column, got {list(table.columns)}")
    levels = set(table[factor])
    for name, level in (("treatment", treatment), ("control", control)):
        if level not in levels:
            raise ValueError(f"{name} must be a level of {factor!r} ({sorted(map(str, levels))}), got {level!r}")
    wide = table.pivot_table(index=["draw", "seed"], columns=factor, values=value, aggfunc="mean")
    diff = (wide[treatment] - wide[control]).dropna()
    if diff.index.get_level_values("draw").nunique() < 2:
        raise ValueError("table must hold paired runs on at least 2 data draws")
    return diff


def paired_effect(
    table: pd.DataFrame,
    *,
    factor: str,
    value: str,
    treatment: str,
    control: str,
    margin: float | None = None,
) -> Effect:
    """The effect of ``treatment`` against ``control`` on ``value``, paired on ``(draw, seed)``.

    The paired differences are averaged within each data draw; the mean of
    those per-draw means is the estimate, and its t-interval (``n_draws - 1``
    degrees of freedom) covers the variance between draws and, through each
    draw's mean, between seeds. With ``margin`` the equivalence test (TOST)
    asks whether the mean difference lies within ``(-margin, margin)``; a
    small ``p_tost`` is what licenses the words "no effect".

    Args:
        table: One row per run, with columns ``draw``, ``seed``, ``factor`` and ``value``.
        factor: The column naming the model or setting.
        value: The measured column (e.g. ``"gap"``).
        treatment: The level whose effect is measured.
        control: The level it is compared with.
        margin: Equivalence margin (``> 0``), in the units of ``value``.

    Returns:
        An :class:`Effect`.

    Raises:
        ValueError: a missing column or level, fewer than two draws, or a non-positive ``margin``.
    """
    if margin is not None and not margin > 0:
        raise ValueError(f"margin must be > 0, got {margin!r}")
    diff = _paired_differences(table, factor, value, treatment, control)
    e = analysis.draw_t_interval(diff)  # seed-average within draws, t-interval and t-test over draws
    # Two one-sided tests: H0 "difference <= -margin" and H0 "difference >= +margin"; equivalence needs both rejected.
    p_tost = math.nan if margin is None else analysis.tost(e.draw_effects, margin)[0]
    return Effect(
        estimate=e.estimate,
        ci=e.ci,
        p=e.p_value,
        p_tost=p_tost,
        margin=math.nan if margin is None else float(margin),
        n_draws=e.n_draws,
        n_seeds=e.n_seeds,
        n_below=int((diff < 0).sum()),
        n_pairs=int(diff.size),
    )


def count_below(table: pd.DataFrame, *, factor: str, value: str, treatment: str, control: str) -> tuple[int, int]:
    """How many paired ``(draw, seed)`` runs have ``treatment < control``, out of how many."""
    diff = _paired_differences(table, factor, value, treatment, control)
    return int((diff < 0).sum()), int(diff.size)


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error), in the input order (the engine's, checked input).

    Sort the ``m`` p-values, multiply the ``k``-th smallest by ``m - k + 1``,
    make the sequence non-decreasing and cap it at 1 (Holm, 1979). A claim
    read together with others holds at level 0.05 when its adjusted p-value
    is below 0.05.

    Raises:
        ValueError: an empty input or a value outside ``[0, 1]``.

    Shape:
        pvalues: ``(m,)``; returns ``(m,)``.
    """
    p = np.asarray(pvalues, dtype=np.float64)
    if p.ndim != 1 or p.size == 0 or np.any(~((p >= 0) & (p <= 1))):
        raise ValueError(f"pvalues must be a non-empty 1-D sequence of values in [0, 1], got {pvalues!r}")
    return analysis.holm(p)
