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

__all__ = ["min_max_scale", "z_score"]


def _check_pair(X_train: np.ndarray, X_test: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.dtype]:
    """Validate the two design matrices; return them as arrays plus the output float dtype."""
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
    return X_train, X_test, out_dtype


def min_max_scale(
    X_train: np.ndarray, X_test: np.ndarray, feature_range: tuple[float, float] = (0.0, 1.0)
) -> tuple[np.ndarray, np.ndarray]:
    """Scale each feature linearly so the training column spans ``feature_range``.

    ``x_scaled = low + (x - min_train) * (high - low) / (max_train - min_train)``,
    with ``min_train`` and ``max_train`` taken per column from ``X_train``.
    A constant training column (``max == min``, or a range below 10 machine
    epsilons) has its range taken as 1, as in scikit-learn, so its training
    values map to ``low``.

    Args:
        X_train: Training features; not modified.
        X_test: Test features, scaled with the training statistics; not modified.
        feature_range: ``(low, high)`` with ``low < high``.

    Returns:
        ``(train_scaled, test_scaled)``, new arrays.

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

    data_min = X_train.min(axis=0).astype(np.float64)
    data_range = X_train.max(axis=0).astype(np.float64) - data_min
    # A constant column would divide by zero; a range of 1 maps it to `low`. The
    # threshold is scikit-learn's (ranges below 10 machine epsilons count as 0), which
    # also keeps (high - low) / range finite for ranges of subnormal size.
    data_range[data_range < 10 * np.finfo(np.float64).eps] = 1.0
    scale = (high - low) / data_range

    def transform(X: np.ndarray) -> np.ndarray:
        return ((X - data_min) * scale + low).astype(out_dtype, copy=False)

    return transform(X_train), transform(X_test)


def z_score(X_train: np.ndarray, X_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Standardise each feature with the training mean and population standard deviation.

    ``x_scaled = (x - mean_train) / std_train`` with ``std`` the biased
    (``ddof=0``) standard deviation, as ``StandardScaler``. A constant training
    column has its std taken as 1 (so its training values map to exactly 0);
    so has a column whose variance is below its own rounding-error bound, as in
    scikit-learn.

    Args:
        X_train: Training features; not modified.
        X_test: Test features, scaled with the training statistics; not modified.

    Returns:
        ``(train_scaled, test_scaled)``, new arrays.

    Shape:
        X_train: ``(n_train, d)``; X_test: ``(n_test, d)``; outputs: the same shapes.

    Raises:
        ValueError: naming ``X_train``/``X_test`` if they are not 2-D, X_train
            has no rows, or the column counts differ.
    """
    X_train, X_test, out_dtype = _check_pair(X_train, X_test)

    # float64 accumulation: the float32 mean of 2000 values near 1e4 is off by ~3e-4
    # (float32's spacing there is ~1e-3), a visible error once divided by a std near 1.
    mean, var = mean_var(X_train.astype(np.float64), axis=0, ddof=0)
    # Decide constancy on the data, not on `var == 0`: the computed mean of identical
    # values can be off by one ulp, which makes var tiny but nonzero.
    constant = X_train.min(axis=0) == X_train.max(axis=0)
    mean[constant] = X_train[0, constant]  # exact, so the column maps to exactly 0
    # Near-constant columns too: a variance below the bound on its own rounding error
    # (scikit-learn's `_is_constant_feature` rule) is indistinguishable from 0, and
    # dividing by its square root would blow rounding noise up to O(1) values or inf.
    n, eps = X_train.shape[0], np.finfo(np.float64).eps
    constant |= var <= n * eps * var + (n * mean * eps) ** 2
    std = np.sqrt(var)
    std[constant] = 1.0

    def transform(X: np.ndarray) -> np.ndarray:
        return ((X - mean) / std).astype(out_dtype, copy=False)

    return transform(X_train), transform(X_test)
