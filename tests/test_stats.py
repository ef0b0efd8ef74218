"""regnorm_lab.stats.mean_var against numpy's own mean/var and a float64 computation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from regnorm_lab.stats import mean_var


@pytest.mark.parametrize(
    ("shape", "axis"),
    [((7,), None), ((7,), 0), ((5, 4), 0), ((5, 4), 1), ((5, 4), -1), ((3, 4, 5), (0, 2)), ((2, 3, 4, 5), (2, 3))],
)
@pytest.mark.parametrize("ddof", [0, 1])
@pytest.mark.parametrize("keepdims", [False, True])
def test_matches_numpy(rng, shape, axis, ddof, keepdims):
    x = rng.normal(3.0, 2.0, size=shape)
    mean, var = mean_var(x, axis=axis, ddof=ddof, keepdims=keepdims)
    np.testing.assert_allclose(mean, np.mean(x, axis=axis, keepdims=keepdims), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(var, np.var(x, axis=axis, ddof=ddof, keepdims=keepdims), rtol=1e-12, atol=1e-12)
    assert mean.shape == np.mean(x, axis=axis, keepdims=keepdims).shape
    assert np.shape(var) == np.var(x, axis=axis, keepdims=keepdims).shape


def test_known_values():
    # Population variance of 1..5 is 2, sample variance 2.5.
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    assert mean_var(x)[0] == pytest.approx(3.0)
    assert mean_var(x)[1] == pytest.approx(2.0)
    assert mean_var(x, ddof=1)[1] == pytest.approx(2.5)


def test_dtypes():
    x32 = np.arange(12, dtype=np.float32).reshape(3, 4)
    mean, var = mean_var(x32, axis=0)
    assert mean.dtype == np.float32 and var.dtype == np.float32
    mean, var = mean_var(np.arange(5), axis=0)  # integers promote to float64, as np.mean
    assert mean.dtype == np.float64 and var.dtype == np.float64
    assert float(var) == pytest.approx(2.0)


def test_float32_large_mean_is_stable(rng):
    # mean 1e4, std 1, float32: the one-pass E[x^2] - E[x]^2 loses all digits here;
    # the two-pass result must agree with a float64 computation.
    x = (1e4 + rng.standard_normal((4096, 64))).astype(np.float32)
    x64 = x.astype(np.float64)
    mean, var = mean_var(x, axis=0)
    np.testing.assert_allclose(mean, x64.mean(axis=0), rtol=0, atol=1e-3)
    np.testing.assert_allclose(var, x64.var(axis=0), rtol=1e-3)
    # z-score style standardisation with these statistics stays within 1e-3 of float64.
    z = (x - mean) / np.sqrt(var)
    z64 = (x64 - x64.mean(axis=0)) / x64.std(axis=0)
    np.testing.assert_allclose(z, z64, atol=1e-3)
    # The test is sensitive: the naive one-pass formula in float32 is far off.
    naive = np.mean(x * x, axis=0) - np.mean(x, axis=0) ** 2
    assert np.max(np.abs(naive - x64.var(axis=0))) > 0.1


def test_does_not_modify_input(rng):
    x = rng.normal(size=(6, 3))
    before = x.copy()
    mean_var(x, axis=0, ddof=1)
    np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize("ddof", [-1, 1.5, 4])
def test_bad_ddof(ddof):
    with pytest.raises(ValueError, match="ddof"):
        mean_var(np.ones((4, 2)), axis=0, ddof=ddof)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(2, 50),
    d=st.integers(1, 6),
    loc=st.floats(-1e6, 1e6),
    scale=st.floats(1e-3, 1e3),
)
def test_property_matches_float64_and_nonnegative(seed, n, d, loc, scale):
    x = np.random.default_rng(seed).normal(loc, scale, size=(n, d))
    mean, var = mean_var(x, axis=0)
    assert np.all(var >= 0)
    np.testing.assert_allclose(mean, np.mean(x, axis=0), rtol=1e-12, atol=1e-12 * (abs(loc) + scale))
    np.testing.assert_allclose(var, np.var(x, axis=0), rtol=1e-9)
