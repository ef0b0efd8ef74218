"""Tests for regnorm_lab.timing.reference_vs_torch: like against like, torch's threads restored (no timing asserted)."""

from __future__ import annotations

import numpy as np
import torch

from regnorm_lab.timing import reference_vs_torch as bench


def test_benchmarked_closures_compute_the_same_gradients():
    # If the numpy side and the torch side did different work, the ratio would mean nothing.
    cases = bench._cases(64, 16, np.random.default_rng(0))
    assert set(cases) == {"batch norm", "layer norm"}
    for name, (reference, torch_fn) in cases.items():
        ref_grads = reference()
        torch_grads = [g.numpy() for g in torch_fn()]
        for r, t in zip(ref_grads, torch_grads, strict=True):
            np.testing.assert_allclose(r, t, rtol=1e-4, atol=1e-4, err_msg=name)


def test_bench_norms_reports_positive_times_and_restores_threads():
    before = torch.get_num_threads()
    results = bench.bench_norms(n=32, d=8, min_run_time=0.02, rounds=1)
    assert [r.name for r in results] == ["batch norm", "layer norm"]
    for r in results:
        assert r.shape == (32, 8)
        assert r.reference_s > 0 and r.torch_s > 0
        assert r.ratio == r.reference_s / r.torch_s
    assert torch.get_num_threads() == before


def test_main_prints_the_ratio_table(capsys):
    bench.main(["--n", "16", "--d", "4", "--min-run-time", "0.02", "--rounds", "1"])
    out = capsys.readouterr().out
    assert "reference/torch" in out
    assert "batch norm" in out and "layer norm" in out
