"""Input scaling fitted on the training set only: min-max and z-score (ps03).

Both functions follow scikit-learn's ``MinMaxScaler`` and ``StandardScaler``
(``fit`` on ``X_train``, ``transform`` both sets): every statistic comes from
``X_train`` alone, so nothing about the test set leaks into the model, and the
test set is scaled with the *training* statistics (its values may fall outside
``feature_range``).

Statistics are accumulated in float64 even for float32 input (as scikit-learn
does), and the variance is computed in two passes by
:func:`regnorm_lab.stats.mean_var`: the one-pass ``E[x**2] - E[x]**2`` loses
every digit when a feature's mean is large compared with its spread. The
outputs keep the input's float precision (float32 in, float32 out).
"""

from __future__ import annotations

import math

import numpy as np

from .stats import mean_var

__all__ = ["min_max_fit_transform", "z_score_fit_transform", "min_max_scale", "z_score"]

#: Ranges below 10 machine epsilons count as 0 (scikit-learn's threshold).
_TINY_RANGE = 10 * np.finfo(np.float64).eps


def min_max_fit_transform(
    X_train: np.ndarray, X_test: np.ndarray, low: float, high: float
) -> tuple[np.ndarray, np.ndarray]:
    """``x' = low + (x - x_min) * (high - low) / (x_max - x_min)``, with ``x_min, x_max`` per feature of X_train.

    Shape:
        X_train: ``(n_train, d)``; X_test: ``(n_test, d)``; outputs: the same shapes.
    """
    x_min = X_train.min(axis=0)
    x_range = X_train.max(axis=0) - x_min
    x_range[x_range < _TINY_RANGE] = 1.0  # a constant column maps to `low`, as in scikit-learn
    scale = (high - low) / x_range
    return (X_train - x_min) * scale + low, (X_test - x_min) * scale + low


def z_score_fit_transform(X_train: np.ndarray, X_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``x' = (x - mu) / sigma``, with the mean ``mu`` and population std ``sigma`` per feature of X_train.

    Shape:
        X_train: ``(n_train, d)``; X_test: ``(n_test, d)``; outputs: the same shapes.
    """
    mu, var = mean_var(X_train, axis=0)  # two passes: accurate even when the mean is large
    mu, sigma = _guard_constant_columns(X_train, mu, var)  # a constant column gets sigma = 1
    return (X_train - mu) / sigma, (X_test - mu) / sigma


# --------------------------------------------------------------------------- the checked functions (ps03)


def _guard_constant_columns(X_train: np.ndarray, mu: np.ndarray, var: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(mu, sigma)`` with ``sigma = 1`` (and an exact ``mu``) for constant and near-constant columns.

    Shape:
        X_train: ``(n, d)``; mu, var and the outputs: ``(d,)``.
    """
    # Decide constancy on the data, not on `var == 0`: the computed mean of identical
    # values can be off by one ulp, which makes var tiny but nonzero.
    constant = X_train.min(axis=0) == X_train.max(axis=0)
    mu = mu.copy()
    mu[constant] = X_train[0, constant]  # exact, so the column maps to exactly 0
    # Near-constant columns too: a variance below the bound on its own rounding error
    # (scikit-learn's `_is_constant_feature` rule) is indistinguishable from 0, and
    # dividing by its square root would blow rounding noise up to O(1) values or inf.
    n, eps = X_train.shape[0], np.finfo(np.float64).eps
    constant |= var <= n * eps * var + (n * mu * eps) ** 2
    sigma = np.sqrt(var)
    sigma[constant] = 1.0
    return mu, sigma


def _check_pair(X_train: np.ndarray, X_test: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.dtype]:
    """Validate the two design matrices; return them as float64 arrays plus the output float dtype.

    Statistics are accumulated in float64 even for float32 input, as scikit-learn does: the
    float32 mean of 2000 values near 1e4 is off by ~3e-4 (float32's spacing there is ~1e-3),
    a visible error once divided by a std near 1. (float32 -> float64 is exact, so the
    results are those of float32 data scaled in float64.)
    """
    X_train = np.asarray(X_train)
    X_test = np.asarray(X_test)
    if X_train.ndim != 2:
        raise ValueError(f"X_train must be 2-D (samples, features), got shape {X_train.shape}")
    if X_test.ndim != 2:
        raise ValueError(f"X_test must be 2-D (samples, features), got shape {X_test.shape}")
    if X_train.shape[0] == 0:
        raise ValueError("X_train must have at least one sample to fit the scaling on")
    if X_train.shape[1] != X_test.shape[1]:
        raise ValueError(
            f"X_test must have as many features (columns) as X_train: {X_test.shape[1]} != {X_train.shape[1]}"
        )
    # float32 stays float32; integers, bools and float64 give float64.
    out_dtype = np.result_type(X_train.dtype, X_test.dtype, np.float32)
    return X_train.astype(np.float64), X_test.astype(np.float64), out_dtype


def min_max_scale(
    X_train: np.ndarray, X_test: np.ndarray, feature_range: tuple[float, float] = (0.0, 1.0)
) -> tuple[np.ndarray, np.ndarray]:
    """Min-max scaling fitted on X_train (:func:`min_max_fit_transform`), checked, as ``MinMaxScaler``.

    Args:
        X_train: Training features; not modified.
        X_test: Test features, scaled with the training statistics; not modified.
        feature_range: ``(low, high)`` with ``low < high``.

    Returns:
        ``(train_scaled, test_scaled)``, new arrays in the input's float precision.

    Shape:
        X_train: ``(n_train, d)``; X_test: ``(n_test, d)``; outputs: the same shapes.

    Raises:
        ValueError: naming ``feature_range`` if it is not two finite numbers with
            low below high; naming ``X_train``/``X_test`` if they are not 2-D,
            X_train has no rows, or the column counts differ.
    """
    try:
        low, high = (float(v) for v in feature_range)
    except (TypeError, ValueError):
        raise ValueError(f"feature_range must be a pair (low, high) of numbers, got {feature_range!r}") from None
    if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
        raise ValueError(f"feature_range must have finite low < high, got {feature_range!r}")
    X_train, X_test, out_dtype = _check_pair(X_train, X_test)
    train, test = min_max_fit_transform(X_train, X_test, low, high)
    return train.astype(out_dtype, copy=False), test.astype(out_dtype, copy=False)


def z_score(X_train: np.ndarray, X_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Standardisation fitted on X_train (:func:`z_score_fit_transform`), checked, as ``StandardScaler``.

    Args:
        X_train: Training features; not modified.
        X_test: Test features, scaled with the training statistics; not modified.

    Returns:
        ``(train_scaled, test_scaled)``, new arrays in the input's float precision.

    Shape:
        X_train: ``(n_train, d)``; X_test: ``(n_test, d)``; outputs: the same shapes.

    Raises:
        ValueError: naming ``X_train``/``X_test`` if they are not 2-D, X_train
            has no rows, or the column counts differ.
    """
    X_train, X_test, out_dtype = _check_pair(X_train, X_test)
    train, test = z_score_fit_transform(X_train, X_test)
    return train.astype(out_dtype, copy=False), test.astype(out_dtype, copy=False)
