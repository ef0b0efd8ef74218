"""Tests for regnorm_lab.penalties (ps01): formulas, properties, gradients, scikit-learn semantics."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays
from sklearn.linear_model import ElasticNet, Lasso, Ridge

from regnorm_lab.gradcheck import numerical_gradient, rel_error
from regnorm_lab.penalties import (
    elastic_net_penalty,
    l1_grad,
    l1_penalty,
    l2_grad,
    l2_penalty,
    soft_threshold,
)

SHAPES = [(), (7,), (2, 3, 4)]
finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)
weights = arrays(np.float64, array_shapes(min_dims=0, max_dims=3, max_side=5), elements=finite)
strength = st.floats(0.0, 10.0, allow_nan=False)


def _values(w: np.ndarray) -> list[float]:
    return [float(v) for v in np.asarray(w).reshape(-1)]


# --- values against the formulas, written with plain Python arithmetic -------------------------


@pytest.mark.parametrize("shape", SHAPES)
def test_penalty_values_match_formulas(shape, rng):
    w = rng.normal(size=shape)
    vals = _values(w)
    assert l1_penalty(w, 0.3) == pytest.approx(0.3 * math.fsum(abs(v) for v in vals), rel=1e-12)
    assert l2_penalty(w, 0.3) == pytest.approx(0.3 * math.fsum(v * v for v in vals), rel=1e-12)
    expected_en = 0.2 * math.fsum(abs(v) for v in vals) + 0.7 * math.fsum(v * v for v in vals)
    assert elastic_net_penalty(w, 0.2, 0.7) == pytest.approx(expected_en, rel=1e-12)


@pytest.mark.parametrize("fn", [l1_penalty, l2_penalty])
def test_penalties_return_python_float(fn, rng):
    assert type(fn(rng.normal(size=(3, 2)), 0.5)) is float
    assert type(fn(np.float32(2.0), 0.5)) is float
    assert type(elastic_net_penalty(rng.normal(size=4), 0.1, 0.2)) is float


def test_small_hand_example():
    w = np.array([[-1.5, 0.0], [2.0, 0.5]])
    assert l1_penalty(w, 0.1) == pytest.approx(0.1 * 4.0)
    assert l2_penalty(w, 0.1) == pytest.approx(0.1 * (2.25 + 4.0 + 0.25))
    np.testing.assert_array_equal(l1_grad(w, 0.1), [[-0.1, 0.0], [0.1, 0.1]])
    np.testing.assert_allclose(l2_grad(w, 0.1), [[-0.3, 0.0], [0.4, 0.1]])
    np.testing.assert_allclose(soft_threshold(w, 1.0), [[-0.5, 0.0], [1.0, 0.0]])


@pytest.mark.parametrize("shape", SHAPES)
def test_grads_and_prox_match_formulas_elementwise(shape, rng):
    w = rng.normal(size=shape)
    g1, g2, st_ = l1_grad(w, 0.4), l2_grad(w, 0.4), soft_threshold(w, 0.5)
    for out in (g1, g2, st_):
        assert isinstance(out, np.ndarray) and out.shape == w.shape
    for v, a, b, c in zip(_values(w), _values(g1), _values(g2), _values(st_)):
        assert a == pytest.approx(0.4 * math.copysign(1.0, v) if v != 0 else 0.0)
        assert b == pytest.approx(0.8 * v)
        assert c == pytest.approx(math.copysign(max(abs(v) - 0.5, 0.0), v))


def test_l1_grad_is_zero_at_zero():
    np.testing.assert_array_equal(l1_grad(np.zeros(3), 2.0), np.zeros(3))


def test_l2_penalty_equals_torch():
    w = torch.randn(4, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    assert l2_penalty(w.numpy(), 0.01) == pytest.approx(float((w**2).sum() * 0.01), rel=1e-12)
    assert l1_penalty(w.numpy(), 0.01) == pytest.approx(float(w.abs().sum() * 0.01), rel=1e-12)


def test_grads_keep_float32_and_accept_integers():
    w32 = np.array([1.0, -2.0], dtype=np.float32)
    assert l1_grad(w32, 0.1).dtype == np.float32
    assert l2_grad(w32, 0.1).dtype == np.float32
    assert soft_threshold(w32, 0.1).dtype == np.float32
    np.testing.assert_allclose(l2_grad(np.array([1, -2]), 0.5), [1.0, -2.0])
    np.testing.assert_allclose(soft_threshold(np.array([3, -1]), 2), [1.0, 0.0])


# --- gradients against central differences --------------------------------------------------------


@pytest.mark.parametrize("shape", [(), (6,), (2, 3, 2)])
def test_l2_grad_matches_numerical_gradient(shape, rng):
    w = rng.normal(size=shape)
    num = numerical_gradient(lambda z: l2_penalty(z, 0.7), w)
    assert rel_error(l2_grad(w, 0.7), num) < 1e-7


@pytest.mark.parametrize("shape", [(), (6,), (2, 3, 2)])
def test_l1_grad_matches_numerical_gradient_away_from_kinks(shape, rng):
    # |w| is differentiable away from 0: keep every entry at least 0.1 from it.
    w = rng.uniform(0.1, 2.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)
    num = numerical_gradient(lambda z: l1_penalty(z, 0.7), w)
    assert rel_error(l1_grad(w, 0.7), num) < 1e-7


def test_elastic_net_gradient_is_sum_of_parts(rng):
    w = rng.uniform(0.1, 2.0, size=5) * rng.choice([-1.0, 1.0], size=5)
    num = numerical_gradient(lambda z: elastic_net_penalty(z, 0.3, 0.2), w)
    assert rel_error(l1_grad(w, 0.3) + l2_grad(w, 0.2), num) < 1e-7


# --- hypothesis properties ------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(w=weights, lam=strength, l2=strength)
def test_penalties_are_nonnegative(w, lam, l2):
    assert l1_penalty(w, lam) >= 0.0
    assert l2_penalty(w, lam) >= 0.0
    assert elastic_net_penalty(w, lam, l2) >= 0.0


@settings(max_examples=60, deadline=None)
@given(w=weights, lam=strength, c=st.floats(-100.0, 100.0, allow_nan=False))
def test_l1_is_absolutely_homogeneous_and_l2_quadratic(w, lam, c):
    assert l1_penalty(c * w, lam) == pytest.approx(abs(c) * l1_penalty(w, lam), rel=1e-9, abs=1e-9)
    assert l2_penalty(c * w, lam) == pytest.approx(c * c * l2_penalty(w, lam), rel=1e-9, abs=1e-9)


@settings(max_examples=100, deadline=None)
@given(w=st.floats(-10.0, 10.0, allow_nan=False), t=st.floats(0.0, 5.0, allow_nan=False))
def test_soft_threshold_minimises_the_prox_objective(w, t):
    z = float(soft_threshold(np.array(w), t))

    def objective(v):
        return 0.5 * (v - w) ** 2 + t * np.abs(v)

    # Optimality against a dense grid that contains 0 and w's neighbourhood.
    grid = np.concatenate([np.linspace(-16.0, 16.0, 32001), [0.0, w]])
    assert objective(z) <= objective(grid).min() + 1e-12
    # And the subgradient condition: 0 in (z - w) + t * d|z|.
    if z != 0.0:
        assert z - w + t * math.copysign(1.0, z) == pytest.approx(0.0, abs=1e-9)
    else:
        assert abs(w) <= t + 1e-12


@settings(max_examples=40, deadline=None)
@given(w=weights)
def test_soft_threshold_with_zero_threshold_is_identity(w):
    out = soft_threshold(w, 0.0)
    np.testing.assert_array_equal(out, w)
    assert not np.shares_memory(out, w)


# --- scikit-learn semantics: the penalties define the same optima ---------------------------------


def _regression(rng, n=60, d=5):
    X = rng.normal(size=(n, d))
    y = X @ np.array([2.0, -1.0, 0.0, 0.5, 0.0]) + 0.1 * rng.normal(size=n)
    return X, y


def test_ridge_optimum_is_stationary_for_l2_penalty(rng):
    # sklearn Ridge minimises ||y - X w||^2 + alpha ||w||^2 = squared error + l2_penalty(w, alpha).
    X, y = _regression(rng)
    w = Ridge(alpha=3.0, fit_intercept=False).fit(X, y).coef_
    grad = -2.0 * X.T @ (y - X @ w) + l2_grad(w, 3.0)
    assert np.max(np.abs(grad)) < 1e-8


def test_lasso_optimum_is_a_fixed_point_of_the_prox_step(rng):
    # sklearn Lasso minimises (1/2n)||y - X w||^2 + alpha ||w||_1 = data loss + l1_penalty(w, alpha);
    # its minimiser is the fixed point of w -> soft_threshold(w - lr * grad_data, lr * alpha).
    X, y = _regression(rng)
    n, alpha, lr = X.shape[0], 0.3, 0.1
    w = Lasso(alpha=alpha, fit_intercept=False, tol=1e-12, max_iter=100_000).fit(X, y).coef_
    assert np.any(w == 0.0)  # the case is sparse, so the threshold really acts
    grad = -X.T @ (y - X @ w) / n
    np.testing.assert_allclose(soft_threshold(w - lr * grad, lr * alpha), w, atol=1e-8)


def test_elastic_net_matches_sklearn_parametrisation(rng):
    # sklearn: alpha * l1_ratio * ||w||_1 + 0.5 * alpha * (1 - l1_ratio) * ||w||^2 -> Keras l1, l2.
    X, y = _regression(rng)
    n, alpha, ratio, lr = X.shape[0], 0.2, 0.6, 0.1
    l1, l2 = alpha * ratio, 0.5 * alpha * (1.0 - ratio)
    w = ElasticNet(alpha=alpha, l1_ratio=ratio, fit_intercept=False, tol=1e-12, max_iter=100_000).fit(X, y).coef_
    sk_penalty = alpha * ratio * np.abs(w).sum() + 0.5 * alpha * (1.0 - ratio) * (w**2).sum()
    assert elastic_net_penalty(w, l1, l2) == pytest.approx(sk_penalty, rel=1e-12)
    grad = -X.T @ (y - X @ w) / n + l2_grad(w, l2)
    np.testing.assert_allclose(soft_threshold(w - lr * grad, lr * l1), w, atol=1e-8)


# --- inputs untouched, errors ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda w: l1_penalty(w, 0.1),
        lambda w: l2_penalty(w, 0.1),
        lambda w: elastic_net_penalty(w, 0.1, 0.2),
        lambda w: l1_grad(w, 0.1),
        lambda w: l2_grad(w, 0.1),
        lambda w: soft_threshold(w, 0.1),
    ],
)
def test_inputs_are_not_modified(call, rng):
    w = rng.normal(size=(3, 4))
    before = w.copy()
    out = call(w)
    np.testing.assert_array_equal(w, before)
    if isinstance(out, np.ndarray):
        assert not np.shares_memory(out, w)


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda w: l1_penalty(w, -0.1), "lam"),
        (lambda w: l2_penalty(w, -1e-9), "lam"),
        (lambda w: l1_grad(w, -1.0), "lam"),
        (lambda w: l2_grad(w, -1.0), "lam"),
        (lambda w: elastic_net_penalty(w, -0.1, 0.1), "l1"),
        (lambda w: elastic_net_penalty(w, 0.1, -0.1), "l2"),
        (lambda w: soft_threshold(w, -0.5), "t"),
        (lambda w: l1_penalty(w, float("nan")), "lam"),
    ],
)
def test_negative_strengths_raise_naming_the_argument(call, name):
    with pytest.raises(ValueError, match=rf"\b{name}\b"):
        call(np.ones(3))


def test_zero_strength_is_allowed():
    w = np.array([1.0, -2.0])
    assert l1_penalty(w, 0.0) == 0.0
    assert elastic_net_penalty(w, 0.0, 0.0) == 0.0
    np.testing.assert_array_equal(l2_grad(w, 0), [0.0, 0.0])
