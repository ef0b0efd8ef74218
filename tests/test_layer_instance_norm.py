"""Layer, instance and group norm references against torch.nn.functional, torch.nn and numerical gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import strategies as st

from regnorm_lab.layer_instance_norm import (
    LayerNorm,
    groupnorm_forward,
    instancenorm_forward,
    layer_norm,
    layernorm_backward,
    layernorm_forward,
)

from _norm_helpers import (
    assert_grads_match_autograd,
    assert_grads_match_numerical,
    check_module_against_torch,
    norm_property,
)

T = torch.from_numpy


# ---------------------------------------------------------------- numpy layer norm


@pytest.mark.parametrize("shape", [(2, 3), (1, 5), (7, 16), (3, 4, 6)])
@pytest.mark.parametrize("eps", [1e-5, 1e-2])
def test_layernorm_forward_matches_torch(rng, shape, eps):
    d = shape[-1]
    x = rng.normal(2.0, 3.0, size=shape)
    gamma, beta = rng.normal(size=d), rng.normal(size=d)
    out, _ = layernorm_forward(x, gamma, beta, eps=eps)
    expected = F.layer_norm(T(x), (d,), T(gamma), T(beta), eps).numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-12)


def test_layernorm_constant_and_tiny_variance_rows(rng):
    # row 0 constant (out = beta), row 1 with variance ~1e-8 << eps, row 2 ordinary
    x = np.stack([np.full(5, -2.0), 1.0 + 1e-4 * rng.normal(size=5), rng.normal(size=5)])
    gamma, beta = rng.normal(size=5), rng.normal(size=5)
    out, _ = layernorm_forward(x, gamma, beta)
    np.testing.assert_allclose(out, F.layer_norm(T(x), (5,), T(gamma), T(beta), 1e-5).numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(out[0], beta, atol=1e-12)


@pytest.mark.parametrize("shape", [(2, 3), (6, 8), (2, 3, 5)])
def test_layernorm_backward_matches_autograd(rng, shape):
    d = shape[-1]
    x = rng.normal(1.0, 2.0, size=shape)
    dout = rng.normal(size=shape)
    gamma, beta = rng.normal(size=d), rng.normal(size=d)
    _, cache = layernorm_forward(x, gamma, beta)
    dx, dgamma, dbeta = layernorm_backward(dout, cache)

    def torch_ln(xt, gt, bt):
        return F.layer_norm(xt, (d,), gt, bt, 1e-5)

    assert_grads_match_autograd(torch_ln, (x, gamma, beta), (dx, dgamma, dbeta), dout)


@pytest.mark.parametrize("shape", [(3, 4), (2, 6)])
def test_layernorm_backward_matches_numerical_gradient(rng, shape):
    x = rng.normal(size=shape)
    dout = rng.normal(size=shape)
    gamma, beta = rng.normal(size=shape[1]), rng.normal(size=shape[1])
    _, cache = layernorm_forward(x, gamma, beta)
    dx, dgamma, dbeta = layernorm_backward(dout, cache)

    def out_of(x_, g_, b_):
        return layernorm_forward(x_, g_, b_)[0]

    assert_grads_match_numerical(out_of, (x, gamma, beta), (dx, dgamma, dbeta), dout, (1e-6, 1e-7, 1e-7))


def test_layernorm_float32_large_mean_is_stable(rng):
    x = (1e4 + rng.standard_normal((64, 4096))).astype(np.float32)
    out, _ = layernorm_forward(x, np.ones(4096, np.float32), np.zeros(4096, np.float32))
    assert out.dtype == np.float32
    x64 = x.astype(np.float64)
    expected = (x64 - x64.mean(axis=1, keepdims=True)) / np.sqrt(x64.var(axis=1, keepdims=True) + 1e-5)
    # float32 cannot hold the mean closer than half its spacing at 1e4 (4.9e-4);
    # an accurate reference stays within that, a float32 running sum does not.
    np.testing.assert_allclose(out, expected, atol=7e-4)


@norm_property(n=st.integers(1, 8), d=st.integers(2, 40), loc=st.floats(-100, 100), scale=st.floats(0.5, 100))
def test_layernorm_property_normalised_moments(seed, n, d, loc, scale):
    rng = np.random.default_rng(seed)
    x = rng.normal(loc, scale, size=(n, d))
    x[:, 0] = x[:, 1:].max(axis=1) + 10 * scale  # every row's variance far above eps, even for d == 2
    eps = 1e-5
    out, _ = layernorm_forward(x, np.ones(d), np.zeros(d), eps=eps)
    np.testing.assert_allclose(out.mean(axis=1), 0.0, atol=1e-9)
    v = x.var(axis=1)
    np.testing.assert_allclose(out.var(axis=1), v / (v + eps), rtol=1e-9)


@norm_property(n=st.integers(1, 8), d=st.integers(2, 40), a=st.floats(0.5, 50), c=st.floats(-1e3, 1e3))
def test_layernorm_property_invariant_to_positive_affine_map(seed, n, d, a, c):
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 3.0, size=(n, d))
    x[:, 0] = x[:, 1:].max(axis=1) + 10.0  # every row's variance >= 25 / d, far above eps
    gamma, beta = rng.normal(size=d), rng.normal(size=d)
    out, _ = layernorm_forward(x, gamma, beta)
    # exactly: a*(x - m) / sqrt(a**2 v + eps) = (x - m) / sqrt(v + eps / a**2)
    exact, _ = layernorm_forward(x, gamma, beta, eps=1e-5 / a**2)
    # a global a*x + c, and also a different shift per row: layer norm removes both
    row_shift = rng.normal(0, 100, size=(n, 1))
    for moved in (a * x + c, a * x + row_shift):
        got, _ = layernorm_forward(moved, gamma, beta)
        np.testing.assert_allclose(got, exact, rtol=1e-8, atol=1e-9)
        np.testing.assert_allclose(got, out, rtol=1e-4, atol=1e-4)


def test_layernorm_errors_and_no_mutation(rng):
    x = rng.normal(size=(3, 4))
    gamma, beta = rng.normal(size=4), rng.normal(size=4)
    for name, args in [
        ("gamma", (x, gamma[:3], beta)),
        ("beta", (x, gamma, np.ones((4, 1)))),
        ("x", (np.float64(1.0), gamma, beta)),
    ]:
        with pytest.raises(ValueError, match=name):
            layernorm_forward(*args)
    with pytest.raises(ValueError, match="eps"):
        layernorm_forward(x, gamma, beta, eps=0.0)
    copies = [a.copy() for a in (x, gamma, beta)]
    dout = rng.normal(size=(3, 4))
    d0 = dout.copy()
    _, cache = layernorm_forward(x, gamma, beta)
    layernorm_backward(dout, cache)
    for a, c in zip((x, gamma, beta), copies):
        np.testing.assert_array_equal(a, c)
    np.testing.assert_array_equal(dout, d0)


# ---------------------------------------------------------------- instance and group norm


@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (1, 2, 1, 7), (3, 1, 6, 6)])
@pytest.mark.parametrize("eps", [1e-5, 1e-1])
def test_instancenorm_matches_torch(rng, shape, eps):
    x = rng.normal(1.0, 2.0, size=shape)
    x[0, 0] = 4.0  # a constant plane: normalised to 0
    out = instancenorm_forward(x, eps=eps)
    np.testing.assert_allclose(out, F.instance_norm(T(x), eps=eps).numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(out[0, 0], 0.0, atol=1e-12)


@pytest.mark.parametrize("num_groups", [1, 2, 3, 6])
def test_groupnorm_matches_torch(rng, num_groups):
    x = rng.normal(-1.0, 2.0, size=(2, 6, 3, 4))
    gamma, beta = rng.normal(size=6), rng.normal(size=6)
    out = groupnorm_forward(x, num_groups, gamma, beta)
    expected = F.group_norm(T(x), num_groups, T(gamma), T(beta), 1e-5).numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-12)


def test_groupnorm_limits_are_layer_and_instance_norm(rng):
    x = rng.normal(size=(3, 4, 2, 5))
    ones, zeros = np.ones(4), np.zeros(4)
    # G = C: instance norm; G = 1: layer norm over (C, H, W) of each sample
    np.testing.assert_allclose(groupnorm_forward(x, 4, ones, zeros), instancenorm_forward(x), rtol=1e-12, atol=1e-12)
    flat = x.reshape(3, -1)
    ln, _ = layernorm_forward(flat, np.ones(flat.shape[1]), np.zeros(flat.shape[1]))
    np.testing.assert_allclose(groupnorm_forward(x, 1, ones, zeros), ln.reshape(x.shape), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("num_groups", [0, -2, 4, 5, 1.5, True])
def test_groupnorm_bad_num_groups(rng, num_groups):
    x = rng.normal(size=(2, 6, 2, 2))
    with pytest.raises(ValueError, match="num_groups"):
        groupnorm_forward(x, num_groups, np.ones(6), np.zeros(6))


def test_instance_group_errors_and_no_mutation(rng):
    x = rng.normal(size=(2, 4, 3, 3))
    gamma, beta = rng.normal(size=4), rng.normal(size=4)
    with pytest.raises(ValueError, match="x"):
        instancenorm_forward(x[0, 0])
    with pytest.raises(ValueError, match="eps"):
        instancenorm_forward(x, eps=-1.0)
    with pytest.raises(ValueError, match="gamma"):
        groupnorm_forward(x, 2, gamma[:2], beta)
    with pytest.raises(ValueError, match="beta"):
        groupnorm_forward(x, 2, gamma, np.ones(5))
    with pytest.raises(ValueError, match="eps"):
        groupnorm_forward(x, 2, gamma, beta, eps=0)
    copies = [a.copy() for a in (x, gamma, beta)]
    instancenorm_forward(x)
    groupnorm_forward(x, 2, gamma, beta)
    for a, c in zip((x, gamma, beta), copies):
        np.testing.assert_array_equal(a, c)


# ---------------------------------------------------------------- torch layer_norm and LayerNorm


@pytest.mark.parametrize("shape", [(5,), (3, 7), (2, 3, 8)])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_torch_layer_norm_matches_functional(shape, dtype):
    g = torch.Generator().manual_seed(4)
    d = shape[-1]
    x = (torch.randn(shape, generator=g, dtype=dtype) * 3 + 2).requires_grad_()
    w = torch.randn(d, generator=g, dtype=dtype, requires_grad=True)
    b = torch.randn(d, generator=g, dtype=dtype, requires_grad=True)
    dout = torch.randn(shape, generator=g, dtype=dtype)
    tol = dict(rtol=1e-10, atol=1e-12) if dtype == torch.float64 else dict(rtol=1e-4, atol=1e-5)

    y = layer_norm(x, w, b, eps=1e-5)
    assert y.dtype == dtype and y.device == x.device
    grads = torch.autograd.grad(y, (x, w, b), dout)
    y_ref = F.layer_norm(x, (d,), w, b, 1e-5)
    grads_ref = torch.autograd.grad(y_ref, (x, w, b), dout)
    torch.testing.assert_close(y, y_ref, **tol)
    for got, want in zip(grads, grads_ref):
        torch.testing.assert_close(got, want, **tol)


def test_torch_layer_norm_without_affine_and_half():
    g = torch.Generator().manual_seed(5)
    x = torch.randn(4, 6, generator=g, dtype=torch.float64)
    torch.testing.assert_close(layer_norm(x, None, None), F.layer_norm(x, (6,)), rtol=1e-12, atol=1e-12)
    xh = (torch.randn(4, 64, generator=g) * 300).half()  # a float16 sum of squares would overflow
    yh = layer_norm(xh, None, None)
    assert yh.dtype == torch.float16
    torch.testing.assert_close(yh.float(), F.layer_norm(xh.float(), (64,)), rtol=1e-3, atol=2e-3)


def test_torch_layer_norm_uses_no_builtin(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("the reference must not call a built-in layer norm")

    monkeypatch.setattr(F, "layer_norm", forbidden)
    monkeypatch.setattr(torch, "layer_norm", forbidden)
    monkeypatch.setattr(torch.nn.LayerNorm, "forward", forbidden)
    x = torch.randn(3, 5, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    out = layer_norm(x, torch.ones(5, dtype=torch.float64), torch.zeros(5, dtype=torch.float64))
    expected = (x - x.mean(-1, keepdim=True)) / torch.sqrt(x.var(-1, unbiased=False, keepdim=True) + 1e-5)
    torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)


def test_torch_layer_norm_errors():
    x = torch.randn(3, 5)
    with pytest.raises(ValueError, match="weight"):
        layer_norm(x, torch.ones(4), None)
    with pytest.raises(ValueError, match="bias"):
        layer_norm(x, None, torch.ones(6))
    with pytest.raises(ValueError, match="eps"):
        layer_norm(x, None, None, eps=0.0)


@pytest.mark.parametrize(
    ("normalized_shape", "shape", "kwargs"),
    [
        (8, (4, 8), {}),
        ((3, 8), (2, 3, 8), {}),
        (8, (2, 5, 8), dict(elementwise_affine=False)),
        (8, (4, 8), dict(bias=False, eps=1e-3)),
    ],
)
def test_layernorm_module_matches_torch(normalized_shape, shape, kwargs):
    ours = LayerNorm(normalized_shape, dtype=torch.float64, **kwargs)
    ref = torch.nn.LayerNorm(normalized_shape, dtype=torch.float64, **kwargs)
    check_module_against_torch(ours, ref, shape, torch.Generator().manual_seed(7))
    ref2 = torch.nn.LayerNorm(normalized_shape, dtype=torch.float64, **kwargs)
    ref2.load_state_dict(ours.state_dict())  # and back into torch's module


def test_layernorm_module_rejects_wrong_trailing_shape():
    with pytest.raises(ValueError, match="x"):
        LayerNorm(8)(torch.randn(3, 7))
    with pytest.raises(ValueError, match="x"):
        LayerNorm((2, 8))(torch.randn(8))


# ---------------------------------------------------------------- the maths cores the book shows


def test_cores_match_torch(rng):
    """normalize_last_axis, layernorm_core_*, instancenorm_core and groupnorm_core called directly."""
    from regnorm_lab.layer_instance_norm import (
        groupnorm_core,
        instancenorm_core,
        layernorm_core_backward,
        layernorm_core_forward,
        normalize_last_axis,
    )

    x = rng.normal(2.0, 3.0, size=(6, 10))
    gamma, beta, dout = rng.normal(1.0, 0.3, size=10), rng.normal(size=10), rng.normal(size=(6, 10))
    x_hat, inv_std = normalize_last_axis(x, 1e-5)
    np.testing.assert_allclose(x_hat, (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-5))
    assert inv_std.shape == (6, 1)
    out, cache = layernorm_core_forward(x, gamma, beta, 1e-5)
    xt, gt, bt = (torch.tensor(a, requires_grad=True) for a in (x, gamma, beta))
    yt = F.layer_norm(xt, (10,), gt, bt, 1e-5)
    np.testing.assert_allclose(out, yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    for ours, theirs in zip(layernorm_core_backward(dout, cache), torch.autograd.grad(yt, (xt, gt, bt), T(dout))):
        np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-9, atol=1e-12)
    x4, g6, b6 = rng.normal(1.0, 2.0, size=(2, 6, 3, 4)), rng.normal(size=6), rng.normal(size=6)
    np.testing.assert_allclose(instancenorm_core(x4, 1e-5), F.instance_norm(T(x4), eps=1e-5).numpy(), atol=1e-10)
    np.testing.assert_allclose(
        groupnorm_core(x4, 3, g6, b6, 1e-5), F.group_norm(T(x4), 3, T(g6), T(b6), 1e-5).numpy(), atol=1e-10
    )
