"""Tests for regnorm_lab.weight_decay: L2-in-the-loss vs decoupled weight decay against torch.optim."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from regnorm_lab.penalties import l2_grad
from regnorm_lab.weight_decay import (
    AdamState,
    adam_init,
    adam_l2_step,
    adam_trajectory,
    adamw_step,
    sgd_l2_step,
    sgd_weight_decay_step,
)


def _grads(rng, n_steps=12, shape=(3, 4)):
    # Coordinates with gradient scales spanning four decades, so Adam's per-coordinate
    # normalisation matters; fixed in advance so numpy and torch see identical gradients.
    scales = 10.0 ** rng.uniform(-2, 2, size=shape)
    return [scales * rng.normal(size=shape) for _ in range(n_steps)]


def _torch_run(opt_cls, w0, grads, **kw):
    p = torch.nn.Parameter(torch.tensor(w0, dtype=torch.float64))
    opt = opt_cls([p], **kw)
    out = []
    for g in grads:
        p.grad = torch.tensor(g, dtype=torch.float64)
        opt.step()
        out.append(p.detach().numpy().copy())
    return out


@pytest.mark.parametrize(("lr", "lam", "betas", "eps"), [(1e-2, 0.05, (0.9, 0.999), 1e-8), (3e-2, 0.3, (0.5, 0.9), 1e-3)])
def test_adam_l2_step_matches_torch_adam(lr, lam, betas, eps, rng):
    w0 = rng.normal(size=(3, 4))
    grads = _grads(rng)
    # torch's Adam(weight_decay=wd) adds wd * w to the gradient: wd = 2 * lam for the penalty lam * ||w||^2.
    expected = _torch_run(torch.optim.Adam, w0, grads, lr=lr, betas=betas, eps=eps, weight_decay=2 * lam)
    w, state = w0, None
    for g, ref in zip(grads, expected):
        w, state = adam_l2_step(w, g, state, lr=lr, lam=lam, betas=betas, eps=eps)
        np.testing.assert_allclose(w, ref, rtol=1e-10, atol=1e-12)
    assert state.step == len(grads)


@pytest.mark.parametrize(("lr", "wd", "betas", "eps"), [(1e-2, 0.1, (0.9, 0.999), 1e-8), (3e-2, 0.5, (0.5, 0.9), 1e-3)])
def test_adamw_step_matches_torch_adamw(lr, wd, betas, eps, rng):
    w0 = rng.normal(size=(3, 4))
    grads = _grads(rng)
    expected = _torch_run(torch.optim.AdamW, w0, grads, lr=lr, betas=betas, eps=eps, weight_decay=wd)
    w, state = w0, None
    for g, ref in zip(grads, expected):
        w, state = adamw_step(w, g, state, lr=lr, weight_decay=wd, betas=betas, eps=eps)
        np.testing.assert_allclose(w, ref, rtol=1e-10, atol=1e-12)


def test_adam_state_matches_torch_moments(rng):
    w0 = rng.normal(size=5)
    grads = _grads(rng, n_steps=4, shape=(5,))
    p = torch.nn.Parameter(torch.tensor(w0))
    opt = torch.optim.Adam([p], lr=1e-2, weight_decay=0.2)
    w, state = w0, None
    for g in grads:
        p.grad = torch.tensor(g)
        opt.step()
        w, state = adam_l2_step(w, g, state, lr=1e-2, lam=0.1)
    ts = opt.state[p]
    np.testing.assert_allclose(state.exp_avg, ts["exp_avg"].numpy(), rtol=1e-12)
    np.testing.assert_allclose(state.exp_avg_sq, ts["exp_avg_sq"].numpy(), rtol=1e-12)
    assert state.step == int(ts["step"])


@pytest.mark.parametrize(("lr", "lam"), [(0.1, 0.05), (0.01, 1.0)])
def test_sgd_l2_matches_torch_sgd_and_equals_weight_decay(lr, lam, rng):
    w0 = rng.normal(size=(2, 3))
    grads = _grads(rng, n_steps=5, shape=(2, 3))
    expected = _torch_run(torch.optim.SGD, w0, grads, lr=lr, weight_decay=2 * lam)
    w_l2, w_wd = w0, w0
    for g, ref in zip(grads, expected):
        w_l2 = sgd_l2_step(w_l2, g, lr=lr, lam=lam)
        w_wd = sgd_weight_decay_step(w_wd, g, lr=lr, weight_decay=2 * lam)
        np.testing.assert_allclose(w_l2, ref, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(w_wd, w_l2, rtol=1e-12, atol=1e-14)


def test_sgd_l2_uses_the_l2_penalty_gradient(rng):
    w, g = rng.normal(size=4), rng.normal(size=4)
    np.testing.assert_allclose(sgd_l2_step(w, g, lr=0.3, lam=0.7), w - 0.3 * (g + l2_grad(w, 0.7)), rtol=1e-14)


def test_without_decay_both_adam_variants_are_plain_adam(rng):
    w0 = rng.normal(size=6)
    grads = _grads(rng, n_steps=6, shape=(6,))
    expected = _torch_run(torch.optim.Adam, w0, grads, lr=1e-2)
    a, sa, b, sb = w0, None, w0, None
    for g in grads:
        a, sa = adam_l2_step(a, g, sa, lr=1e-2, lam=0.0)
        b, sb = adamw_step(b, g, sb, lr=1e-2, weight_decay=0.0)
    np.testing.assert_allclose(a, expected[-1], rtol=1e-12)
    np.testing.assert_allclose(b, expected[-1], rtol=1e-12)


def test_under_adam_l2_and_decoupled_decay_differ():
    # Two weights start at 1; their data gradients are zero-mean (alternating sign) with
    # scales 1e-3 and 10. With the "same" strength (wd = 2 * lam), AdamW shrinks both by
    # (1 - lr * wd) per step. Adam + L2 divides the penalty gradient by sqrt(v_hat): the
    # small-gradient weight is driven to ~0, the large-gradient weight is hardly decayed.
    scales = np.array([1e-3, 10.0])

    def grad_fn(w, t):
        return scales * (1.0 if t % 2 == 0 else -1.0)

    n, lr, wd = 200, 1e-2, 0.1
    l2 = adam_trajectory(adam_l2_step, np.ones(2), grad_fn, n, lr=lr, lam=wd / 2)[-1]
    dw = adam_trajectory(adamw_step, np.ones(2), grad_fn, n, lr=lr, weight_decay=wd)[-1]
    pure_decay = (1.0 - lr * wd) ** n
    np.testing.assert_allclose(dw, pure_decay, rtol=0.05)  # decoupled: uniform shrinkage
    assert dw[0] == pytest.approx(dw[1], rel=1e-3)
    assert l2[0] < 0.1 * pure_decay  # small-gradient weight decayed far more than asked
    assert l2[1] > 0.95  # large-gradient weight decayed far less
    assert np.max(np.abs(l2 - dw)) > 0.1


def test_adam_trajectory_matches_torch_and_records_every_step(rng):
    w0 = rng.normal(size=3)
    grads = _grads(rng, n_steps=5, shape=(3,))
    path = adam_trajectory(adamw_step, w0, lambda w, t: grads[t], 5, lr=1e-2, weight_decay=0.3)
    assert path.shape == (6, 3)
    np.testing.assert_array_equal(path[0], w0)
    expected = _torch_run(torch.optim.AdamW, w0, grads, lr=1e-2, weight_decay=0.3)
    np.testing.assert_allclose(path[1:], np.stack(expected), rtol=1e-10, atol=1e-12)
    assert adam_trajectory(adam_l2_step, w0, lambda w, t: grads[t], 0, lr=1e-2, lam=0.1).shape == (1, 3)


def test_inputs_and_state_are_not_modified(rng):
    w, g = rng.normal(size=4), rng.normal(size=4)
    w_before, g_before = w.copy(), g.copy()
    _, state = adam_l2_step(w, g, None, lr=0.1, lam=0.1)
    m_before, v_before = state.exp_avg.copy(), state.exp_avg_sq.copy()
    for step, kw in ((adam_l2_step, {"lam": 0.1}), (adamw_step, {"weight_decay": 0.1})):
        new_w, new_state = step(w, g, state, lr=0.1, **kw)
        assert not np.shares_memory(new_w, w)
        assert new_state is not state and new_state.step == state.step + 1
    sgd_l2_step(w, g, lr=0.1, lam=0.1)
    sgd_weight_decay_step(w, g, lr=0.1, weight_decay=0.1)
    np.testing.assert_array_equal(w, w_before)
    np.testing.assert_array_equal(g, g_before)
    np.testing.assert_array_equal(state.exp_avg, m_before)
    np.testing.assert_array_equal(state.exp_avg_sq, v_before)
    assert state.step == 1


def test_adam_init_is_zero_state():
    s = adam_init(np.ones((2, 3)))
    assert isinstance(s, AdamState) and s.step == 0
    np.testing.assert_array_equal(s.exp_avg, np.zeros((2, 3)))
    np.testing.assert_array_equal(s.exp_avg_sq, np.zeros((2, 3)))


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda w: adam_l2_step(w, w, None, lr=-1.0, lam=0.1), "lr"),
        (lambda w: adam_l2_step(w, w, None, lr=0.1, lam=-0.1), "lam"),
        (lambda w: adamw_step(w, w, None, lr=0.1, weight_decay=-0.1), "weight_decay"),
        (lambda w: adamw_step(w, w, None, lr=0.1, weight_decay=0.1, eps=-1.0), "eps"),
        (lambda w: adamw_step(w, w, None, lr=0.1, weight_decay=0.1, betas=(1.0, 0.9)), r"betas\[0\]"),
        (lambda w: adam_l2_step(w, w, None, lr=0.1, lam=0.1, betas=(0.9, -0.1)), r"betas\[1\]"),
        (lambda w: adam_l2_step(w, np.ones(4), None, lr=0.1, lam=0.1), "grad"),
        (lambda w: adam_l2_step(w, w, adam_init(np.ones(4)), lr=0.1, lam=0.1), "state"),
        (lambda w: sgd_l2_step(w, w, lr=0.1, lam=-1.0), "lam"),
        (lambda w: sgd_weight_decay_step(w, w, lr=-0.1, weight_decay=0.1), "lr"),
        (lambda w: adam_trajectory(adamw_step, w, lambda v, t: v, -1, lr=0.1, weight_decay=0.1), "n_steps"),
    ],
)
def test_bad_arguments_raise_naming_them(call, name):
    with pytest.raises(ValueError, match=name):
        call(np.ones(3))
