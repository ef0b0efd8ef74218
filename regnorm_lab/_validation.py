"""Argument checks and dtype handling shared by the techniques, so each error names its argument the same way.

The technique modules open with their maths; everything that is not the
formula (is this argument valid? which float type do we compute in?) comes
from here, so that it does not stand between a reader and the formula.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = [
    "as_float_array",
    "real_array",
    "check_vector",
    "check_last_dim_params",
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


def real_array(name: str, value: object) -> np.ndarray:
    """``value`` as a floating ndarray (integers and bools become float64), not copied when already floating.

    Raises ``ValueError`` naming ``name`` for a non-numeric dtype (strings, objects, complex).

    Shape:
        value: any shape; returns the same shape.
    """
    arr = np.asarray(value)
    if arr.dtype.kind != "f":
        if arr.dtype.kind not in "biu":
            raise ValueError(f"{name} must be a real-valued array, got dtype {arr.dtype}")
        arr = arr.astype(np.float64)
    return arr


def check_vector(name: str, value: object, size: int, what: str) -> np.ndarray:
    """A per-feature parameter: a floating array of shape ``(size,)``, else ``ValueError`` naming ``name``.

    ``what`` says which size it must match, e.g. ``"x.shape[1]"``.

    Shape:
        returns ``(size,)``.
    """
    arr = real_array(name, value)
    if arr.shape != (size,):
        raise ValueError(f"{name} must have shape ({size},) to match {what}, got {arr.shape}")
    return arr


def check_last_dim_params(x: Any, eps: float | None, **params: Any) -> None:
    """Checks of a torch norm over the last dimension: ``x`` has one, ``eps > 0`` (None allowed),
    and each given parameter (None allowed) has shape ``(x.shape[-1],)``; ``ValueError`` naming the culprit.

    Shape:
        x: ``(*, D)``; each parameter: ``(D,)`` or None.
    """
    if x.dim() < 1:
        raise ValueError("x must have at least one dimension")
    if eps is not None:
        check_positive("eps", eps)
    d = x.shape[-1]
    for name, p in params.items():
        if p is not None and tuple(p.shape) != (d,):
            raise ValueError(f"{name} must have shape ({d},) to match x.shape[-1], got {tuple(p.shape)}")


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
