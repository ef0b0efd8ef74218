"""Tests for regnorm_lab.timing.kernels: byte counts by hand, inputs, the fused kernels, the copy.

CPU only; the CUDA branches are exercised by monkeypatching.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import regnorm_lab.timing as gt
from regnorm_lab.timing import kernels


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


def test_copy_kernel_returns_a_fresh_equal_tensor_and_ignores_parameters():
    x, w, b = gt.make_inputs("layer_norm", (4, 8))
    out = kernels.copy_kernel(x, w, b)
    assert torch.equal(out, x) and out.data_ptr() != x.data_ptr()


def test_max_abs_err_by_hand():
    x = torch.zeros(3, 4)
    assert kernels.max_abs_err(lambda a: a + 0.25, lambda a: a, (x,)) == pytest.approx(0.25)
    assert kernels.max_abs_err(lambda a: a[0], lambda a: a, (x,)) == float("inf")  # wrong shape
    assert kernels.max_abs_err(lambda a: None, lambda a: a, (x,)) == float("inf")  # no tensor


def test_fused_kernel_eps_and_bad_op():
    x, w = gt.make_inputs("rms_norm", (6, 10))
    torch.testing.assert_close(gt.fused_kernel("rms_norm", eps=0.5)(x, w), F.rms_norm(x, (10,), w, 0.5))
    with pytest.raises(ValueError, match="op"):
        gt.fused_kernel("copy")
    assert kernels.EPS == {"layer_norm": 1e-5, "rms_norm": 1e-6}  # the exercise contract's defaults
