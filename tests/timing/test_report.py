"""Tests for regnorm_lab.timing.report: the text table, ratio sentences, lookups and the check against fused kernels.

The rows come from a run whose timer is faked (median 1 ms), so the text is exact.
"""

from __future__ import annotations

import pytest
import torch

import regnorm_lab.timing as gt
from regnorm_lab.timing import report

from .helpers import _ln, fake_rows


def test_format_report_and_summary(monkeypatch):
    rows = fake_rows(monkeypatch)
    env = gt.describe_environment("cpu")
    text = gt.format_report(rows, env)
    assert env["device_name"] in text and env["torch_version"] in text
    assert text.count("\nlayer_norm ") == 6 and text.count("\nrms_norm ") == 8
    assert "8x16" in text and "4x32" in text
    summary = gt.summarize_ratios(rows)
    assert len(summary) == 4 and any("student" in s for s in summary)


def test_format_report_without_environment_starts_with_the_header(monkeypatch):
    rows = fake_rows(monkeypatch, student={})
    text = gt.format_report(rows)
    assert text.splitlines()[0].split()[:3] == ["op", "impl", "shape"]
    # every median is the fake 1 ms; the caches line names the plan's hot inputs
    assert text.count("1.00 ms") == len(rows)
    assert "caches: hot cache" in text


@pytest.mark.parametrize(("seconds", "text"),
                         [(1.5, "1.50 s"), (1.5e-3, "1.50 ms"), (2e-6, "2.00 us"), (5e-9, "5.0 ns")])
def test_format_time_picks_the_unit(seconds, text):
    assert report.format_time(seconds).strip() == text


def test_rows_by_key_finds_each_row_and_refuses_mixed_runs(monkeypatch):
    rows = fake_rows(monkeypatch)
    by = gt.rows_by_key(rows)
    assert len(by) == len(rows)
    row = by["rms_norm", (4, 32), "float32", "student"]
    assert (row.op, row.shape, row.dtype, row.impl) == ("rms_norm", (4, 32), "float32", "student")
    with pytest.raises(ValueError, match="rows"):
        gt.rows_by_key(rows + rows[:1])


def test_assert_matches_fused_passes_a_right_and_fails_a_wrong_answer():
    args = gt.make_inputs("layer_norm", (6, 10))
    gt.assert_matches_fused(_ln, "layer_norm", args, rtol=1e-5, atol=1e-5)
    with pytest.raises(AssertionError):
        gt.assert_matches_fused(lambda x, w, b: _ln(x, w, b) + 1e-2, "layer_norm", args, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="op"):
        gt.assert_matches_fused(_ln, "group_norm", args, rtol=1e-5, atol=1e-5)
    assert torch.equal(args[0], gt.make_inputs("layer_norm", (6, 10))[0])  # inputs untouched
