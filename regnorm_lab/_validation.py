"""Argument checks and dtype handling shared by the techniques, so each error names its argument the same way.

The technique modules open with their maths; everything that is not the
formula (is this argument valid? which float type do we compute in?) comes
from here, so that it does not stand between a reader and the formula.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "as_float_array",
    "check_nonnegative",
    "check_probability",
    "check_positive",
    "check_in_unit_interval",
]


def as_float_array(x: object) -> np.ndarray:
    """``x`` as a floating ndarray: integers and bools become float64, float arrays are not copied.

    Shape:
        x: any shape; returns the same shape.
    """
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    return x


def _as_float(name: str, value: object) -> float:
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number, got {value!r}") from None
    if math.isnan(v):
        raise ValueError(f"{name} must not be NaN")
    return v


def check_nonnegative(name: str, value: float) -> float:
    """Return ``value`` as a float, or raise ``ValueError`` naming ``name`` if it is below 0."""
    v = _as_float(name, value)
    if v < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return v


def check_positive(name: str, value: float) -> float:
    """Return ``value`` as a float, or raise ``ValueError`` naming ``name`` if it is not above 0."""
    v = _as_float(name, value)
    if v <= 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return v


def check_in_unit_interval(name: str, value: float) -> float:
    """Return ``value`` as a float, or raise ``ValueError`` naming ``name`` if it is outside [0, 1]."""
    v = _as_float(name, value)
    if not 0.0 <= v <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value!r}")
    return v


def check_probability(name: str, value: float) -> float:
    """A drop probability: like :func:`check_in_unit_interval`, worded for ``p``."""
    return check_in_unit_interval(name, value)
