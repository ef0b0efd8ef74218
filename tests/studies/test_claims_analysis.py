"""Tests for regnorm_lab.studies.claims_analysis: paired intervals over draws, TOST and Holm."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from regnorm_lab.studies.claims_analysis import count_below, holm, interval, paired_effect


def _table(diffs: dict[tuple[int, int], float]) -> pd.DataFrame:
    """Runs of models 'a' and 'b' whose paired difference a - b is the given value per (draw, seed)."""
    rows = []
    for (d, s), diff in diffs.items():
        base = 10.0 + d + 0.1 * s  # differs per run, cancels in the pairing
        rows.append({"draw": d, "seed": s, "model": "b", "gap": base})
        rows.append({"draw": d, "seed": s, "model": "a", "gap": base + diff})
    return pd.DataFrame(rows)


def test_interval_is_scipys_t_interval():
    v = np.array([0.3, -0.1, 0.25, 0.4, 0.05])
    mean, lo, hi = interval(v)
    ref = stats.t.interval(0.95, df=4, loc=v.mean(), scale=stats.sem(v))
    assert mean == pytest.approx(v.mean())
    assert (lo, hi) == pytest.approx(ref)


def test_paired_effect_averages_seeds_within_a_draw_before_the_interval():
    # Hand computation: per-draw means of the differences are 1.0, 2.0, 4.0 (seeds within a draw are averaged).
    diffs = {(0, 0): 0.5, (0, 1): 1.5, (1, 0): 2.0, (1, 1): 2.0, (2, 0): 3.0, (2, 1): 5.0}
    e = paired_effect(_table(diffs), factor="model", value="gap", treatment="a", control="b")
    per_draw = np.array([1.0, 2.0, 4.0])
    se = per_draw.std(ddof=1) / math.sqrt(3)
    half = stats.t.ppf(0.975, 2) * se
    assert e.estimate == pytest.approx(7.0 / 3)
    assert e.ci == pytest.approx((7.0 / 3 - half, 7.0 / 3 + half))
    assert e.p == pytest.approx(stats.ttest_1samp(per_draw, 0.0).pvalue)
    assert (e.n_draws, e.n_seeds, e.n_pairs, e.n_below) == (3, 2, 6, 0)
    assert math.isnan(e.p_tost)


def test_paired_effect_sign_is_treatment_minus_control():
    diffs = {(d, 0): -1.0 - 0.1 * d for d in range(4)}
    e = paired_effect(_table(diffs), factor="model", value="gap", treatment="a", control="b")
    assert e.ci[1] < 0 and e.n_below == 4
    flipped = paired_effect(_table(diffs), factor="model", value="gap", treatment="b", control="a")
    assert flipped.estimate == pytest.approx(-e.estimate)


def test_tost_is_the_larger_of_two_one_sided_t_tests():
    diffs = {(d, 0): x for d, x in enumerate([0.01, -0.02, 0.015, 0.0, -0.005, 0.02])}
    e = paired_effect(_table(diffs), factor="model", value="gap", treatment="a", control="b", margin=0.05)
    x = np.array(list(diffs.values()))
    t_low = (x.mean() + 0.05) / stats.sem(x)
    t_high = (x.mean() - 0.05) / stats.sem(x)
    expected = max(stats.t.sf(t_low, 5), stats.t.cdf(t_high, 5))
    assert e.p_tost == pytest.approx(expected)
    assert e.p_tost < 0.05  # small differences, tight: equivalent within 0.05
    wide = paired_effect(_table(diffs), factor="model", value="gap", treatment="a", control="b", margin=0.01)
    assert wide.p_tost > 0.05  # the same differences are not within a margin of 0.01


def test_paired_effect_rejects_bad_input():
    t = _table({(0, 0): 1.0, (1, 0): 2.0})
    with pytest.raises(ValueError, match="treatment"):
        paired_effect(t, factor="model", value="gap", treatment="c", control="b")
    with pytest.raises(ValueError, match="margin"):
        paired_effect(t, factor="model", value="gap", treatment="a", control="b", margin=0.0)
    with pytest.raises(ValueError, match="'nope'"):
        paired_effect(t, factor="model", value="nope", treatment="a", control="b")
    with pytest.raises(ValueError, match="2 data draws"):
        paired_effect(_table({(0, 0): 1.0, (0, 1): 2.0}), factor="model", value="gap", treatment="a", control="b")


def test_count_below():
    t = _table({(0, 0): -1.0, (1, 0): 2.0, (2, 0): -0.5})
    assert count_below(t, factor="model", value="gap", treatment="a", control="b") == (2, 3)


def test_holm_matches_hand_computed_case():
    p = [0.04, 0.01, 0.5, 0.02]
    # m=4: sorted 0.01*4=0.04, 0.02*3=0.06, 0.04*2=0.08, 0.5*1=0.5
    assert holm(p) == pytest.approx([0.08, 0.04, 0.5, 0.06])
    assert holm([0.9, 0.6]) == pytest.approx([1.0, 1.0])


def test_holm_rejects_bad_input():
    with pytest.raises(ValueError, match="pvalues"):
        holm([])
    with pytest.raises(ValueError, match="pvalues"):
        holm([0.1, 1.5])
