"""Tests for regnorm_lab.studies.norm_infographic: the figure draws the numbers it is given."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pandas as pd
import pytest

from regnorm_lab.studies.norm_infographic import draw_infographic


def _inputs():
    change = pd.DataFrame({"estimate": [-0.3, -0.05], "ci_lo": [-0.4, -0.08], "ci_hi": [-0.2, -0.02],
                           "family": ["reg", "norm"]}, index=["L2", "hidden BN"])
    train = {"without": [-0.1, 0.5, 0.6], "with": [0.99, 0.98, 0.995]}
    return change, train, {"plain": [1.0, 1.0], "BN": [3.0, 10.0]}


def test_bars_and_error_bars_are_the_given_numbers():
    change, train, lr = _inputs()
    fig = draw_infographic(change, train, lr, footer="test")
    gap_ax = next(ax for ax in fig.axes if "overfitting gap" in ax.get_title(loc="left"))
    heights = [p.get_height() for p in gap_ax.patches if p.get_width() < 1]
    assert heights == pytest.approx([-0.3, -0.05])
    # Each error bar spans exactly the interval it was given.
    segments = [c for c in gap_ax.collections if hasattr(c, "get_segments")][0].get_segments()
    spans = sorted(v for s in segments for v in (float(s[:, 1].min()), float(s[:, 1].max())))
    assert spans == pytest.approx(sorted([-0.4, -0.2, -0.08, -0.02]))
    lr_ax = next(ax for ax in fig.axes if "learning rate" in ax.get_title(loc="left"))
    points = sorted(float(y) for c in lr_ax.collections for _, y in c.get_offsets())
    assert points == [1.0, 1.0, 3.0, 10.0]
    fit_ax = next(ax for ax in fig.axes if "fit at all" in ax.get_title(loc="left"))
    fitted = sorted(float(y) for c in fit_ax.collections for _, y in c.get_offsets())
    assert fitted == pytest.approx(sorted([-0.1, 0.5, 0.6, 0.99, 0.98, 0.995]))
    assert "test" in [t.get_text() for t in fig.texts]


def test_draw_infographic_rejects_missing_columns_and_networks():
    change, train, lr = _inputs()
    with pytest.raises(ValueError, match="gap_change"):
        draw_infographic(change.drop(columns="ci_lo"), train, lr, footer="")
    with pytest.raises(ValueError, match="train_r2"):
        draw_infographic(change, {"with": [1.0]}, lr, footer="")
    with pytest.raises(ValueError, match="stable_lr"):
        draw_infographic(change, train, {"plain": [1.0]}, footer="")
