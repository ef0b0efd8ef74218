"""RMS norm references against torch.nn.functional.rms_norm, torch.nn.RMSNorm and numerical gradients."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import strategies as st

from _norm_helpers import (
    assert_grads_match_autograd,
    assert_grads_match_numerical,
    check_module_against_torch,
    norm_property,
)

# The package attribute regnorm_lab.rms_norm is the function (it shadows the module).
rms_mod = importlib.import_module("regnorm_lab.rms_norm")
rms_norm, RMSNorm = rms_mod.rms_norm, rms_mod.RMSNorm
rmsnorm_forward, rmsnorm_backward = rms_mod.rmsnorm_forward, rms_mod.rmsnorm_backward


# ---------------------------------------------------------------- torch function


@pytest.mark.parametrize("shape", [(6,), (3, 7), (2, 3, 8)])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("with_weight", [True, False])
def test_rms_norm_matches_functional(shape, dtype, with_weight):
    g = torch.Generator().manual_seed(10)
    d = shape[-1]
    x = (torch.randn(shape, generator=g, dtype=dtype) * 2 + 0.5).requires_grad_()
    w = torch.randn(d, generator=g, dtype=dtype, requires_grad=True) if with_weight else None
    dout = torch.randn(shape, generator=g, dtype=dtype)
    tol = dict(rtol=1e-10, atol=1e-12) if dtype == torch.float64 else dict(rtol=1e-4, atol=1e-5)
    inputs = (x, w) if with_weight else (x,)

    y = rms_norm(x, w, eps=1e-6)
    assert y.dtype == dtype
    y_ref = F.rms_norm(x, (d,), w, 1e-6)
    torch.testing.assert_close(y, y_ref, **tol)
    for got, want in zip(torch.autograd.grad(y, inputs, dout), torch.autograd.grad(y_ref, inputs, dout)):
        torch.testing.assert_close(got, want, **tol)


def test_rms_norm_default_eps_and_none():
    # The contract's default is 1e-6; eps=None means torch.finfo(dtype).eps, as F.rms_norm.
    x = torch.randn(4, 5, generator=torch.Generator().manual_seed(11), dtype=torch.float64) * 1e-3
    torch.testing.assert_close(rms_norm(x, None), F.rms_norm(x, (5,), None, 1e-6), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(rms_norm(x, None, eps=None), F.rms_norm(x, (5,)), rtol=1e-12, atol=1e-12)
    # and the difference is visible at this scale (mean square ~1e-6, comparable to eps)
    assert (rms_norm(x, None) - rms_norm(x, None, eps=None)).abs().max() > 1e-3


def test_rms_norm_tiny_and_zero_rows():
    x = torch.tensor([[0.0, 0.0, 0.0], [1e-5, -2e-5, 3e-5], [1.0, 2.0, 3.0]], dtype=torch.float64)
    torch.testing.assert_close(rms_norm(x, None, 1e-6), F.rms_norm(x, (3,), None, 1e-6), rtol=1e-12, atol=1e-12)


def test_rms_norm_half_precision():
    xh = (torch.randn(4, 64, generator=torch.Generator().manual_seed(12)) * 300).half()
    y = rms_norm(xh, None)
    assert y.dtype == torch.float16 and torch.isfinite(y).all()
    torch.testing.assert_close(y.float(), F.rms_norm(xh.float(), (64,), None, 1e-6), rtol=1e-3, atol=2e-3)


def test_rms_norm_uses_no_builtin(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("the reference must not call a built-in RMS norm")

    monkeypatch.setattr(F, "rms_norm", forbidden)
    monkeypatch.setattr(torch, "rms_norm", forbidden)
    x = torch.randn(3, 5, generator=torch.Generator().manual_seed(13), dtype=torch.float64)
    w = torch.linspace(0.5, 1.5, 5, dtype=torch.float64)
    expected = x / torch.sqrt((x * x).mean(-1, keepdim=True) + 1e-6) * w
    torch.testing.assert_close(rms_norm(x, w), expected, rtol=1e-12, atol=1e-12)


def test_rms_norm_errors():
    x = torch.randn(3, 5)
    with pytest.raises(ValueError, match="weight"):
        rms_norm(x, torch.ones(4))
    with pytest.raises(ValueError, match="eps"):
        rms_norm(x, None, eps=-1e-6)


# ---------------------------------------------------------------- module


@pytest.mark.parametrize(
    ("normalized_shape", "shape", "kwargs"),
    [(8, (4, 8), {}), ((3, 8), (2, 3, 8), dict(eps=1e-6)), (8, (2, 5, 8), dict(elementwise_affine=False))],
)
def test_rmsnorm_module_matches_torch(normalized_shape, shape, kwargs):
    ours = RMSNorm(normalized_shape, dtype=torch.float64, **kwargs)
    ref = torch.nn.RMSNorm(normalized_shape, dtype=torch.float64, **kwargs)
    check_module_against_torch(ours, ref, shape, torch.Generator().manual_seed(14))
    torch.nn.RMSNorm(normalized_shape, dtype=torch.float64, **kwargs).load_state_dict(ours.state_dict())


def test_rmsnorm_module_rejects_wrong_trailing_shape():
    with pytest.raises(ValueError, match="x"):
        RMSNorm(8)(torch.randn(3, 7))


# ---------------------------------------------------------------- numpy forward/backward


@pytest.mark.parametrize("shape", [(2, 3), (5, 16), (2, 3, 4)])
def test_numpy_forward_backward_match_torch(rng, shape):
    d = shape[-1]
    x = rng.normal(0.5, 2.0, size=shape)
    gamma = rng.normal(size=d)
    dout = rng.normal(size=shape)
    out, cache = rmsnorm_forward(x, gamma)
    dx, dgamma = rmsnorm_backward(dout, cache)

    def torch_rms(xt, gt):
        return F.rms_norm(xt, (d,), gt, 1e-6)

    y = assert_grads_match_autograd(torch_rms, (x, gamma), (dx, dgamma), dout)
    np.testing.assert_allclose(out, y.numpy(), rtol=1e-10, atol=1e-12)


def test_numpy_backward_matches_numerical_gradient(rng):
    x = rng.normal(size=(3, 5))
    gamma = rng.normal(size=5)
    dout = rng.normal(size=(3, 5))
    _, cache = rmsnorm_forward(x, gamma)
    dx, dgamma = rmsnorm_backward(dout, cache)

    def out_of(x_, g_):
        return rmsnorm_forward(x_, g_)[0]

    assert_grads_match_numerical(out_of, (x, gamma), (dx, dgamma), dout, (1e-6, 1e-7))


@norm_property(n=st.integers(1, 8), d=st.integers(1, 40), scale=st.floats(0.5, 100), a=st.floats(0.5, 50))
def test_property_unit_rms_and_scale_invariance(seed, n, d, scale, a):
    rng = np.random.default_rng(seed)
    x = rng.normal(0, scale, size=(n, d))
    x[:, 0] = 10 * scale  # mean square >= 100 * scale**2 / d, far above eps
    eps = 1e-6
    out, _ = rmsnorm_forward(x, np.ones(d), eps=eps)
    ms = np.mean(x * x, axis=1, keepdims=True)
    np.testing.assert_allclose(np.mean(out * out, axis=1, keepdims=True), ms / (ms + eps), rtol=1e-9)
    scaled, _ = rmsnorm_forward(a * x, np.ones(d), eps=eps)
    # exactly: a*x / sqrt(a**2 ms + eps) = x / sqrt(ms + eps / a**2); ~ the unscaled output
    np.testing.assert_allclose(scaled, x / np.sqrt(ms + eps / a**2), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(scaled, out, rtol=1e-5, atol=1e-6)


def test_not_shift_invariant_unlike_layer_norm(rng):
    # RMS norm does not centre: adding a constant changes the output.
    x = rng.normal(size=(4, 6))
    out, _ = rmsnorm_forward(x, np.ones(6))
    shifted, _ = rmsnorm_forward(x + 3.0, np.ones(6))
    assert np.max(np.abs(out - shifted)) > 0.1


def test_numpy_errors_and_no_mutation(rng):
    x = rng.normal(size=(3, 4))
    gamma = rng.normal(size=4)
    with pytest.raises(ValueError, match="gamma"):
        rmsnorm_forward(x, gamma[:3])
    with pytest.raises(ValueError, match="eps"):
        rmsnorm_forward(x, gamma, eps=0.0)
    dout = rng.normal(size=(3, 4))
    copies = [a.copy() for a in (x, gamma, dout)]
    _, cache = rmsnorm_forward(x, gamma)
    rmsnorm_backward(dout, cache)
    for a, c in zip((x, gamma, dout), copies):
        np.testing.assert_array_equal(a, c)


# ---------------------------------------------------------------- the maths core the book shows


def test_core_matches_torch(rng):
    """rmsnorm_core_forward/backward called directly, against F.rms_norm and its autograd (float64)."""
    x, gamma, dout = rng.normal(1.0, 2.0, size=(5, 8)), rng.normal(1.0, 0.3, size=8), rng.normal(size=(5, 8))
    out, cache = rms_mod.rmsnorm_core_forward(x, gamma, 1e-6)
    xt, gt = torch.tensor(x, requires_grad=True), torch.tensor(gamma, requires_grad=True)
    yt = F.rms_norm(xt, (8,), gt, 1e-6)
    np.testing.assert_allclose(out, yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    theirs = torch.autograd.grad(yt, (xt, gt), torch.from_numpy(dout))
    for ours, t in zip(rms_mod.rmsnorm_core_backward(dout, cache), theirs):
        np.testing.assert_allclose(ours, t.numpy(), rtol=1e-9, atol=1e-12)
