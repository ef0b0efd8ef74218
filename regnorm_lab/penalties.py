"""Weight penalties: L1, L2, Elastic Net, their gradients and the L1 proximal step (ps01).

Conventions are Keras' (``keras.regularizers.l1``, ``l2``, ``l1_l2``): the
penalty is added to the loss exactly as written, with no factor 1/2, so

* ``l1_penalty(w, lam) = lam * sum|w|``
* ``l2_penalty(w, lam) = lam * sum w**2``, whose gradient is ``2 * lam * w``.

torch's ``weight_decay=wd`` (in ``torch.optim.SGD`` or ``Adam``) adds ``wd * w``
to the gradient, i.e. it corresponds to ``l2_penalty(w, lam=wd / 2)``;
:mod:`regnorm_lab.weight_decay` spells out that mapping.

Every function accepts an array of any shape (0-d included) and never
modifies it. Penalties are summed in float64 so that the returned Python
float does not depend on the input's float precision more than necessary.
"""

from __future__ import annotations

import numpy as np

from ._validation import check_nonnegative

__all__ = ["l1_penalty", "l2_penalty", "elastic_net_penalty", "l1_grad", "l2_grad", "soft_threshold"]


def _as_float_array(w: np.ndarray) -> np.ndarray:
    """``w`` as a floating array (integers and bools become float64), without copying floats.

    Results are wrapped in ``np.asarray(..., dtype=w.dtype)`` below because numpy
    returns scalars, not 0-d arrays, from arithmetic on 0-d input.
    """
    w = np.asarray(w)
    if not np.issubdtype(w.dtype, np.floating):
        w = w.astype(np.float64)
    return w


def l1_penalty(w: np.ndarray, lam: float) -> float:
    """L1 (Lasso) penalty ``lam * sum(|w|)``.

    Args:
        w: Weights, any shape.
        lam: Penalty strength, ``>= 0``.

    Returns:
        The penalty as a Python float.

    Shape:
        w: any shape; returns a scalar.

    Raises:
        ValueError: if ``lam`` is negative.
    """
    lam = check_nonnegative("lam", lam)
    # Sum in float64: a float32 sum over millions of weights loses digits.
    return lam * float(np.sum(np.abs(_as_float_array(w)), dtype=np.float64))


def l2_penalty(w: np.ndarray, lam: float) -> float:
    """L2 (Ridge) penalty ``lam * sum(w**2)`` (Keras convention: no factor 1/2).

    Args:
        w: Weights, any shape.
        lam: Penalty strength, ``>= 0``.

    Returns:
        The penalty as a Python float.

    Shape:
        w: any shape; returns a scalar.

    Raises:
        ValueError: if ``lam`` is negative.
    """
    lam = check_nonnegative("lam", lam)
    w64 = np.asarray(w, dtype=np.float64)
    return lam * float(np.sum(w64 * w64))


def elastic_net_penalty(w: np.ndarray, l1: float, l2: float) -> float:
    """Elastic Net penalty ``l1 * sum(|w|) + l2 * sum(w**2)``, as ``keras.regularizers.l1_l2``.

    Note the Keras parametrisation: two independent strengths, not scikit-learn's
    ``alpha`` and ``l1_ratio``.

    Args:
        w: Weights, any shape.
        l1: L1 strength, ``>= 0``.
        l2: L2 strength, ``>= 0``.

    Returns:
        The penalty as a Python float.

    Shape:
        w: any shape; returns a scalar.

    Raises:
        ValueError: if ``l1`` or ``l2`` is negative (the message names which).
    """
    l1 = check_nonnegative("l1", l1)
    l2 = check_nonnegative("l2", l2)
    return l1_penalty(w, l1) + l2_penalty(w, l2)


def l1_grad(w: np.ndarray, lam: float) -> np.ndarray:
    """(Sub)gradient of :func:`l1_penalty`: ``lam * sign(w)``.

    At ``w == 0`` the penalty has no gradient; like every framework (and
    ``np.sign``), this returns 0 there, the subgradient of smallest norm.

    Args:
        w: Weights, any shape.
        lam: Penalty strength, ``>= 0``.

    Returns:
        A new array with the shape of ``w`` (float dtype).

    Shape:
        w: any shape; returns the same shape.

    Raises:
        ValueError: if ``lam`` is negative.
    """
    lam = check_nonnegative("lam", lam)
    w = _as_float_array(w)
    return np.asarray(lam * np.sign(w), dtype=w.dtype)


def l2_grad(w: np.ndarray, lam: float) -> np.ndarray:
    """Gradient of :func:`l2_penalty`: ``2 * lam * w``.

    Args:
        w: Weights, any shape.
        lam: Penalty strength, ``>= 0``.

    Returns:
        A new array with the shape of ``w`` (float dtype).

    Shape:
        w: any shape; returns the same shape.

    Raises:
        ValueError: if ``lam`` is negative.
    """
    lam = check_nonnegative("lam", lam)
    w = _as_float_array(w)
    return np.asarray((2.0 * lam) * w, dtype=w.dtype)


def soft_threshold(w: np.ndarray, t: float) -> np.ndarray:
    """Soft thresholding ``sign(w) * max(|w| - t, 0)``: the proximal step of ``t * ||w||_1``.

    It solves ``argmin_z 0.5 * ||z - w||**2 + t * ||z||_1`` coordinate by
    coordinate: entries with ``|w| <= t`` become exactly 0 (this is where L1's
    sparsity comes from), the others move ``t`` towards 0. Proximal gradient
    descent (ISTA) applies it after each gradient step on the data loss, with
    ``t = lr * lam``.

    Args:
        w: Weights, any shape.
        t: Threshold, ``>= 0``; ``t == 0`` returns a copy of ``w``.

    Returns:
        A new array with the shape of ``w`` (float dtype).

    Shape:
        w: any shape; returns the same shape.

    Raises:
        ValueError: if ``t`` is negative.
    """
    t = check_nonnegative("t", t)
    w = _as_float_array(w)
    return np.asarray(np.sign(w) * np.maximum(np.abs(w) - t, 0.0), dtype=w.dtype)
