"""Tests for regnorm_lab.feature_scaling (ps03): scikit-learn agreement, no leakage, stability, errors."""

from __future__ import annotations

import statistics

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from regnorm_lab.feature_scaling import min_max_scale, z_score


def _data(rng, n_train=40, n_test=15, d=4):
    X_train = rng.normal(loc=[0.0, 5.0, -3.0, 100.0], scale=[1.0, 0.1, 7.0, 20.0], size=(n_train, d))
    X_test = rng.normal(loc=[0.0, 5.0, -3.0, 100.0], scale=[2.0, 0.5, 7.0, 40.0], size=(n_test, d))
    return X_train, X_test


def _with_constant_column(X_train, X_test, value=0.1):
    # 0.1 is not exactly representable: the float mean of a column of 0.1s can be off by an ulp.
    X_train, X_test = X_train.copy(), X_test.copy()
    X_train[:, 1] = value
    return X_train, X_test


# --- agreement with scikit-learn ---------------------------------------------------------------------


@pytest.mark.parametrize("feature_range", [(0.0, 1.0), (-1.0, 1.0), (2.0, 5.0)])
@pytest.mark.parametrize("constant", [False, True])
def test_min_max_matches_sklearn(feature_range, constant, rng):
    X_train, X_test = _data(rng)
    if constant:
        X_train, X_test = _with_constant_column(X_train, X_test)
    ref = MinMaxScaler(feature_range=feature_range).fit(X_train)
    tr, te = min_max_scale(X_train, X_test, feature_range)
    np.testing.assert_allclose(tr, ref.transform(X_train), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(te, ref.transform(X_test), rtol=1e-10, atol=1e-12)


def test_min_max_default_range_is_unit_interval(rng):
    X_train, X_test = _data(rng)
    tr, te = min_max_scale(X_train, X_test)
    ref = MinMaxScaler().fit(X_train)
    np.testing.assert_allclose(te, ref.transform(X_test), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(tr.min(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(tr.max(axis=0), 1.0, atol=1e-12)


@pytest.mark.parametrize("constant", [False, True])
def test_z_score_matches_sklearn(constant, rng):
    X_train, X_test = _data(rng)
    if constant:
        X_train, X_test = _with_constant_column(X_train, X_test)
    ref = StandardScaler().fit(X_train)
    tr, te = z_score(X_train, X_test)
    np.testing.assert_allclose(tr, ref.transform(X_train), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(te, ref.transform(X_test), rtol=1e-10, atol=1e-12)


def test_constant_training_column_maps_to_low_and_to_zero(rng):
    X_train, X_test = _with_constant_column(*_data(rng))
    tr, _ = min_max_scale(X_train, X_test, (-2.0, 3.0))
    np.testing.assert_array_equal(tr[:, 1], -2.0)
    tz, te = z_score(X_train, X_test)
    np.testing.assert_array_equal(tz[:, 1], 0.0)
    # std taken as 1: a test value is shifted by the training mean only.
    np.testing.assert_allclose(te[:, 1], X_test[:, 1] - 0.1, rtol=1e-12)


def test_near_constant_columns_match_sklearn_and_stay_finite(rng):
    X_train, X_test = _data(rng)
    X_train[:, 0] = 0.0
    X_train[::2, 0] = 5e-324  # subnormal spread: the variance underflows to 0
    X_train[:, 2] = np.nextafter(1e3, 2e3) * (np.arange(len(X_train)) % 2) + 1e3 * (1 - np.arange(len(X_train)) % 2)
    tz, tez = z_score(X_train, X_test)
    tm, tem = min_max_scale(X_train, X_test)
    for got, ref in ((tz, StandardScaler()), (tm, MinMaxScaler())):
        assert np.all(np.isfinite(got))
        np.testing.assert_allclose(got, ref.fit_transform(X_train), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(tez, StandardScaler().fit(X_train).transform(X_test), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(tem, MinMaxScaler().fit(X_train).transform(X_test), rtol=1e-10, atol=1e-12)


def test_z_score_uses_population_std(rng):
    X_train, X_test = _data(rng, n_train=5)
    tr, _ = z_score(X_train, X_test)
    for j in range(X_train.shape[1]):
        col = [float(v) for v in X_train[:, j]]
        expected = [(v - statistics.fmean(col)) / statistics.pstdev(col) for v in col]
        np.testing.assert_allclose(tr[:, j], expected, rtol=1e-10)
        assert np.std(tr[:, j]) == pytest.approx(1.0)  # ddof=0; with ddof=1 this would be sqrt(4/5)


# --- no leakage ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("scale", [min_max_scale, z_score])
def test_test_set_never_influences_the_result(scale, rng):
    X_train, X_test = _data(rng)
    tr1, te1 = scale(X_train, X_test)
    X_test_changed = X_test * 1000.0 + 5.0
    tr2, te2 = scale(X_train, np.vstack([X_test_changed, X_test]))
    # Training output unchanged, and the original test rows are scaled exactly as before.
    np.testing.assert_array_equal(tr1, tr2)
    np.testing.assert_array_equal(te1, te2[len(X_test):])
    # Each test row is transformed on its own, with the training statistics.
    _, te_row = scale(X_train, X_test[:1])
    np.testing.assert_array_equal(te_row[0], te1[0])


@pytest.mark.parametrize("scale", [min_max_scale, z_score])
def test_scaling_the_training_set_as_test_set_gives_the_same(scale, rng):
    X_train, _ = _data(rng)
    tr, te = scale(X_train, X_train)
    np.testing.assert_allclose(te, tr, rtol=1e-12, atol=1e-14)


# --- numerical stability ----------------------------------------------------------------------------------


def _exact_z(col: np.ndarray) -> np.ndarray:
    # statistics.fmean / pstdev are computed with exact (Fraction) arithmetic from the float values.
    vals = [float(v) for v in col]
    mu, sd = statistics.fmean(vals), statistics.pstdev(vals)
    return np.array([(v - mu) / sd for v in vals])


def test_z_score_float32_with_large_mean_matches_float64(rng):
    X = (1e4 + rng.normal(size=(2000, 3))).astype(np.float32)
    tr, te = z_score(X, X[:10])
    assert tr.dtype == np.float32 and te.dtype == np.float32
    for j in range(3):
        np.testing.assert_allclose(tr[:, j], _exact_z(X[:, j]), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.std(tr.astype(np.float64), axis=0), 1.0, rtol=1e-4)


def test_z_score_float64_with_huge_mean_is_stable(rng):
    # Mean 1e8, std 1: E[x**2] is 1e16, where float64's spacing is 2, so the one-pass
    # variance E[x**2] - E[x]**2 is garbage; the two-pass variance is accurate.
    X = 1e8 + rng.normal(size=(1000, 2))
    tr, _ = z_score(X, X[:3])
    for j in range(2):
        np.testing.assert_allclose(tr[:, j], _exact_z(X[:, j]), rtol=1e-6, atol=1e-6)


def test_min_max_float32_keeps_dtype_and_accuracy(rng):
    X = (1e4 + rng.normal(size=(500, 2))).astype(np.float32)
    tr, _ = min_max_scale(X, X[:2])
    assert tr.dtype == np.float32
    X64 = X.astype(np.float64)
    expected = (X64 - X64.min(0)) / (X64.max(0) - X64.min(0))
    np.testing.assert_allclose(tr, expected, rtol=1e-4, atol=1e-5)


def test_integer_input_gives_float64(rng):
    X = rng.integers(0, 10, size=(20, 3))
    X[:, 0] = np.arange(20)  # ensure no constant column by accident
    for scale in (min_max_scale, z_score):
        tr, te = scale(X, X[:4])
        assert tr.dtype == np.float64 and te.dtype == np.float64


# --- hypothesis properties ------------------------------------------------------------------------------


matrices = arrays(
    np.float64,
    st.tuples(st.integers(2, 12), st.integers(1, 4)),
    elements=st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False),
)


@settings(max_examples=50, deadline=None)
@given(X=matrices, low=st.floats(-5, 5), width=st.floats(0.5, 10))
def test_min_max_train_output_spans_the_range(X, low, width):
    high = low + width
    tr, _ = min_max_scale(X, X[:1], (low, high))
    assert np.all(tr >= low - 1e-9) and np.all(tr <= high + 1e-9)
    # Ranges below 10 machine epsilons count as constant (scikit-learn's threshold).
    varying = X.max(axis=0) - X.min(axis=0) > 1e-12
    np.testing.assert_allclose(tr.min(axis=0)[varying], low, atol=1e-9)
    np.testing.assert_allclose(tr.max(axis=0)[varying], high, atol=1e-9)
    np.testing.assert_array_equal(tr[:, X.max(axis=0) == X.min(axis=0)], low)
    assert np.all(np.isfinite(tr))


@settings(max_examples=50, deadline=None)
@given(X=matrices)
def test_z_score_train_output_has_zero_mean_unit_std(X):
    tr, _ = z_score(X, X[:1])
    spread = X.max(axis=0) - X.min(axis=0)
    # Columns whose spread is far above rounding level are standardised exactly.
    ok = spread > 1e-6 * (1.0 + np.abs(X).max(axis=0))
    np.testing.assert_allclose(tr.mean(axis=0)[ok], 0.0, atol=1e-9)
    np.testing.assert_allclose(tr.std(axis=0)[ok], 1.0, rtol=1e-7)
    np.testing.assert_array_equal(tr[:, spread == 0], 0.0)
    assert np.all(np.isfinite(tr))


# --- inputs untouched, errors -------------------------------------------------------------------------


@pytest.mark.parametrize("scale", [min_max_scale, z_score])
def test_inputs_are_not_modified(scale, rng):
    X_train, X_test = _with_constant_column(*_data(rng))
    a, b = X_train.copy(), X_test.copy()
    tr, te = scale(X_train, X_test)
    np.testing.assert_array_equal(X_train, a)
    np.testing.assert_array_equal(X_test, b)
    assert not np.shares_memory(tr, X_train) and not np.shares_memory(te, X_test)


@pytest.mark.parametrize("feature_range", [(1.0, 1.0), (2.0, -1.0), (0.0, float("inf")), (0.0,), "ab"])
def test_bad_feature_range_raises_naming_it(feature_range, rng):
    X_train, X_test = _data(rng)
    with pytest.raises(ValueError, match=r"\bfeature_range\b"):
        min_max_scale(X_train, X_test, feature_range)


@pytest.mark.parametrize("scale", [min_max_scale, z_score])
def test_bad_shapes_raise_naming_the_argument(scale):
    with pytest.raises(ValueError, match=r"\bX_train\b"):
        scale(np.ones(5), np.ones((2, 5)))
    with pytest.raises(ValueError, match=r"\bX_train\b"):
        scale(np.ones((2, 2, 2)), np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"\bX_test\b"):
        scale(np.ones((3, 2)), np.ones(2))
    with pytest.raises(ValueError, match=r"\bX_test\b"):
        scale(np.ones((3, 2)), np.ones((3, 4)))
    with pytest.raises(ValueError, match=r"\bX_train\b"):
        scale(np.ones((0, 2)), np.ones((3, 2)))


# ---------------------------------------------------------------- the maths cores the book shows


def test_fit_transform_cores_match_sklearn(rng):
    """min_max_fit_transform and z_score_fit_transform called directly, against scikit-learn."""
    from sklearn.preprocessing import MinMaxScaler, StandardScaler

    from regnorm_lab.feature_scaling import min_max_fit_transform, z_score_fit_transform

    X_train = rng.normal([0.0, 5.0, -2.0], [1.0, 10.0, 0.1], size=(40, 3))
    X_test = rng.normal(size=(7, 3))
    ours = min_max_fit_transform(X_train, X_test, -1.0, 2.0)
    sk = MinMaxScaler(feature_range=(-1.0, 2.0)).fit(X_train)
    np.testing.assert_allclose(ours[0], sk.transform(X_train), atol=1e-12)
    np.testing.assert_allclose(ours[1], sk.transform(X_test), atol=1e-12)
    ours = z_score_fit_transform(X_train, X_test)
    sk = StandardScaler().fit(X_train)
    np.testing.assert_allclose(ours[0], sk.transform(X_train), atol=1e-12)
    np.testing.assert_allclose(ours[1], sk.transform(X_test), atol=1e-12)
