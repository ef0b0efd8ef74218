"""Tests for regnorm_lab.timing.grading: ps07's speed ratio is student over reference, best of alternating rounds.

CPU only; the CUDA branches are exercised by monkeypatching.
"""

from __future__ import annotations

import math

import pytest
import torch

import regnorm_lab.timing as gt
from regnorm_lab.timing import timer

from .helpers import _Counter, _fake_measurement, _rms


def test_speed_ratio_is_student_over_reference_best_of_rounds(monkeypatch):
    medians = {"student": iter([3.0, 2.0]), "reference": iter([1.0, 1.25])}

    def fake_measure(fn, args, plan, *, label="", **kw):
        return _fake_measurement(next(medians[label]))

    monkeypatch.setattr(timer, "measure", fake_measure)
    ratio = gt.speed_ratio(_rms, _rms, lambda: gt.make_inputs("rms_norm", (4, 8)), "cpu", rounds=2)
    assert ratio == pytest.approx(2.0 / 1.0)


def test_speed_ratio_really_times_both_functions():
    student, reference = _Counter(_rms), _Counter(_rms)
    ratio = gt.speed_ratio(student, reference, lambda: gt.make_inputs("rms_norm", (8, 16)), "cpu",
                           min_run_time=0.003, rounds=1, cold_cache=False)
    assert student.calls > 1 and reference.calls > 1
    assert math.isfinite(ratio) and ratio > 0


def test_speed_ratio_errors_name_the_argument():
    make = lambda: gt.make_inputs("rms_norm", (4, 8))  # noqa: E731
    with pytest.raises(ValueError, match="student_fn"):
        gt.speed_ratio(None, _rms, make, "cpu")
    with pytest.raises(ValueError, match="reference_fn"):
        gt.speed_ratio(_rms, "rms", make, "cpu")
    with pytest.raises(ValueError, match="make_inputs"):
        gt.speed_ratio(_rms, _rms, lambda: torch.ones(4, 8), "cpu")
    with pytest.raises(ValueError, match="rounds"):
        gt.speed_ratio(_rms, _rms, make, "cpu", rounds=0)
    with pytest.raises(ValueError, match="device"):
        gt.speed_ratio(_rms, _rms, make, "tpu")


def test_grading_constants():
    # Many rows: a per-row Python loop pays 8192 iterations at the grading shape.
    assert gt.GRADING_SHAPES[0][0] >= 4096
    assert gt.GRADING_THRESHOLD >= 2.0
