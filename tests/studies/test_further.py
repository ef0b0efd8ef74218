"""regnorm_lab.studies.further: each closed form against an independent computation (sklearn, torch, scipy, brute force)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.optimize import minimize
from sklearn.linear_model import Lasso, Ridge

from regnorm_lab.studies import further as fz


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 5))
    y = X @ np.array([1.5, -2.0, 0.0, 0.0, 0.3]) + 0.4 * rng.standard_normal(40)
    return X, y


def test_gaussian_map_is_sklearn_ridge(data):
    X, y = data
    sigma, tau = 0.4, 0.5
    res = minimize(lambda w: fz.neg_log_posterior(w, X, y, sigma, "gaussian", tau), np.zeros(5),
                   jac=lambda w: -X.T @ (y - X @ w) / sigma**2 + w / tau**2, method="L-BFGS-B",
                   options={"gtol": 1e-12, "ftol": 0})
    alpha = fz.map_penalty_strength("gaussian", sigma, tau, len(y))
    assert alpha == pytest.approx(0.64)
    ridge = Ridge(alpha=alpha, fit_intercept=False, tol=1e-12).fit(X, y).coef_
    np.testing.assert_allclose(res.x, ridge, atol=1e-7)


def test_laplace_map_is_sklearn_lasso_and_minimises_the_posterior(data):
    X, y = data
    sigma, b = 0.4, 0.02
    w = fz.map_laplace_ista(X, y, sigma, b)
    alpha = fz.map_penalty_strength("laplace", sigma, b, len(y))
    assert alpha == pytest.approx(0.16 / (40 * 0.02))
    lasso = Lasso(alpha=alpha, fit_intercept=False, tol=1e-14, max_iter=100_000).fit(X, y).coef_
    np.testing.assert_allclose(w, lasso, atol=1e-8)
    f = lambda v: fz.neg_log_posterior(v, X, y, sigma, "laplace", b)
    rng = np.random.default_rng(1)
    assert all(f(w) <= f(w + 1e-3 * rng.standard_normal(5)) for _ in range(50))
    assert np.sum(w == 0) >= 1


@pytest.mark.parametrize("kwargs", [dict(prior="cauchy"), dict(noise_sd=0.0), dict(prior_scale=-1.0)])
def test_bad_prior_arguments_raise(data, kwargs):
    X, y = data
    args = dict(w=np.zeros(5), X=X, y=y, noise_sd=1.0, prior="gaussian", prior_scale=1.0) | kwargs
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        fz.neg_log_posterior(**args)


def test_max_norm_matches_torch_renorm_and_leaves_small_rows():
    W = np.random.default_rng(2).standard_normal((7, 4)) * np.arange(1, 8)[:, None]
    out = fz.max_norm(W, 3.0)
    np.testing.assert_allclose(out, torch.renorm(torch.tensor(W), 2, 0, 3.0).numpy(), rtol=1e-6)
    small = np.linalg.norm(W, axis=1) <= 3.0
    np.testing.assert_array_equal(out[small], W[small])
    with pytest.raises(ValueError, match="c"):
        fz.max_norm(W, 0.0)


def test_gd_path_converges_to_least_squares_and_ridge_is_its_objectives_minimiser(data):
    X, y = data
    path = fz.gd_path(X, y, lr=0.5, steps=3000)
    assert path.shape == (3001, 5) and np.all(path[0] == 0)
    np.testing.assert_allclose(path[-1], np.linalg.lstsq(X, y, rcond=None)[0], atol=1e-8)
    n = len(y)
    r = fz.ridge_solution(X, y, 0.3)  # sklearn's alpha for ||.||^2 + alpha||w||^2 is n * 0.3
    np.testing.assert_allclose(r, Ridge(alpha=n * 0.3, fit_intercept=False).fit(X, y).coef_, atol=1e-10)
    assert fz.matched_ridge_alpha(X, y, r, np.array([0.01, 0.1, 0.3, 1.0])) == 0.3


def test_noise_injection_tends_to_ridge(data):
    X, y = data
    sigma = 0.5
    w = fz.noisy_copies_lstsq(X, y, sigma, copies=400, rng=np.random.default_rng(3))
    ridge = Ridge(alpha=len(y) * sigma**2, fit_intercept=False).fit(X, y).coef_
    ols = np.linalg.lstsq(X, y, rcond=None)[0]
    assert np.abs(w - ridge).max() < 0.2 * np.abs(ols - ridge).max()


def test_label_smoothing_matches_torch_and_its_optimum():
    labels = np.array([0, 2, 1])
    t = fz.smoothed_targets(labels, 4, 0.1)
    np.testing.assert_allclose(t.sum(1), 1.0)
    logits = torch.randn(3, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    ours = -(torch.tensor(t) * torch.log_softmax(logits, 1)).sum(1).mean()
    theirs = torch.nn.functional.cross_entropy(logits, torch.tensor(labels), label_smoothing=0.1)
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-12)
    # At the closed-form gap the smoothed cross-entropy is stationary (torch's gradient vanishes) and minimal.
    gap = fz.label_smoothing_logit_gap(4, 0.1)
    loss_at = lambda g: torch.nn.functional.cross_entropy(torch.tensor([[g, 0.0, 0.0, 0.0]], dtype=torch.float64),
                                                          torch.tensor([0]), label_smoothing=0.1)
    z = torch.tensor([[gap, 0.0, 0.0, 0.0]], dtype=torch.float64, requires_grad=True)
    torch.nn.functional.cross_entropy(z, torch.tensor([0]), label_smoothing=0.1).backward()
    assert z.grad.abs().max().item() < 1e-12
    assert loss_at(gap) < loss_at(gap - 0.1) and loss_at(gap) < loss_at(gap + 0.1) < loss_at(gap + 1.0)
    with pytest.raises(ValueError, match="eps"):
        fz.label_smoothing_logit_gap(4, 0.0)


def test_double_descent_peaks_at_the_interpolation_threshold():
    counts = [5, 20, 40, 80, 400]
    err = fz.min_norm_test_error(40, counts, np.random.default_rng(4))
    assert err.shape == (5,)
    assert err[2] > 5 * err[1] and err[2] > 5 * err[4]  # the peak at p = n, and the second descent


def test_ridge_flattens_the_double_descent_peak():
    counts = [20, 40, 400]
    plain = fz.min_norm_test_error(40, counts, np.random.default_rng(4))
    ridge = fz.min_norm_test_error(40, counts, np.random.default_rng(4), alpha=0.1)
    assert ridge[1] < plain[1] / 5
    # and a vanishing alpha is the min-norm fit
    tiny = fz.min_norm_test_error(40, counts, np.random.default_rng(4), alpha=1e-10)
    np.testing.assert_allclose(tiny[[0, 2]], plain[[0, 2]], rtol=1e-3)
