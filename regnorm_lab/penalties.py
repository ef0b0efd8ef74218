"""Weight penalties: L1, L2, Elastic Net, their gradients and the L1 proximal step (ps01).

Each function is the formula of chapter 01 in one line, after a check that the
strength is not negative (``ValueError`` naming ``lam``, ``l1``, ``l2`` or
``t``). Conventions are Keras' (``keras.regularizers.l1``, ``l2``, ``l1_l2``):
the penalty is added to the loss as written, with no factor 1/2, so the L2
gradient is ``2 * lam * w``; torch's ``weight_decay=wd`` therefore matches
``lam = wd / 2`` (:mod:`regnorm_lab.weight_decay` spells that out).

Inputs of any shape (0-d included) are accepted and never modified. Penalties
are summed in float64 (a float32 sum over millions of weights loses digits);
gradients keep the input's float dtype, and ``np.asarray(..., dtype=w.dtype)``
turns numpy's scalar results on 0-d input back into arrays.
"""

from __future__ import annotations

import numpy as np

from ._validation import as_float_array, check_nonnegative

__all__ = ["l1_penalty", "l2_penalty", "elastic_net_penalty", "l1_grad", "l2_grad", "soft_threshold"]


def l1_penalty(w: np.ndarray, lam: float) -> float:
    """L1 (lasso) penalty ``lam * sum|w|``.

    Shape:
        w: any shape; returns a Python float.
    """
    lam = check_nonnegative("lam", lam)
    return lam * float(np.sum(np.abs(as_float_array(w)), dtype=np.float64))


def l2_penalty(w: np.ndarray, lam: float) -> float:
    """L2 (ridge) penalty ``lam * sum w**2`` (no factor 1/2).

    Shape:
        w: any shape; returns a Python float.
    """
    lam = check_nonnegative("lam", lam)
    w64 = np.asarray(w, dtype=np.float64)
    return lam * float(np.sum(w64 * w64))


def elastic_net_penalty(w: np.ndarray, l1: float, l2: float) -> float:
    """Elastic Net ``l1 * sum|w| + l2 * sum w**2``: Keras' two strengths, not sklearn's ``alpha, l1_ratio``.

    Shape:
        w: any shape; returns a Python float.
    """
    l1 = check_nonnegative("l1", l1)
    l2 = check_nonnegative("l2", l2)
    return l1_penalty(w, l1) + l2_penalty(w, l2)


def l1_grad(w: np.ndarray, lam: float) -> np.ndarray:
    """(Sub)gradient of the L1 penalty, ``lam * sign(w)``: 0 at ``w == 0`` (PyTorch and TensorFlow; JAX takes 1 there).

    Shape:
        w: any shape; returns the same shape.
    """
    lam = check_nonnegative("lam", lam)
    w = as_float_array(w)
    return np.asarray(lam * np.sign(w), dtype=w.dtype)


def l2_grad(w: np.ndarray, lam: float) -> np.ndarray:
    """Gradient of the L2 penalty, ``2 * lam * w``.

    Shape:
        w: any shape; returns the same shape.
    """
    lam = check_nonnegative("lam", lam)
    w = as_float_array(w)
    return np.asarray((2.0 * lam) * w, dtype=w.dtype)


def soft_threshold(w: np.ndarray, t: float) -> np.ndarray:
    """Proximal step of ``t * ||w||_1``: ``sign(w) * max(|w| - t, 0)``, exact zeros where ``|w| <= t``.

    Shape:
        w: any shape; returns the same shape.
    """
    t = check_nonnegative("t", t)
    w = as_float_array(w)
    return np.asarray(np.sign(w) * np.maximum(np.abs(w) - t, 0.0), dtype=w.dtype)
