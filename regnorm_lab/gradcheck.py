"""Numerical gradients by central differences, to check every hand-written backward pass.

The central difference ``(f(x + h) - f(x - h)) / (2 h)`` has truncation error
``O(h**2)``, against ``O(h)`` for the one-sided form, so with float64 and
``h = 1e-6`` analytic and numerical gradients typically agree to 1e-7 or better
in relative terms (the CS231n convention).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["numerical_gradient", "numerical_gradient_array", "rel_error"]


def numerical_gradient(f: Callable[[np.ndarray], float], x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Gradient of a scalar function by central differences.

    Args:
        f: Function of one array returning a scalar.
        x: Point at which to differentiate; use float64 for meaningful results.
            It is not modified: the function works on a private copy.
        h: Step size.

    Returns:
        ``df/dx`` with the shape of ``x``.

    Shape:
        x: any shape; returns the same shape.
    """
    if h <= 0:
        raise ValueError(f"h must be > 0, got {h!r}")
    # Perturb a private copy so the caller's array is never touched, even if f raises.
    xp = np.array(x, dtype=np.result_type(x, np.float64), copy=True)
    grad = np.zeros_like(xp)
    flat, gflat = xp.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        fp = float(f(xp))
        flat[i] = old - h
        fm = float(f(xp))
        flat[i] = old  # restore before the next coordinate
        gflat[i] = (fp - fm) / (2.0 * h)
    return grad


def numerical_gradient_array(
    f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, dout: np.ndarray, h: float = 1e-6
) -> np.ndarray:
    """Gradient of ``sum(f(x) * dout)`` for an array-valued ``f`` (a vector-Jacobian product).

    This is what a backward pass computes: given the upstream gradient ``dout``
    of the output, the gradient with respect to the input.

    Args:
        f: Function of one array returning an array of the shape of ``dout``.
        x: Point at which to differentiate; not modified.
        dout: Upstream gradient.
        h: Step size.

    Returns:
        The gradient with the shape of ``x``.

    Shape:
        x: any shape; dout: the shape of ``f(x)``; returns the shape of ``x``.
    """
    dout = np.asarray(dout)
    return numerical_gradient(lambda z: float(np.sum(np.asarray(f(z)) * dout)), x, h)


def rel_error(a: np.ndarray, b: np.ndarray) -> float:
    """Maximum elementwise relative error ``|a - b| / max(1e-8, |a| + |b|)``.

    The floor in the denominator keeps the error finite (and tiny) where both
    values are 0, as in the CS231n assignments.

    Shape:
        a, b: broadcastable shapes; returns a Python float.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.size == 0 and b.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))
