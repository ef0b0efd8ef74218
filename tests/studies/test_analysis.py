"""Study analysis against scipy / statsmodels and hand-computed cases."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.weightstats import DescrStatsW

from regnorm_lab.studies.analysis import (
    COLLAPSE_R2,
    Effect,
    cell_summary,
    direction_verdict,
    draw_t_interval,
    equivalence_verdict,
    holm,
    interaction_effect,
    paired_effect,
    select,
    tost,
)


def _per_run(values: dict[tuple[int, int], float]) -> pd.Series:
    idx = pd.MultiIndex.from_tuples(list(values), names=["draw", "seed"])
    return pd.Series(list(values.values()), index=idx)


def test_interval_is_over_draw_means_hand_case() -> None:
    # draw means 1, 2, 3 (seeds average out): mean 2, sd 1, se 1/sqrt(3), t_{0.975, 2} = 4.302653
    per_run = _per_run({(0, 0): 0.5, (0, 1): 1.5, (1, 0): 2.0, (1, 1): 2.0, (2, 0): 2.0, (2, 1): 4.0})
    e = draw_t_interval(per_run)
    half = 4.302652729911275 / np.sqrt(3)
    assert e.estimate == pytest.approx(2.0)
    assert e.ci == pytest.approx((2.0 - half, 2.0 + half))
    assert (e.n_draws, e.n_seeds) == (3, 2)
    assert e.p_value == pytest.approx(stats.ttest_1samp([1.0, 2.0, 3.0], 0.0).pvalue)


def test_interval_matches_statsmodels_and_ignores_seed_count() -> None:
    rng = np.random.default_rng(0)
    per_run = _per_run({(d, s): rng.normal(0.3, 1.0) for d in range(6) for s in range(4)})
    e = draw_t_interval(per_run)
    means = per_run.groupby(level="draw").mean().to_numpy()
    assert e.ci == pytest.approx(DescrStatsW(means).tconfint_mean(alpha=0.05))


def test_one_draw_has_no_interval() -> None:
    with pytest.raises(ValueError, match="per_run"):
        draw_t_interval(_per_run({(0, 0): 1.0, (0, 1): 2.0}))


def _factorial(effect_l: float, effect_d: float, inter: float, draw_shift: dict[int, float]) -> pd.DataFrame:
    rows = []
    for d, s, l1, p in itertools.product(range(4), range(3), (0.0, 0.01), (0.0, 0.3)):
        y = 0.5 + draw_shift[d] + 0.01 * s + effect_l * (l1 > 0) + effect_d * (p > 0) + inter * (l1 > 0) * (p > 0)
        rows.append(dict(dataset="x", l1=l1, dropout=p, draw=d, seed=s, test_r2=y, val_r2=y))
    return pd.DataFrame(rows).sample(frac=1.0, random_state=1)  # row order must not matter


def test_paired_effect_and_interaction_hand_case() -> None:
    t = _factorial(0.2, 0.05, -0.08, {0: 0.0, 1: -0.3, 2: 0.1, 3: 0.2})
    e = paired_effect(t, dict(l1=0.0, dropout=0.0), dict(l1=0.01, dropout=0.0))
    assert e.estimate == pytest.approx(0.2) and e.ci == pytest.approx((0.2, 0.2))  # the draw shift pairs out
    i = interaction_effect(t, dict(l1=0.0, dropout=0.0), dict(l1=0.01), dict(dropout=0.3))
    assert i.estimate == pytest.approx(-0.08)
    assert i.p_value < 1e-6


def test_interaction_interval_carries_draw_variance() -> None:
    t = _factorial(0.2, 0.05, 0.0, {d: 0.0 for d in range(4)})
    # the interaction differs by draw: +0.1 on draws 0-1, -0.1 on draws 2-3 -> mean 0, wide interval
    both = (t.l1 > 0) & (t.dropout > 0)
    t.loc[both, "test_r2"] += np.where(t.loc[both, "draw"] < 2, 0.1, -0.1)
    i = interaction_effect(t, dict(l1=0.0, dropout=0.0), dict(l1=0.01), dict(dropout=0.3))
    assert i.estimate == pytest.approx(0.0, abs=1e-12)
    assert i.ci[0] < -0.1 and i.ci[1] > 0.1
    assert direction_verdict(i, -1, i.p_value, margin=0.05) == "nuanced"


def test_tost_matches_statsmodels() -> None:
    x = np.array([0.004, -0.01, 0.012, 0.0, 0.006])
    p, (lo, hi) = tost(x, 0.02)
    want = DescrStatsW(x).ttost_mean(-0.02, 0.02)[0]
    assert p == pytest.approx(want)
    assert (lo, hi) == pytest.approx(DescrStatsW(x).tconfint_mean(alpha=0.10))
    assert p < 0.05  # equivalent within 0.02
    assert tost(x + 0.03, 0.02)[0] > 0.5  # shifted past the margin: not equivalent


def test_tost_bad_margin() -> None:
    with pytest.raises(ValueError, match="margin"):
        tost([0.1, 0.2], 0.0)


def test_holm_hand_case() -> None:
    # sorted 0.01, 0.03, 0.04 -> 3*0.01, max(0.03, 2*0.03), max(0.06, 1*0.04)
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])


def test_cell_summary_median_iqr_and_collapse_counts() -> None:
    vals = [0.8, 0.82, 0.0, 0.01, 0.79]
    t = pd.DataFrame(dict(cell=["a"] * 5 + ["b"] * 2, test_r2=vals + [0.5, 0.6], val_r2=vals + [0.5, 0.6]))
    s = cell_summary(t, ["cell"]).set_index("cell")
    assert s.loc["a", "median"] == pytest.approx(np.median(vals))
    assert s.loc["a", "iqr"] == pytest.approx(np.percentile(vals, 75) - np.percentile(vals, 25))
    assert s.loc["a", "n_collapsed"] == sum(v < COLLAPSE_R2 for v in vals) == 2
    assert bool(s.loc["a", "bimodal"]) and not bool(s.loc["b", "bimodal"])


def _effect(draw_effects: list[float]) -> Effect:
    x = np.asarray(draw_effects)
    return Effect(float(x.mean()), (0.0, 0.0), 1.0, x, len(x), 1)


def test_verdicts_hand_cases() -> None:
    e = _effect([0.05, 0.06, 0.04])
    assert direction_verdict(e, 1, 0.01, 0.02) == "holds"
    assert direction_verdict(e, -1, 0.01, 0.02) == "does not hold"
    assert direction_verdict(e, 1, 0.2, 0.02) == "inconclusive"
    assert equivalence_verdict(e, 0.5, 0.01, 0.02) == "does not hold"
    assert equivalence_verdict(_effect([0.01, 0.012]), 0.5, 0.01, 0.02) == "nuanced"  # real but inside the margin
    assert equivalence_verdict(e, 0.01, 0.01, 0.1) == "holds"
    with pytest.raises(ValueError, match="sign"):
        direction_verdict(e, 0, 0.01, 0.02)


def test_select_names_missing_cells() -> None:
    t = pd.DataFrame(dict(l1=[0.0, 0.01], x=[1, 2]))
    assert select(t, l1=0.01)["x"].tolist() == [2]
    with pytest.raises(ValueError, match="no run matches"):
        select(t, l1=0.03)
