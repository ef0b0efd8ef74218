"""Analysis of a study table: cell distributions, paired effects over data draws, TOST, Holm, verdicts.

The unit of replication is the **data draw**. An effect ("adding dropout to
the L1 model") is computed run by run, paired on ``(draw, seed)`` (the two
runs share the data and the seed, hence the initial weights), averaged over
the seeds within each draw, and its 95 % interval is a t-interval over the
draw means (``n_draws - 1`` degrees of freedom). The interval therefore
carries the draw-to-draw variance, not only the seed-to-seed one: with one
draw there is no interval at all. This is the "summary statistics" approach
to a two-level design (seeds nested in draws); for a balanced design it gives
the same test of the fixed effect as a random-intercept mixed model.

"No effect" is never read off a non-significant interval: it needs an
equivalence test (:func:`tost`, two one-sided t-tests against a stated margin).
When a page reads several intervals at once their p-values are corrected
together with Holm's method (:func:`holm`, statsmodels' ``multipletests``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests

__all__ = [
    "COLLAPSE_R2",
    "Effect",
    "Claim",
    "VERDICTS",
    "cell_summary",
    "select",
    "paired_effect",
    "interaction_effect",
    "draw_t_interval",
    "tost",
    "holm",
    "direction_verdict",
    "equivalence_verdict",
]

#: A run whose validation R² is below this has collapsed (predicts about the mean): the
#: large L1 cells are bimodal between such runs and working ones.
COLLAPSE_R2 = 0.1
VERDICTS = ("holds", "nuanced", "does not hold", "inconclusive")


@dataclass
class Effect:
    """A paired effect over data draws.

    Attributes:
        estimate: mean over draws of the per-draw (seed-averaged) effect.
        ci: 95 % t-interval over draws.
        p_value: two-sided one-sample t-test of the draw means against 0.
        draw_effects: the per-draw means (their spread is the draw-to-draw variation).
        n_draws, n_seeds: how many of each back it.
    """

    estimate: float
    ci: tuple[float, float]
    p_value: float
    draw_effects: np.ndarray
    n_draws: int
    n_seeds: int


@dataclass
class Claim:
    """One line of a study's verdict table (the JSON fields of ``python -m regnorm_lab.studies run``)."""

    id: str
    statement: str
    verdict: str
    estimate: float
    ci: tuple[float, float]
    n_draws: int
    n_seeds: int

    def as_dict(self) -> dict:
        """The claim as JSON-ready plain types."""
        d = asdict(self)
        d["ci"] = [float(self.ci[0]), float(self.ci[1])]
        d["estimate"] = float(self.estimate)
        return d


def cell_summary(table: pd.DataFrame, by: Sequence[str], value: str = "test_r2") -> pd.DataFrame:
    """Per-cell median, quartiles, IQR and collapse count of ``value`` (a mean would hide bimodal cells).

    A run collapses when its ``val_r2`` is below :data:`COLLAPSE_R2`; a cell
    is ``bimodal`` when some but not all of its runs collapsed.

    Returns:
        One row per cell: ``by`` columns, ``n``, ``median``, ``q25``, ``q75``,
        ``iqr``, ``n_collapsed``, ``bimodal``.
    """
    if value not in table:
        raise ValueError(f"value: no column {value!r} in the table")
    g = table.groupby(list(by), sort=True)
    out = g[value].agg(
        n="count", median="median", q25=lambda v: v.quantile(0.25), q75=lambda v: v.quantile(0.75)
    )
    out["iqr"] = out["q75"] - out["q25"]
    out["n_collapsed"] = g["val_r2"].agg(lambda v: int((v < COLLAPSE_R2).sum()))
    out["bimodal"] = (out["n_collapsed"] > 0) & (out["n_collapsed"] < out["n"])
    return out.reset_index()


def select(table: pd.DataFrame, **where) -> pd.DataFrame:
    """Rows of ``table`` whose columns equal the given values (floats compared with a tolerance).

    Raises:
        ValueError: no row matches (the message lists the condition).
    """
    mask = np.ones(len(table), dtype=bool)
    for col, v in where.items():
        if isinstance(v, float):
            mask &= np.isclose(table[col].to_numpy(dtype=float), v, rtol=1e-9, atol=1e-15)
        else:
            mask &= (table[col] == v).to_numpy()
    if not mask.any():
        raise ValueError(f"select: no run matches {where}")
    return table[mask]


def _paired(table: pd.DataFrame, cell: Mapping, value: str) -> pd.Series:
    return select(table, **cell).set_index(["draw", "seed"])[value].sort_index()


def draw_t_interval(per_run: pd.Series, confidence: float = 0.95) -> Effect:
    """Seed-average a per-run effect within each draw, then a t-interval and t-test over the draws.

    Args:
        per_run: effects indexed by ``(draw, seed)``.

    Raises:
        ValueError: fewer than two draws (no draw-to-draw variance to estimate).

    Shape:
        ``per_run``: one value per (draw, seed).
    """
    by_draw = per_run.groupby(level="draw").mean()
    n = len(by_draw)
    if n < 2:
        raise ValueError(f"per_run must span at least 2 draws for an interval over draws, got {n}")
    x = by_draw.to_numpy(dtype=float)
    mean, se = float(x.mean()), float(x.std(ddof=1) / np.sqrt(n))
    if se == 0.0:
        lo = hi = mean
        p = 0.0 if mean != 0 else 1.0
    else:
        lo, hi = stats.t.interval(confidence, n - 1, loc=mean, scale=se)
        p = float(2 * stats.t.sf(abs(mean) / se, n - 1))
    n_seeds = int(per_run.groupby(level="draw").size().min())
    return Effect(mean, (float(lo), float(hi)), p, x, n, n_seeds)


def paired_effect(table: pd.DataFrame, a: Mapping, b: Mapping, value: str = "test_r2") -> Effect:
    """Effect of going from cell ``a`` to cell ``b`` (``b - a``), paired on ``(draw, seed)``.

    Args:
        table: a :func:`~regnorm_lab.studies.design.run_design` table.
        a, b: column -> value conditions selecting the two cells (include ``dataset``).
        value: the outcome column.
    """
    diff = (_paired(table, b, value) - _paired(table, a, value)).dropna()
    return draw_t_interval(diff)


def interaction_effect(
    table: pd.DataFrame, base: Mapping, first: Mapping, second: Mapping, value: str = "test_r2"
) -> Effect:
    """Interaction of two changes: ``(both - second) - (first - base)``, paired on ``(draw, seed)``.

    ``first`` and ``second`` are the changes applied to ``base`` (e.g. ``{"l1": 0.01}``
    and ``{"dropout": 0.3}``); "both" applies the two. Zero means the effects
    add up; negative means the combination gains less than the sum (the two
    overlap); a first effect that vanishes once the second is there shows up as
    an interaction of minus the first effect.
    """
    r = {name: _paired(table, {**base, **change}, value) for name, change in
         (("00", {}), ("10", first), ("01", second), ("11", {**first, **second}))}
    diff = ((r["11"] - r["01"]) - (r["10"] - r["00"])).dropna()
    return draw_t_interval(diff)


def tost(x: Sequence[float], margin: float, alpha: float = 0.05) -> tuple[float, tuple[float, float]]:
    """Two one-sided t-tests that the mean of ``x`` lies within ``(-margin, margin)``.

    Args:
        x: the per-draw effects.
        margin: the equivalence margin, ``> 0``.
        alpha: level of each one-sided test.

    Returns:
        ``(p_value, (lo, hi))``: the larger one-sided p-value (equivalence is
        shown when it is below ``alpha``) and the ``1 - 2 alpha`` interval
        that must lie within the margin.

    Raises:
        ValueError: ``margin <= 0`` or fewer than 2 values.
    """
    if not margin > 0:
        raise ValueError(f"margin must be > 0, got {margin!r}")
    x = np.asarray(x, dtype=float)
    n = x.size
    if n < 2:
        raise ValueError(f"x must hold at least 2 values, got {n}")
    mean, se = x.mean(), x.std(ddof=1) / np.sqrt(n)
    if se == 0.0:
        return (0.0 if abs(mean) < margin else 1.0), (float(mean), float(mean))
    p_low = stats.t.sf((mean + margin) / se, n - 1)  # H0: mean <= -margin
    p_high = stats.t.cdf((mean - margin) / se, n - 1)  # H0: mean >= +margin
    lo, hi = stats.t.interval(1 - 2 * alpha, n - 1, loc=mean, scale=se)
    return float(max(p_low, p_high)), (float(lo), float(hi))


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm-adjusted p-values (``statsmodels.stats.multitest.multipletests(method="holm")``)."""
    p = np.asarray(p_values, dtype=float)
    if p.size == 0:
        return p
    return multipletests(p, method="holm")[1]


def _draws_disagree(effect: Effect, margin: float) -> bool:
    """Some draw's mean effect is beyond ``+margin`` and another's beyond ``-margin``."""
    return bool((effect.draw_effects > margin).any() and (effect.draw_effects < -margin).any())


def direction_verdict(effect: Effect, sign: int, p_adjusted: float, margin: float, alpha: float = 0.05) -> str:
    """Verdict on "the effect has sign ``sign``" given its (Holm-adjusted) p-value.

    ``holds``: significant in that direction; ``does not hold``: significant
    the other way; otherwise ``nuanced`` when the draws themselves disagree
    (one draw beyond ``+margin``, another beyond ``-margin``), else
    ``inconclusive``.
    """
    if sign not in (-1, 1):
        raise ValueError(f"sign must be -1 or 1, got {sign!r}")
    if p_adjusted < alpha:
        return "holds" if np.sign(effect.estimate) == sign else "does not hold"
    return "nuanced" if _draws_disagree(effect, margin) else "inconclusive"


def equivalence_verdict(effect: Effect, p_tost_adjusted: float, p_adjusted: float, margin: float,
                        alpha: float = 0.05) -> str:
    """Verdict on "the effect is negligible (within ``±margin``)".

    ``holds``: TOST shows equivalence; ``does not hold``: the effect is
    significant and its estimate lies beyond the margin; ``nuanced``:
    significant but smaller than the margin, or the draws disagree;
    ``inconclusive`` otherwise.
    """
    if p_tost_adjusted < alpha:
        return "holds"
    if p_adjusted < alpha:
        return "does not hold" if abs(effect.estimate) >= margin else "nuanced"
    return "nuanced" if _draws_disagree(effect, margin) else "inconclusive"
