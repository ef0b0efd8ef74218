"""Tests for regnorm_lab.timing.side_by_side: every row's arithmetic, fields, threads and which rows appear.

CPU only; the CUDA branches are exercised by monkeypatching.
"""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

import regnorm_lab.timing as gt
from regnorm_lab.timing import side_by_side

from .helpers import FAST, IMPLS, _Counter, _fake_measurement, _ln, _rms


def test_time_normalizations_times_at_requested_threads_and_restores():
    original = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        spy = _Counter(_rms)
        gt.time_normalizations([(8, 16)], [torch.float32], "cpu", impls={"rms_norm": spy}, num_threads=1, **FAST)
        assert spy.calls > 0 and set(spy.threads) == {1}
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(original)


def test_row_arithmetic_against_hand_computation(monkeypatch):
    """Fake timer with known medians: GB/s, % of copy and ratio to fused computed by hand."""
    medians = {"copy": 1e-3, "fused": 2e-3, "reference": 8e-3, "student": 4e-3}

    def fake_measure(fn, args, plan, *, label="", **kw):
        impl = label.split()[0] if label.startswith("copy") else label.split()[1]
        return _fake_measurement(medians[impl], iqr=medians[impl] / 10, number=7, blocks=5)

    monkeypatch.setattr(side_by_side, "measure", fake_measure)
    rows = gt.time_normalizations([(1000, 250)], [torch.float32], "cpu", impls={"layer_norm": _ln},
                                  student={"layer_norm": _ln}, **FAST)
    by = {r.impl: r for r in rows}
    assert [r.impl for r in rows] == ["student", "reference", "fused", "copy"]
    # copy: read + write 1000*250 float32 = 2,000,000 bytes in 1 ms = 2.0 GB/s
    assert by["copy"].bytes_moved == 2_000_000
    assert by["copy"].gbps == pytest.approx(2.0)
    assert by["copy"].pct_of_copy == pytest.approx(100.0)
    # layer norm: (500000 + 500) * 4 = 2,002,000 bytes; fused in 2 ms = 1.001 GB/s = 50.05 % of copy
    assert by["fused"].bytes_moved == 2_002_000
    assert by["fused"].gbps == pytest.approx(1.001)
    assert by["fused"].pct_of_copy == pytest.approx(50.05)
    assert by["fused"].ratio_to_fused == pytest.approx(1.0)
    # reference in 8 ms: 4x the fused time, 0.25025 GB/s, 12.5125 % of copy
    assert by["reference"].ratio_to_fused == pytest.approx(4.0)
    assert by["reference"].gbps == pytest.approx(0.25025)
    assert by["reference"].pct_of_copy == pytest.approx(12.5125)
    assert by["student"].ratio_to_fused == pytest.approx(2.0)
    assert by["student"].iqr_s == pytest.approx(4e-4)
    assert by["student"].n_timed_calls == 35


def test_rows_have_all_fields_with_types():
    rows = gt.time_normalizations([(8, 16)], ["float32"], "cpu", impls=IMPLS, **FAST)
    assert {r.op for r in rows} == {"layer_norm", "rms_norm"}
    names = {f.name for f in dataclasses.fields(gt.TimingRow)}
    required = {"op", "impl", "shape", "dtype", "device", "median_s", "iqr_s", "ratio_to_fused", "bytes_moved",
                "gbps", "pct_of_copy"}
    assert required <= names
    for r in rows:
        assert r.impl in {"reference", "fused", "copy"}
        assert r.shape == (8, 16) and all(isinstance(d, int) for d in r.shape)
        assert r.dtype == "float32" and r.device == "cpu"
        for name in ("median_s", "iqr_s", "ratio_to_fused", "gbps", "pct_of_copy"):
            value = getattr(r, name)
            assert isinstance(value, float) and math.isfinite(value), name
        assert r.median_s > 0 and r.iqr_s >= 0
        assert isinstance(r.bytes_moved, int) and r.bytes_moved == gt.bytes_moved(
            "copy" if r.impl == "copy" else r.op, (8, 16))
        assert r.gbps == pytest.approx(r.bytes_moved / r.median_s / 1e9)
        assert isinstance(r.n_timed_calls, int) and r.n_timed_calls >= 1
    # The composites written above agree with torch, so their error vs the fused kernel is tiny.
    refs = [r for r in rows if r.impl == "reference"]
    assert all(r.max_abs_err < 1e-5 for r in refs)
    frame = gt.rows_to_frame(rows)
    assert list(frame["impl"]) == [r.impl for r in rows]


def test_wrong_student_answer_shows_large_error():
    rows = gt.time_normalizations([(8, 16)], ["float32"], "cpu", impls={"rms_norm": _rms},
                                  student={"rms_norm": lambda x, w: x * w}, **FAST)
    student = next(r for r in rows if r.impl == "student")
    assert student.max_abs_err > 1e-2


def test_time_normalizations_calls_each_impl_at_least_as_often_as_timed():
    spies = {"layer_norm": _Counter(_ln)}
    student = {"layer_norm": _Counter(_ln)}
    rows = gt.time_normalizations([(8, 16)], ["float32"], "cpu", impls=spies, student=student, **FAST)
    by = {r.impl: r for r in rows}
    assert spies["layer_norm"].calls >= by["reference"].n_timed_calls + 1
    assert student["layer_norm"].calls >= by["student"].n_timed_calls + 1


def test_bfloat16_is_skipped_on_cpu():
    rows = gt.time_normalizations([(8, 16)], [torch.float32, torch.bfloat16], "cpu", impls={"rms_norm": _rms}, **FAST)
    assert rows and {r.dtype for r in rows} == {"float32"}
    assert gt.time_normalizations([(8, 16)], ["bfloat16"], "cpu", impls={"rms_norm": _rms}, **FAST) == []


def test_student_entry_appears_only_when_given():
    without = gt.time_normalizations([(8, 16)], ["float32"], "cpu", impls=IMPLS, **FAST)
    assert "student" not in {r.impl for r in without}
    with_student = gt.time_normalizations([(8, 16)], ["float32"], "cpu", impls=IMPLS,
                                          student={"layer_norm": _ln}, **FAST)
    students = [r for r in with_student if r.impl == "student"]
    assert [r.op for r in students] == ["layer_norm"]
    assert len(with_student) == len(without) + 1


def test_default_impls_are_the_course_references(monkeypatch):
    import regnorm_lab

    seen = []

    def fake_measure(fn, args, plan, *, label="", **kw):
        seen.append(fn)
        return _fake_measurement(1e-3)

    monkeypatch.setattr(side_by_side, "measure", fake_measure)
    monkeypatch.setattr(side_by_side, "max_abs_err", lambda *a: 0.0)
    gt.time_normalizations([(8, 16)], ["float32"], "cpu", **FAST)
    assert regnorm_lab.layer_norm in seen and regnorm_lab.rms_norm in seen


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"shapes": [(0, 16)]}, "shapes"),
        ({"shapes": [(4, -1)]}, "shapes"),
        ({"shapes": [(4, 2.5)]}, "shapes"),
        ({"shapes": "4x16"}, "shapes"),
        ({"shapes": []}, "shapes"),
        ({"dtypes": [torch.int64]}, "dtypes"),
        ({"dtypes": ["float8"]}, "dtypes"),
        ({"dtypes": []}, "dtypes"),
        ({"device": "tpu"}, "device"),
        ({"impls": {"batch_norm": _ln}}, "impls"),
        ({"impls": {"layer_norm": 3}}, "impls"),
        ({"student": {"rms_norm": _rms}}, "student"),
        ({"min_run_time": 0}, "min_run_time"),
        ({"method": "fastest"}, "method"),
        ({"num_threads": 0}, "n must"),
    ],
)
def test_time_normalizations_errors_name_the_argument(kwargs, name):
    args = {"shapes": [(4, 16)], "dtypes": ["float32"], "device": "cpu", "impls": {"layer_norm": _ln}, **FAST}
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        gt.time_normalizations(**args)


def test_single_shape_is_accepted():
    rows = gt.time_normalizations((4, 16), "float32", "cpu", impls={"rms_norm": _rms}, **FAST)
    assert {r.shape for r in rows} == {(4, 16)}
