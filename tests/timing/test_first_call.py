"""Tests for regnorm_lab.timing.first_call: both first calls are timed, in this process and in a fresh one."""

from __future__ import annotations

import pytest
import torch

import regnorm_lab.timing as gt
from regnorm_lab.timing import first_call


def test_time_first_calls_times_both_calls_and_runs_them(monkeypatch):
    calls = []
    real = torch.nn.functional.layer_norm
    monkeypatch.setattr(torch.nn.functional, "layer_norm", lambda *a, **k: (calls.append(a[0].shape), real(*a, **k))[1])
    before = torch.get_num_threads()
    try:
        first = first_call.time_first_calls(torch.device("cpu"), 8, 16)
    finally:
        torch.set_num_threads(before)  # it sets one thread, as a fresh benchmark process does
    assert set(first) == {"F.layer_norm", "regnorm_lab.layer_norm"}
    assert all(s > 0 for s in first.values())
    assert calls and calls[0] == (8, 16)


@pytest.mark.slow
def test_first_call_seconds_runs_a_fresh_process():
    first = gt.first_call_seconds("cpu", (8, 16))
    assert set(first) == {"F.layer_norm", "regnorm_lab.layer_norm"}
    assert all(0 < s < 60 for s in first.values())
    with pytest.raises(ValueError, match="shape"):
        gt.first_call_seconds("cpu", (2, 3, 4))
    with pytest.raises(ValueError, match="device"):
        gt.first_call_seconds("tpu")
