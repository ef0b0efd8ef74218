"""Tests for regnorm_lab.timing.timer: the one timer really runs the op, waits for CUDA, rotates cold inputs.

CPU only; the CUDA branches are exercised by monkeypatching.
"""

from __future__ import annotations

import time

import pytest
import torch

import regnorm_lab.timing as gt
from regnorm_lab.timing import timer

from .helpers import MiB, _Counter, _fake_measurement


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


def test_measure_runs_the_callable_every_repetition():
    spy = _Counter(lambda x: x * 2.0)
    blocks: list[tuple[int, int]] = []
    plan = gt.plan_timing("cpu", cold_cache=False)
    m = gt.measure(spy, (torch.ones(16),), plan, min_run_time=0.01, warmup=1, min_blocks=1,
                   callback=lambda number, t: blocks.append((number, spy.calls)))
    assert len(blocks) == len(m.raw_times) >= 1
    # Between consecutive timed blocks the function ran exactly `number` times.
    for (number, before), (_, after) in zip(blocks, blocks[1:], strict=False):
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


def test_rotating_inputs_copies_only_x_and_leaves_closures_alone():
    plan = gt.TimingPlan(torch.device("cpu"), synchronize=False, cache_bytes=1024, cache_name="test cache")
    x, w = torch.ones(64), torch.ones(64)  # x: 256 bytes -> 1 + ceil(2048 / 256) = 9 copies
    ring = timer.rotating_inputs((x, w), plan)
    assert len(ring) == 9
    assert ring[0][0] is x and len({id(a) for a, _ in ring}) == 9
    assert all(b is w for _, b in ring) and all(torch.equal(a, x) for a, _ in ring)
    assert timer.rotating_inputs((), plan) == [()]


def test_timed_calls_falls_back_to_blocks_times_number():
    assert timer.timed_calls(_fake_measurement(1e-3, number=7, blocks=5)) == 35


def test_best_medians_alternates_the_order_and_keeps_each_lowest(monkeypatch):
    medians = {"a": iter([3.0, 1.0, 2.0]), "b": iter([5.0, 6.0, 4.0])}
    order = []

    def fake_measure(fn, args, plan, *, label="", **kw):
        order.append(label)
        return _fake_measurement(next(medians[label]))

    monkeypatch.setattr(timer, "measure", fake_measure)
    plan = gt.plan_timing("cpu", cold_cache=False)
    best = gt.best_medians({"a": abs, "b": abs}, (torch.ones(2),), plan, rounds=3)
    assert order == ["a", "b", "b", "a", "a", "b"]
    assert best == {"a": 1.0, "b": 4.0}


def test_best_medians_really_times_closures_and_checks_arguments():
    spy = _Counter(lambda: sum(range(100)))
    plan = gt.plan_timing("cpu", cold_cache=False)
    best = gt.best_medians({"sum": spy}, (), plan, rounds=2, min_run_time=0.003)
    assert spy.calls > 2 and 0 < best["sum"] < 1
    with pytest.raises(ValueError, match="fns"):
        gt.best_medians({}, (), plan)
    with pytest.raises(ValueError, match="fns"):
        gt.best_medians({"x": 3}, (), plan)
    with pytest.raises(ValueError, match="rounds"):
        gt.best_medians({"sum": spy}, (), plan, rounds=0)
    with pytest.raises(ValueError, match="min_run_time"):
        gt.best_medians({"sum": spy}, (), plan, min_run_time=-1)


def test_measure_errors_name_the_argument():
    plan = gt.plan_timing("cpu", cold_cache=False)
    for kwargs, name in [({"min_run_time": 0}, "min_run_time"), ({"method": "fastest"}, "method"),
                         ({"warmup": 0}, "warmup")]:
        with pytest.raises(ValueError, match=name):
            gt.measure(abs, (torch.ones(2),), plan, **kwargs)

