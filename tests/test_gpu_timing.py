"""Tests for regnorm_lab.gpu_timing (CPU only; the CUDA branches are exercised by monkeypatching).

No test asserts on absolute or relative speed: that is flaky on a shared machine.
Arithmetic is checked against hand computations, with the timer replaced by fake
measurements of known medians where exact numbers are needed.
"""

from __future__ import annotations

import dataclasses
import math
import time
import types

import matplotlib

matplotlib.use("Agg")  # headless: the tests draw into memory only

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from regnorm_lab import gpu_timing as gt  # noqa: E402

FAST = {"min_run_time": 0.003, "cold_cache": False}
MiB = 2**20


# Composite implementations written here (not imported from regnorm_lab), so these tests
# check the timing machinery independently of the references' state.
def _ln(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + 1e-5) * w + b


def _rms(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return x / torch.sqrt((x * x).mean(-1, keepdim=True) + 1e-6) * w


IMPLS = {"layer_norm": _ln, "rms_norm": _rms}


class _Counter:
    """Wraps a function and records every call (and the identity of its first argument)."""

    def __init__(self, fn):
        self.fn = fn
        self.calls = 0
        self.first_args: list[int] = []
        self.threads: list[int] = []

    def __call__(self, *args):
        self.calls += 1
        self.first_args.append(id(args[0]))
        self.threads.append(torch.get_num_threads())
        return self.fn(*args)


def _fake_measurement(median: float, iqr: float = 0.0, number: int = 10, blocks: int = 3):
    return types.SimpleNamespace(median=median, iqr=iqr, number_per_run=number, raw_times=[median * number] * blocks)


# --------------------------------------------------------------------------- devices


def test_pick_device_is_cpu_without_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert gt.pick_device() == torch.device("cpu")
    assert gt.pick_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="prefer"):
        gt.pick_device("cuda")


def test_pick_device_is_cuda_when_available(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert gt.pick_device().type == "cuda"
    assert gt.pick_device("cuda:1") == torch.device("cuda:1")
    assert gt.pick_device("cpu") == torch.device("cpu")


@pytest.mark.parametrize("bad", ["tpu", "banana", 3.5, "meta"])
def test_pick_device_rejects_bad_prefer(bad):
    with pytest.raises(ValueError, match="prefer"):
        gt.pick_device(bad)


def test_cuda_plan_synchronises_and_sizes_ring_from_l2(monkeypatch):
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda dev: types.SimpleNamespace(L2_cache_size=40 * MiB))
    plan = gt.plan_timing("cuda")
    assert plan.synchronize is True
    assert plan.cache_bytes == 40 * MiB
    assert "L2" in plan.cache_name
    # 16 MiB input: ceil(2 * 40 / 16) = 5 copies reach 2x the L2, plus one: 6.
    assert plan.ring_size(16 * MiB) == 6
    assert plan.ring_size(16 * MiB) * 16 * MiB >= 2 * 40 * MiB
    # A 4096x1024 float32 tensor (16 MiB) alone would fit in a 40 MiB L2: never timed alone when cold.
    assert plan.ring_size(4096 * 1024 * 4) > 1
    assert "6 rotating input copies" in plan.cache_note(16 * MiB)
    hot = gt.plan_timing("cuda", cold_cache=False)
    assert hot.ring_size(16 * MiB) == 1
    assert "hot cache" in hot.cache_note(16 * MiB)


def test_cuda_plan_falls_back_when_l2_size_unknown(monkeypatch):
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda dev: types.SimpleNamespace())
    plan = gt.plan_timing("cuda")
    assert plan.cache_bytes >= 50 * MiB  # at least the largest current L2 (H100)
    assert "unknown" in plan.cache_name


def test_ring_size_is_capped_for_tiny_inputs():
    plan = gt.TimingPlan(torch.device("cpu"), synchronize=False, cache_bytes=32 * MiB, cache_name="L3 cache")
    assert plan.ring_size(4) == gt._MAX_RING
    assert "capped below 2x" in plan.cache_note(4)


def test_cpu_plan_does_not_synchronise(monkeypatch):
    calls = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda *a: calls.append(a))
    plan = gt.plan_timing("cpu")
    assert plan.synchronize is False
    assert plan.cache_bytes > 0
    gt.measure(lambda x: x + 1, (torch.ones(4),), plan, min_run_time=0.002)
    assert calls == []


def test_cuda_branch_waits_for_warmup_before_timing(monkeypatch):
    """With a CUDA plan, measure() synchronises the device after the untimed warm-up."""
    events: list[str] = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda dev=None: events.append(f"sync {dev}"))
    plan = gt.TimingPlan(torch.device("cuda:0"), synchronize=True, cache_bytes=MiB, cache_name="L2 cache",
                         cold_cache=False)

    def fn(x):
        events.append("call")
        return x + 1

    gt.measure(fn, (torch.ones(4),), plan, min_run_time=0.002, warmup=2)
    assert events[:3] == ["call", "call", "sync cuda:0"]
    assert events.count("sync cuda:0") == 1
    assert events.count("call") > 2  # and the timed calls came after


def test_describe_environment_cpu():
    env = gt.describe_environment("cpu", [torch.float32])
    for key in ("device", "device_type", "device_name", "torch_version", "num_threads", "dtypes", "cache", "timer"):
        assert key in env
    assert env["device_type"] == "cpu"
    assert env["torch_version"] == torch.__version__
    assert env["num_threads"] == torch.get_num_threads()
    assert env["dtypes"] == "float32"
    assert isinstance(env["device_name"], str) and env["device_name"]


def test_describe_environment_cuda_names_the_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda dev=None: "Fake GPU 9000")
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda dev: types.SimpleNamespace(L2_cache_size=6 * MiB))
    env = gt.describe_environment("cuda", ["bfloat16", torch.float32])
    assert env["device_name"] == "Fake GPU 9000"
    assert env["device_type"] == "cuda"
    assert env["dtypes"] == "bfloat16, float32"
    assert "6.0 MiB" in env["cache"]
    assert "synchronises CUDA" in env["timer"]


# --------------------------------------------------------------------------- threads


def test_set_cpu_threads_applies_and_restores():
    original = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with gt.set_cpu_threads(1) as n:
            assert n == 1
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
        with pytest.raises(RuntimeError):
            with gt.set_cpu_threads(3):
                assert torch.get_num_threads() == 3
                raise RuntimeError("boom")
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(original)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_set_cpu_threads_rejects_bad_n(bad):
    with pytest.raises(ValueError, match="n must"):
        with gt.set_cpu_threads(bad):
            pass


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


# --------------------------------------------------------------------------- bytes and bandwidth


def test_bytes_moved_hand_computed():
    # 4096 x 1024 float32: M = 4194304 elements, D = 1024, 4 bytes each.
    assert gt.bytes_moved("layer_norm", (4096, 1024), torch.float32) == (8388608 + 2048) * 4  # 33562624
    assert gt.bytes_moved("rms_norm", (4096, 1024), torch.float32) == 33558528
    assert gt.bytes_moved("copy", (4096, 1024), torch.float32) == 33554432
    # bfloat16 is 2 bytes: (2 * 2097152 + 256) * 2
    assert gt.bytes_moved("rms_norm", (8192, 256), torch.bfloat16) == 8389120
    # Leading dimensions count toward M; float64 is 8 bytes: (2*24 + 2*4) * 8
    assert gt.bytes_moved("layer_norm", (2, 3, 4), "float64") == 448


def test_bytes_moved_rejects_bad_arguments():
    with pytest.raises(ValueError, match="op"):
        gt.bytes_moved("batch_norm", (4, 4))
    with pytest.raises(ValueError, match="shape"):
        gt.bytes_moved("copy", (4, 0))
    with pytest.raises(ValueError, match="dtype"):
        gt.bytes_moved("copy", (4, 4), torch.int32)


def test_row_arithmetic_against_hand_computation(monkeypatch):
    """Fake timer with known medians: GB/s, % of copy and ratio to fused computed by hand."""
    medians = {"copy": 1e-3, "fused": 2e-3, "reference": 8e-3, "student": 4e-3}

    def fake_measure(fn, args, plan, *, label="", **kw):
        impl = label.split()[0] if label.startswith("copy") else label.split()[1]
        return _fake_measurement(medians[impl], iqr=medians[impl] / 10, number=7, blocks=5)

    monkeypatch.setattr(gt, "measure", fake_measure)
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


# --------------------------------------------------------------------------- the op really runs


def test_measure_runs_the_callable_every_repetition():
    spy = _Counter(lambda x: x * 2.0)
    blocks: list[tuple[int, int]] = []
    plan = gt.plan_timing("cpu", cold_cache=False)
    m = gt.measure(spy, (torch.ones(16),), plan, min_run_time=0.01, warmup=1, min_blocks=1,
                   callback=lambda number, t: blocks.append((number, spy.calls)))
    assert len(blocks) == len(m.raw_times) >= 1
    # Between consecutive timed blocks the function ran exactly `number` times.
    for (number, before), (_, after) in zip(blocks, blocks[1:]):
        assert after - before == number
    timed = m.number_per_run * len(m.raw_times)
    assert spy.calls >= timed + 1  # plus the untimed warm-up (and the Timer's block-size probe)
    assert m.metadata["timed_calls"] == timed == sum(number for number, _ in blocks)


def test_measure_collects_at_least_min_blocks_for_slow_calls():
    """One slow call fills min_run_time alone; measure() measures again until it has min_blocks samples."""
    spy = _Counter(lambda x: (time.sleep(0.004), x)[1])
    blocks: list[int] = []
    plan = gt.plan_timing("cpu", cold_cache=False)
    m = gt.measure(spy, (torch.ones(4),), plan, min_run_time=0.002, min_blocks=3,
                   callback=lambda number, t: blocks.append(number))
    assert len(m.raw_times) >= 3 and len(blocks) == len(m.raw_times)
    assert m.metadata["timed_calls"] == sum(blocks)
    assert m.median >= 0.004  # each call really slept
    assert spy.calls >= m.metadata["timed_calls"] + 1
    with pytest.raises(ValueError, match="min_blocks"):
        gt.measure(spy, (torch.ones(4),), plan, min_blocks=0)


def test_measure_rotates_through_cold_cache_copies():
    spy = _Counter(lambda x: x + 1.0)
    plan = gt.TimingPlan(torch.device("cpu"), synchronize=False, cache_bytes=4 * 64 * 4, cache_name="test cache")
    x = torch.ones(64)  # 256 bytes; ring: 1 + ceil(2 * 1024 / 256) = 9 copies
    gt.measure(spy, (x,), plan, min_run_time=0.005)
    assert len(set(spy.first_args)) == 9
    assert x.eq(1.0).all()  # inputs are never modified


def test_time_normalizations_calls_each_impl_at_least_as_often_as_timed():
    spies = {"layer_norm": _Counter(_ln)}
    student = {"layer_norm": _Counter(_ln)}
    rows = gt.time_normalizations([(8, 16)], ["float32"], "cpu", impls=spies, student=student, **FAST)
    by = {r.impl: r for r in rows}
    assert spies["layer_norm"].calls >= by["reference"].n_timed_calls + 1
    assert student["layer_norm"].calls >= by["student"].n_timed_calls + 1


# --------------------------------------------------------------------------- rows chosen


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

    monkeypatch.setattr(gt, "measure", fake_measure)
    monkeypatch.setattr(gt, "_max_abs_err", lambda *a: 0.0)
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


# --------------------------------------------------------------------------- inputs and kernels


def test_make_inputs_shapes_determinism_and_no_global_rng():
    state = torch.random.get_rng_state()
    x, w, b = gt.make_inputs("layer_norm", (3, 5, 8), torch.float64, "cpu", seed=1)
    assert x.shape == (3, 5, 8) and w.shape == (8,) and b.shape == (8,)
    assert x.dtype == torch.float64
    again = gt.make_inputs("layer_norm", (3, 5, 8), torch.float64, "cpu", seed=1)
    assert torch.equal(x, again[0]) and torch.equal(w, again[1])
    other = gt.make_inputs("layer_norm", (3, 5, 8), torch.float64, "cpu", seed=2)
    assert not torch.equal(x, other[0])
    assert len(gt.make_inputs("rms_norm", (3, 8))) == 2
    assert torch.equal(state, torch.random.get_rng_state())
    with pytest.raises(ValueError, match="op"):
        gt.make_inputs("group_norm", (3, 8))


def test_fused_kernels_are_torch_functional():
    x, w, b = gt.make_inputs("layer_norm", (6, 10))
    torch.testing.assert_close(gt.fused_kernel("layer_norm")(x, w, b), F.layer_norm(x, (10,), w, b, 1e-5))
    torch.testing.assert_close(gt.fused_kernel("rms_norm")(x, w), F.rms_norm(x, (10,), w, 1e-6))


# --------------------------------------------------------------------------- speed_ratio


def test_speed_ratio_is_student_over_reference_best_of_rounds(monkeypatch):
    medians = {"student": iter([3.0, 2.0]), "reference": iter([1.0, 1.25])}

    def fake_measure(fn, args, plan, *, label="", **kw):
        return _fake_measurement(next(medians[label]))

    monkeypatch.setattr(gt, "measure", fake_measure)
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


# --------------------------------------------------------------------------- presenting


def test_format_report_and_plot(monkeypatch):
    monkeypatch.setattr(gt, "measure", lambda fn, args, plan, **kw: _fake_measurement(1e-3))
    rows = gt.time_normalizations([(8, 16), (4, 32)], ["float32"], "cpu", impls=IMPLS,
                                  student={"rms_norm": _rms}, **FAST)
    env = gt.describe_environment("cpu")
    text = gt.format_report(rows, env)
    assert env["device_name"] in text and env["torch_version"] in text
    assert text.count("\nlayer_norm ") == 6 and text.count("\nrms_norm ") == 8
    assert "8x16" in text and "4x32" in text
    summary = gt.summarize_ratios(rows)
    assert len(summary) == 4 and any("student" in s for s in summary)

    ax = gt.plot_bandwidth(rows, env=env)
    n_bars = sum(1 for r in rows if r.impl != "copy")
    assert len(ax.patches) == n_bars
    assert "cpu" in ax.get_title() and env["device_name"] in ax.get_title()
    labels = ax.get_legend_handles_labels()[1]
    assert "copy (ceiling)" in labels and "student" in labels
    plt.close(ax.figure)
    with pytest.raises(ValueError, match="rows"):
        gt.plot_bandwidth([])


def test_main_prints_a_report(capsys):
    assert gt.main(["--device", "cpu", "--shapes", "8x16", "--dtypes", "float32,bfloat16",
                    "--min-run-time", "0.003", "--hot"]) == 0
    out = capsys.readouterr().out
    assert "device_name" in out and "ratios:" in out
    assert "layer_norm" in out and "rms_norm" in out
    assert "bfloat16" not in out.split("ratios:")[1]


def test_main_saves_the_figure(tmp_path, capsys):
    png = tmp_path / "bw.png"
    assert gt.main(["--device", "cpu", "--shapes", "8x16", "--dtypes", "float32", "--min-run-time", "0.003",
                    "--hot", "--png", str(png)]) == 0
    assert png.stat().st_size > 1000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert str(png) in capsys.readouterr().out
