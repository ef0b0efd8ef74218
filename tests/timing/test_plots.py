"""Tests for regnorm_lab.timing.plots: one bar per timed implementation, the copy as a ceiling line."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # headless: the tests draw into memory only

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

import regnorm_lab.timing as gt  # noqa: E402

from .helpers import fake_rows  # noqa: E402


def test_plot_bandwidth(monkeypatch):
    rows = fake_rows(monkeypatch)
    env = gt.describe_environment("cpu")
    ax = gt.plot_bandwidth(rows, env=env)
    n_bars = sum(1 for r in rows if r.impl != "copy")
    assert len(ax.patches) == n_bars
    assert "cpu" in ax.get_title() and env["device_name"] in ax.get_title()
    labels = ax.get_legend_handles_labels()[1]
    assert "copy (ceiling)" in labels and "student" in labels
    plt.close(ax.figure)
    with pytest.raises(ValueError, match="rows"):
        gt.plot_bandwidth([])


def test_plot_bandwidth_bar_heights_are_the_rows_gbps(monkeypatch):
    rows = fake_rows(monkeypatch, student={})
    fig, ax = plt.subplots()
    assert gt.plot_bandwidth(rows, ax=ax) is ax
    heights = sorted(p.get_height() for p in ax.patches)
    assert heights == pytest.approx(sorted(r.gbps for r in rows if r.impl != "copy"))
    assert "thread" not in ax.get_title()  # no env: no thread count claimed
    plt.close(fig)
