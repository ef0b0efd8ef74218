"""Batch norm references against torch.nn.BatchNorm1d, autograd and numerical gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import strategies as st

from regnorm_lab.batch_norm import BatchNorm1d, batchnorm_backward, batchnorm_forward
from regnorm_lab.gradcheck import numerical_gradient_array, rel_error

from _norm_helpers import (
    assert_forward_backward_match,
    assert_grads_match_autograd,
    assert_grads_match_numerical,
    assert_parameter_grads_match,
    load_random_parameters,
    norm_property,
)

SHAPES = [(2, 3), (7, 5), (64, 16)]


def _params(rng, d):
    gamma = rng.normal(1.0, 0.5, size=d)
    beta = rng.normal(0.0, 0.5, size=d)
    running_mean = rng.normal(size=d)
    running_var = rng.uniform(0.5, 2.0, size=d)
    return gamma, beta, running_mean, running_var


def _torch_bn(gamma, beta, running_mean, running_var, momentum=0.1, eps=1e-5):
    """An nn.BatchNorm1d in float64 holding the given parameters and running statistics."""
    bn = torch.nn.BatchNorm1d(len(gamma), eps=eps, momentum=momentum, dtype=torch.float64)
    with torch.no_grad():
        bn.weight.copy_(torch.from_numpy(gamma))
        bn.bias.copy_(torch.from_numpy(beta))
        bn.running_mean.copy_(torch.from_numpy(running_mean))
        bn.running_var.copy_(torch.from_numpy(running_var))
    return bn


# ---------------------------------------------------------------- numpy forward


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("momentum", [0.1, 0.0, 0.3, 1.0])
def test_forward_training_matches_torch(rng, shape, momentum):
    x = rng.normal(2.0, 3.0, size=shape)
    gamma, beta, rm, rv = _params(rng, shape[1])
    out, _, new_rm, new_rv = batchnorm_forward(x, gamma, beta, rm, rv, training=True, momentum=momentum)
    bn = _torch_bn(gamma, beta, rm, rv, momentum=momentum).train()
    expected = bn(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(new_rm, bn.running_mean.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(new_rv, bn.running_var.numpy(), rtol=1e-12, atol=1e-14)


def test_running_var_uses_unbiased_variance(rng):
    # With momentum 1 the running statistics are exactly the batch's, by formula.
    x = rng.normal(size=(5, 3))
    gamma, beta, rm, rv = _params(rng, 3)
    _, _, new_rm, new_rv = batchnorm_forward(x, gamma, beta, rm, rv, momentum=1.0)
    np.testing.assert_allclose(new_rm, x.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(new_rv, x.var(axis=0, ddof=1), rtol=1e-12)


def test_output_uses_biased_variance(rng):
    x = rng.normal(size=(4, 3))
    ones, zeros = np.ones(3), np.zeros(3)
    out, *_ = batchnorm_forward(x, ones, zeros, zeros, ones, eps=1e-5)
    expected = (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0, ddof=0) + 1e-5)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("eps", [1e-5, 1e-3])
def test_constant_and_tiny_variance_features(rng, eps):
    # feature 0 constant (x_hat = 0, out = beta); feature 1 with variance 1e-8 << eps,
    # where eps dominates the denominator; feature 2 ordinary.
    x = np.stack([np.full(6, 3.0), 5.0 + 1e-4 * rng.normal(size=6), rng.normal(size=6)], axis=1)
    gamma, beta, rm, rv = _params(rng, 3)
    out, _, new_rm, new_rv = batchnorm_forward(x, gamma, beta, rm, rv, eps=eps)
    bn = _torch_bn(gamma, beta, rm, rv, eps=eps).train()
    np.testing.assert_allclose(out, bn(torch.from_numpy(x)).detach().numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(out[:, 0], np.full(6, beta[0]), atol=1e-12)
    np.testing.assert_allclose(new_rv, bn.running_var.numpy(), rtol=1e-12)


def test_running_statistics_over_several_steps(rng):
    d = 4
    gamma, beta, _, _ = _params(rng, d)
    rm, rv = np.zeros(d), np.ones(d)
    bn = _torch_bn(gamma, beta, rm, rv, momentum=0.2).train()
    for step in range(6):
        x = rng.normal(step, 1.0 + step, size=(8 + step, d))
        out, _, rm, rv = batchnorm_forward(x, gamma, beta, rm, rv, momentum=0.2)
        expected = bn(torch.from_numpy(x)).detach().numpy()
        np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(rm, bn.running_mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(rv, bn.running_var.numpy(), rtol=1e-12)
    # then evaluation with the accumulated statistics
    x = rng.normal(size=(3, d))
    out, _, rm2, rv2 = batchnorm_forward(x, gamma, beta, rm, rv, training=False)
    np.testing.assert_allclose(out, bn.eval()(torch.from_numpy(x)).detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(rm2, rm)
    np.testing.assert_array_equal(rv2, rv)


@pytest.mark.parametrize("n", [1, 2, 9])
def test_eval_uses_running_stats(rng, n):
    x = rng.normal(size=(n, 3))
    gamma, beta, rm, rv = _params(rng, 3)
    out, _, new_rm, new_rv = batchnorm_forward(x, gamma, beta, rm, rv, training=False)
    np.testing.assert_allclose(out, gamma * (x - rm) / np.sqrt(rv + 1e-5) + beta, rtol=1e-12, atol=1e-12)
    bn = _torch_bn(gamma, beta, rm, rv).eval()
    np.testing.assert_allclose(out, bn(torch.from_numpy(x)).detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(new_rm, rm)
    np.testing.assert_array_equal(new_rv, rv)


def test_float32_in_float32_out(rng):
    x = rng.normal(size=(5, 3)).astype(np.float32)
    ones, zeros = np.ones(3, np.float32), np.zeros(3, np.float32)
    out, _, new_rm, new_rv = batchnorm_forward(x, ones, zeros, zeros, ones)
    assert out.dtype == np.float32 and new_rm.dtype == np.float32 and new_rv.dtype == np.float32


def test_float32_large_mean_is_stable(rng):
    # mean 1e4, std 1 in float32: must match a float64 computation to ~1e-3.
    x = (1e4 + rng.standard_normal((4096, 32))).astype(np.float32)
    ones, zeros = np.ones(32, np.float32), np.zeros(32, np.float32)
    out, *_ = batchnorm_forward(x, ones, zeros, zeros, ones)
    x64 = x.astype(np.float64)
    expected = (x64 - x64.mean(axis=0)) / np.sqrt(x64.var(axis=0) + 1e-5)
    # float32 cannot hold the mean closer than half its spacing at 1e4 (4.9e-4);
    # a float32 running sum over axis 0 is off by ~1e-2 here.
    np.testing.assert_allclose(out, expected, atol=7e-4)


# ---------------------------------------------------------------- numpy backward


@pytest.mark.parametrize("shape", SHAPES)
def test_backward_matches_autograd(rng, shape):
    x = rng.normal(1.0, 2.0, size=shape)
    dout = rng.normal(size=shape)
    gamma, beta, rm, rv = _params(rng, shape[1])
    _, cache, _, _ = batchnorm_forward(x, gamma, beta, rm, rv)
    dx, dgamma, dbeta = batchnorm_backward(dout, cache)

    def torch_bn(xt, gt, bt):
        return F.batch_norm(xt, torch.tensor(rm), torch.tensor(rv), gt, bt, training=True, eps=1e-5)

    assert_grads_match_autograd(torch_bn, (x, gamma, beta), (dx, dgamma, dbeta), dout)


# N == 2 is left to the autograd test: there dx is ~0 up to eps effects, so its
# relative error against finite differences is noise.
@pytest.mark.parametrize("shape", [(3, 4), (6, 2)])
def test_backward_matches_numerical_gradient(rng, shape):
    x = rng.normal(size=shape)
    dout = rng.normal(size=shape)
    gamma, beta, rm, rv = _params(rng, shape[1])
    _, cache, _, _ = batchnorm_forward(x, gamma, beta, rm, rv)
    dx, dgamma, dbeta = batchnorm_backward(dout, cache)

    def out_of(x_, g_, b_):
        return batchnorm_forward(x_, g_, b_, rm, rv)[0]

    assert_grads_match_numerical(out_of, (x, gamma, beta), (dx, dgamma, dbeta), dout, (1e-6, 1e-7, 1e-7))


def test_backward_eval_mode(rng):
    x = rng.normal(size=(4, 3))
    dout = rng.normal(size=(4, 3))
    gamma, beta, rm, rv = _params(rng, 3)
    _, cache, _, _ = batchnorm_forward(x, gamma, beta, rm, rv, training=False)
    dx, dgamma, dbeta = batchnorm_backward(dout, cache)
    num = numerical_gradient_array(lambda v: batchnorm_forward(v, gamma, beta, rm, rv, training=False)[0], x, dout)
    assert rel_error(dx, num) < 1e-7
    np.testing.assert_allclose(dx, dout * gamma / np.sqrt(rv + 1e-5), rtol=1e-12)
    np.testing.assert_allclose(dbeta, dout.sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(dgamma, (dout * (x - rm) / np.sqrt(rv + 1e-5)).sum(axis=0), rtol=1e-10)


# ---------------------------------------------------------------- properties


@norm_property(n=st.integers(2, 40), d=st.integers(1, 6), loc=st.floats(-100, 100), scale=st.floats(0.5, 100))
def test_property_normalised_moments(seed, n, d, loc, scale):
    x = np.random.default_rng(seed).normal(loc, scale, size=(n, d))
    eps = 1e-5
    out, *_ = batchnorm_forward(x, np.ones(d), np.zeros(d), np.zeros(d), np.ones(d), eps=eps)
    np.testing.assert_allclose(out.mean(axis=0), 0.0, atol=1e-9)
    v = x.var(axis=0)
    # with gamma=1, beta=0 the batch variance of the output is v / (v + eps): 1 up to eps
    np.testing.assert_allclose(out.var(axis=0), v / (v + eps), rtol=1e-9)


@norm_property(n=st.integers(2, 40), d=st.integers(1, 6), a=st.floats(0.5, 50), c=st.floats(-1e3, 1e3))
def test_property_invariant_to_positive_affine_map(seed, n, d, a, c):
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 3.0, size=(n, d))
    x[0] = x[1:].max(axis=0) + 10.0  # every feature's variance >= 25 / n, far above eps
    gamma, beta = rng.normal(size=d), rng.normal(size=d)
    zeros, ones = np.zeros(d), np.ones(d)
    out, *_ = batchnorm_forward(x, gamma, beta, zeros, ones)
    moved, *_ = batchnorm_forward(a * x + c, gamma, beta, zeros, ones)
    # exactly: a*(x - m) / sqrt(a**2 v + eps) = (x - m) / sqrt(v + eps / a**2)
    exact, *_ = batchnorm_forward(x, gamma, beta, zeros, ones, eps=1e-5 / a**2)
    np.testing.assert_allclose(moved, exact, rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(moved, out, rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------- errors, no mutation


def test_errors_name_the_argument(rng):
    x = rng.normal(size=(4, 3))
    gamma, beta, rm, rv = _params(rng, 3)
    cases = [
        ("x", dict(x=x[0])),
        ("x", dict(x=x[None])),
        ("x", dict(x=x[:1])),  # N == 1 in training
        ("eps", dict(eps=0.0)),
        ("eps", dict(eps=-1e-5)),
        ("momentum", dict(momentum=-0.1)),
        ("momentum", dict(momentum=1.5)),
        ("gamma", dict(gamma=gamma[:2])),
        ("beta", dict(beta=np.ones((1, 3)))),
        ("running_mean", dict(running_mean=rm[:2])),
        ("running_var", dict(running_var=np.ones(4))),
    ]
    for name, change in cases:
        args = dict(x=x, gamma=gamma, beta=beta, running_mean=rm, running_var=rv) | change
        with pytest.raises(ValueError, match=name):
            batchnorm_forward(**args)
    # N == 1 is fine when not training (running statistics need no batch)
    out, *_ = batchnorm_forward(x[:1], gamma, beta, rm, rv, training=False)
    assert out.shape == (1, 3)


@pytest.mark.parametrize("training", [True, False])
def test_inputs_not_modified(rng, training):
    x = rng.normal(size=(5, 3))
    dout = rng.normal(size=(5, 3))
    args = (x, *_params(rng, 3))
    copies = [a.copy() for a in args]
    _, cache, new_rm, new_rv = batchnorm_forward(*args, training=training)
    assert new_rm is not args[3] and new_rv is not args[4]
    d0 = dout.copy()
    batchnorm_backward(dout, cache)
    for a, c in zip(args, copies):
        np.testing.assert_array_equal(a, c)
    np.testing.assert_array_equal(dout, d0)


# ---------------------------------------------------------------- torch module


def _pair(num_features, **kwargs):
    """Our BatchNorm1d and torch's, in float64, with the same random affine parameters."""
    ours = BatchNorm1d(num_features, dtype=torch.float64, **kwargs)
    ref = torch.nn.BatchNorm1d(num_features, dtype=torch.float64, **kwargs)
    load_random_parameters(ours, ref, torch.Generator().manual_seed(0))  # weight, then bias (if affine)
    return ours, ref


def _assert_same_state(ours, ref):
    s1, s2 = ours.state_dict(), ref.state_dict()
    assert list(s1) == list(s2)
    for k in s2:
        torch.testing.assert_close(s1[k], s2[k], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape", [(2, 3), (16, 5), (4, 3, 7)])
@pytest.mark.parametrize("momentum", [0.1, None])
def test_module_matches_torch_over_steps(shape, momentum):
    c = shape[1]
    ours, ref = _pair(c, momentum=momentum)
    g = torch.Generator().manual_seed(1)
    for step in range(4):
        x = torch.randn(shape, generator=g, dtype=torch.float64) * (1 + step) + step
        dout = torch.randn(shape, generator=g, dtype=torch.float64)
        assert_forward_backward_match(ours, ref, x, dout)
    assert_parameter_grads_match(ours, ref)  # weight and bias, accumulated over the steps
    _assert_same_state(ours, ref)
    assert int(ours.num_batches_tracked) == 4
    ours.eval(), ref.eval()
    x = torch.randn(shape, generator=g, dtype=torch.float64)
    torch.testing.assert_close(ours(x), ref(x), rtol=1e-10, atol=1e-12)
    _assert_same_state(ours, ref)  # evaluation leaves the buffers alone


@pytest.mark.parametrize("kwargs", [dict(affine=False), dict(track_running_stats=False), dict(eps=1e-2)])
def test_module_options_match_torch(kwargs):
    ours, ref = _pair(4, **kwargs)
    g = torch.Generator().manual_seed(2)
    for mode in ("train", "eval"):
        getattr(ours, mode)(), getattr(ref, mode)()
        x = torch.randn(6, 4, generator=g, dtype=torch.float64) * 3 + 1
        torch.testing.assert_close(ours(x), ref(x), rtol=1e-10, atol=1e-12)
    _assert_same_state(ours, ref)


def test_module_state_dict_round_trip():
    ours, ref = _pair(3)
    g = torch.Generator().manual_seed(3)
    ours.train()
    for _ in range(3):
        ours(torch.randn(5, 3, generator=g, dtype=torch.float64))
    back = torch.nn.BatchNorm1d(3, dtype=torch.float64)
    back.load_state_dict(ours.state_dict())  # ours -> torch
    _assert_same_state(ours, back)
    assert set(ours.state_dict()) == {"weight", "bias", "running_mean", "running_var", "num_batches_tracked"}


def test_module_float32_default_dtype_and_errors():
    bn = BatchNorm1d(3)
    assert bn.weight.dtype == torch.float32 and bn.num_batches_tracked.dtype == torch.long
    with pytest.raises(ValueError, match="x"):
        bn(torch.randn(1, 3))  # one value per channel in training
    with pytest.raises(ValueError, match="x"):
        bn(torch.randn(2, 3, 4, 5))
    with pytest.raises(ValueError, match="x"):
        bn(torch.randn(4, 2))
    with pytest.raises(ValueError, match="eps"):
        BatchNorm1d(3, eps=0)
    with pytest.raises(ValueError, match="momentum"):
        BatchNorm1d(3, momentum=2.0)
    bn.eval()
    assert bn(torch.randn(1, 3)).shape == (1, 3)  # fine in evaluation mode


# ---------------------------------------------------------------- the maths core the book shows


def test_train_core_matches_torch_forward_and_autograd(rng):
    """batchnorm_train_forward/backward, called directly, against F.batch_norm and its autograd (float64)."""
    from regnorm_lab.batch_norm import batchnorm_train_backward, batchnorm_train_forward

    x = rng.normal(3.0, 2.0, size=(9, 4))
    gamma, beta = rng.normal(1.0, 0.5, size=4), rng.normal(size=4)
    dout = rng.normal(size=x.shape)
    out, cache, mu, var = batchnorm_train_forward(x, gamma, beta, 1e-5)
    xt, gt, bt = (torch.tensor(a, requires_grad=True) for a in (x, gamma, beta))
    yt = F.batch_norm(xt, None, None, gt, bt, training=True, eps=1e-5)
    np.testing.assert_allclose(out, yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(mu, x.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(var, x.var(axis=0), rtol=1e-12)  # biased, as torch normalises
    theirs = torch.autograd.grad(yt, (xt, gt, bt), torch.from_numpy(dout))
    for ours, t in zip(batchnorm_train_backward(dout, cache), theirs):
        np.testing.assert_allclose(ours, t.numpy(), rtol=1e-9, atol=1e-12)
