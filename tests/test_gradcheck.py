"""regnorm_lab.gradcheck against analytic gradients and torch autograd."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from regnorm_lab.gradcheck import numerical_gradient, numerical_gradient_array, rel_error


def test_numerical_gradient_cubic(rng):
    x = rng.normal(size=(3, 4))
    grad = numerical_gradient(lambda z: float(np.sum(z**3)), x)
    np.testing.assert_allclose(grad, 3 * x**2, rtol=1e-6, atol=1e-8)


def test_numerical_gradient_quadratic_form(rng):
    a = rng.normal(size=(5, 5))
    x = rng.normal(size=5)
    grad = numerical_gradient(lambda z: float(z @ a @ z), x)
    np.testing.assert_allclose(grad, (a + a.T) @ x, rtol=1e-6, atol=1e-8)


def test_numerical_gradient_matches_autograd(rng):
    x = rng.normal(size=(4, 3))

    def f(z: np.ndarray) -> float:
        return float(np.sum(np.tanh(z) * np.exp(0.3 * z)))

    xt = torch.tensor(x, requires_grad=True)
    torch.sum(torch.tanh(xt) * torch.exp(0.3 * xt)).backward()
    assert rel_error(numerical_gradient(f, x), xt.grad.numpy()) < 1e-7


def test_numerical_gradient_array_linear_map(rng):
    a = rng.normal(size=(4, 6))
    x = rng.normal(size=6)
    dout = rng.normal(size=4)
    grad = numerical_gradient_array(lambda z: a @ z, x, dout)
    np.testing.assert_allclose(grad, a.T @ dout, rtol=1e-6, atol=1e-8)


def test_numerical_gradient_array_elementwise(rng):
    x = rng.normal(size=(2, 5))
    dout = rng.normal(size=(2, 5))
    grad = numerical_gradient_array(np.sin, x, dout)
    np.testing.assert_allclose(grad, np.cos(x) * dout, rtol=1e-6, atol=1e-8)


def test_inputs_not_modified(rng):
    x = rng.normal(size=(3, 3))
    dout = rng.normal(size=(3, 3))
    x0, d0 = x.copy(), dout.copy()
    numerical_gradient(lambda z: float(np.sum(z)), x)
    numerical_gradient_array(lambda z: z * 2, x, dout)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(dout, d0)


def test_bad_step():
    with pytest.raises(ValueError, match="h"):
        numerical_gradient(lambda z: float(np.sum(z)), np.ones(2), h=0.0)


def test_rel_error_values():
    assert rel_error(np.ones(3), np.ones(3)) == 0.0
    assert rel_error(1.0, 3.0) == pytest.approx(0.5)  # |1-3| / (1+3)
    # the maximum over elements
    assert rel_error(np.array([1.0, 1.0]), np.array([1.0, 2.0])) == pytest.approx(1 / 3)
    assert rel_error(np.array([2.0, -1.0]), np.array([3.0, 1.0])) == pytest.approx(1.0)
    assert rel_error(3.0, 1.0) == rel_error(1.0, 3.0)


def test_rel_error_safe_at_zero():
    assert rel_error(np.zeros(4), np.zeros(4)) == 0.0
    # a tiny absolute difference next to 0 is scaled by the 1e-8 floor, not by 0
    err = rel_error(np.zeros(2), np.full(2, 1e-12))
    assert np.isfinite(err) and err < 1e-3
