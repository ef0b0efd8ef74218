"""Tests for regnorm_lab.timing.devices: device choice, cache sizes, timing plans, the environment, threads.

CPU only; the CUDA branches are exercised by monkeypatching.
"""

from __future__ import annotations

import types

import pytest
import torch

import regnorm_lab.timing as gt
from regnorm_lab.timing import devices

from .helpers import MiB


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
    assert plan.ring_size(4) == devices._MAX_RING
    assert "capped below 2x" in plan.cache_note(4)


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


def _fake_cache_dir(root, entries):
    for i, (level, kind, size) in enumerate(entries):
        d = root / f"index{i}"
        d.mkdir()
        (d / "level").write_text(f"{level}\n")
        (d / "type").write_text(f"{kind}\n")
        (d / "size").write_text(f"{size}\n")
    return root


def test_cpu_cache_is_the_highest_data_level_from_sysfs(tmp_path):
    root = _fake_cache_dir(tmp_path, [(1, "Data", "32K"), (1, "Instruction", "32K"), (2, "Unified", "512K"),
                                      (3, "Unified", "16384K"), (4, "Instruction", "64M")])
    assert devices._cpu_cache(root) == (16 * MiB, "L3 cache")


def test_cpu_cache_falls_back_when_sysfs_says_nothing(tmp_path):
    nbytes, name = devices._cpu_cache(tmp_path)
    assert nbytes >= 50 * MiB and "unknown" in name
    (tmp_path / "broken").mkdir()
    broken = _fake_cache_dir(tmp_path / "broken", [(2, "Unified", "lots")])  # an unreadable size is skipped
    assert devices._cpu_cache(broken)[1].startswith("last-level cache (size unknown")


def test_synchronize_waits_only_when_the_plan_says_so(monkeypatch):
    calls = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda dev=None: calls.append(dev))
    cuda = gt.TimingPlan(torch.device("cuda:1"), synchronize=True, cache_bytes=MiB, cache_name="L2 cache")
    cpu = gt.TimingPlan(torch.device("cpu"), synchronize=False, cache_bytes=MiB, cache_name="L3 cache")
    devices.synchronize(cpu)
    assert calls == []
    devices.synchronize(cuda)
    assert calls == [torch.device("cuda:1")]


def test_cpu_threads_if_cpu_sets_threads_on_the_cpu_only():
    original = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with devices.cpu_threads_if_cpu(torch.device("cpu"), 1):
            assert torch.get_num_threads() == 1
        with devices.cpu_threads_if_cpu(torch.device("cuda"), 1):
            assert torch.get_num_threads() == 2  # a GPU's speed does not depend on the host's threads
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(original)
