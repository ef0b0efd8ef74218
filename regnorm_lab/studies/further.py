"""The regularization side of the "Going further" pages (chapters 15, 16 and 20).

Small closed forms and solvers the pages check against scikit-learn and
torch: penalties as priors (MAP), max-norm, early stopping next to ridge,
training with input noise, label smoothing, and the min-norm fit that shows
double descent. Everything is numpy on tiny problems, so the pages stay cheap.

Conventions: ``X`` is ``(n, d)``, ``y`` is ``(n,)``; randomness comes only from
an explicit ``numpy.random.Generator``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from ..penalties import soft_threshold

__all__ = [
    "neg_log_posterior",
    "map_penalty_strength",
    "map_laplace_ista",
    "max_norm",
    "gd_path",
    "ridge_solution",
    "matched_ridge_alpha",
    "noisy_copies_lstsq",
    "smoothed_targets",
    "label_smoothing_logit_gap",
    "random_relu_features",
    "min_norm_test_error",
]

Prior = Literal["gaussian", "laplace"]


def _check_prior(prior: str) -> None:
    if prior not in ("gaussian", "laplace"):
        raise ValueError(f"prior must be 'gaussian' or 'laplace', got {prior!r}")


def _check_positive(name: str, value: float) -> None:
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")


def neg_log_posterior(
    w: np.ndarray, X: np.ndarray, y: np.ndarray, noise_sd: float, prior: Prior, prior_scale: float
) -> float:
    """``-log p(w | X, y)`` up to a constant, for Gaussian noise and a zero-mean prior on every weight.

    ``||y - Xw||^2 / (2 noise_sd^2)`` plus ``||w||^2 / (2 prior_scale^2)``
    (Gaussian prior, standard deviation ``prior_scale``) or
    ``||w||_1 / prior_scale`` (Laplace prior, scale ``prior_scale``).

    Shape:
        w: (d,); X: (n, d); y: (n,).

    Raises:
        ValueError: naming ``prior``, ``noise_sd`` or ``prior_scale`` when invalid.
    """
    _check_prior(prior)
    _check_positive("noise_sd", noise_sd)
    _check_positive("prior_scale", prior_scale)
    data = np.sum((y - X @ w) ** 2) / (2 * noise_sd**2)
    if prior == "gaussian":
        return float(data + np.sum(w**2) / (2 * prior_scale**2))
    return float(data + np.sum(np.abs(w)) / prior_scale)


def map_penalty_strength(prior: Prior, noise_sd: float, prior_scale: float, n: int) -> float:
    """scikit-learn's ``alpha`` whose fit is the MAP estimate of :func:`neg_log_posterior`.

    ``Ridge`` minimises ``||y - Xw||^2 + alpha ||w||^2``: multiplying the Gaussian
    posterior by ``2 noise_sd^2`` gives ``alpha = noise_sd^2 / prior_scale^2``.
    ``Lasso`` minimises ``||y - Xw||^2 / (2n) + alpha ||w||_1``: dividing the
    Laplace posterior by ``n / noise_sd^2`` gives ``alpha = noise_sd^2 / (n prior_scale)``.

    Raises:
        ValueError: naming the invalid argument.
    """
    _check_prior(prior)
    _check_positive("noise_sd", noise_sd)
    _check_positive("prior_scale", prior_scale)
    if n < 1:
        raise ValueError(f"n must be a positive number of rows, got {n!r}")
    if prior == "gaussian":
        return noise_sd**2 / prior_scale**2
    return noise_sd**2 / (n * prior_scale)


def map_laplace_ista(
    X: np.ndarray, y: np.ndarray, noise_sd: float, prior_scale: float, steps: int = 5000
) -> np.ndarray:
    """MAP estimate under a Laplace prior, by proximal gradient descent on the posterior itself.

    Independent of scikit-learn: a gradient step on the Gaussian likelihood,
    then the soft threshold (the proximal operator of the Laplace prior).

    Shape:
        X: (n, d); y: (n,); returns (d,).
    """
    _check_positive("noise_sd", noise_sd)
    _check_positive("prior_scale", prior_scale)
    lipschitz = np.linalg.eigvalsh(X.T @ X).max() / noise_sd**2
    step = 1.0 / lipschitz
    w = np.zeros(X.shape[1])
    for _ in range(steps):
        grad = -X.T @ (y - X @ w) / noise_sd**2
        w = soft_threshold(w - step * grad, step / prior_scale)
    return w


def max_norm(W: np.ndarray, c: float) -> np.ndarray:
    """Project each unit's incoming weights (a row of ``W``) onto the ball ``||w|| <= c``.

    Srivastava et al.'s max-norm constraint, applied after every update; rows
    already inside the ball are unchanged. Equals ``torch.renorm(W, 2, 0, c)``
    up to torch's ``1e-7`` guard.

    Shape:
        W: (units, inputs); returns the same shape.
    """
    _check_positive("c", c)
    norms = np.linalg.norm(W, axis=1, keepdims=True)
    return W * np.minimum(1.0, c / np.maximum(norms, np.finfo(float).tiny))


def gd_path(X: np.ndarray, y: np.ndarray, lr: float, steps: int) -> np.ndarray:
    """Weights of full-batch gradient descent on ``||y - Xw||^2 / (2n)`` from ``w = 0``, at every step.

    Shape:
        X: (n, d); y: (n,); returns (steps + 1, d).
    """
    _check_positive("lr", lr)
    n = len(y)
    path = np.zeros((steps + 1, X.shape[1]))
    for t in range(steps):
        w = path[t]
        path[t + 1] = w + lr * X.T @ (y - X @ w) / n
    return path


def ridge_solution(X: np.ndarray, y: np.ndarray, alpha: float) -> np.ndarray:
    """Minimiser of ``||y - Xw||^2 / (2n) + alpha ||w||^2 / 2`` (the scaling that matches :func:`gd_path`).

    Shape:
        X: (n, d); y: (n,); returns (d,).
    """
    if alpha < 0:
        raise ValueError(f"alpha must be >= 0, got {alpha!r}")
    n, d = X.shape
    return np.linalg.solve(X.T @ X / n + alpha * np.eye(d), X.T @ y / n)


def matched_ridge_alpha(X: np.ndarray, y: np.ndarray, w: np.ndarray, alphas: np.ndarray) -> float:
    """The ``alpha`` in ``alphas`` whose :func:`ridge_solution` is closest to ``w`` (Euclidean)."""
    dists = [np.linalg.norm(ridge_solution(X, y, a) - w) for a in alphas]
    return float(alphas[int(np.argmin(dists))])


def noisy_copies_lstsq(
    X: np.ndarray, y: np.ndarray, sigma: float, copies: int, rng: np.random.Generator
) -> np.ndarray:
    """Least squares on ``copies`` copies of the data, each input jittered by ``N(0, sigma^2)`` noise.

    This is data augmentation with Gaussian noise; as ``copies`` grows it tends
    to ridge with ``alpha = n sigma^2`` in ``||y - Xw||^2 + alpha ||w||^2``
    (Bishop 1995).

    Shape:
        X: (n, d); y: (n,); returns (d,).
    """
    _check_positive("sigma", sigma)
    Xa = np.concatenate([X + sigma * rng.standard_normal(X.shape) for _ in range(copies)])
    ya = np.tile(y, copies)
    return np.linalg.lstsq(Xa, ya, rcond=None)[0]


def smoothed_targets(labels: np.ndarray, num_classes: int, eps: float) -> np.ndarray:
    """Label-smoothed one-hot targets: ``(1 - eps) * one_hot + eps / K`` (torch's ``label_smoothing``).

    Shape:
        labels: (n,) integers in ``[0, K)``; returns (n, K).
    """
    if not 0 <= eps <= 1:
        raise ValueError(f"eps must be in [0, 1], got {eps!r}")
    one_hot = np.eye(num_classes)[np.asarray(labels)]
    return (1 - eps) * one_hot + eps / num_classes


def label_smoothing_logit_gap(num_classes: int, eps: float) -> float:
    """Gap between the true class's logit and the others' at the optimum of the smoothed cross-entropy.

    The optimum puts softmax probabilities equal to the smoothed target, so the
    gap is ``log((1 - eps + eps/K) / (eps/K))``: finite for ``eps > 0``, where
    plain cross-entropy (``eps = 0``) pushes it to infinity.
    """
    if not 0 < eps < 1:
        raise ValueError(f"eps must be in (0, 1), got {eps!r}")
    k = num_classes
    return float(np.log((1 - eps + eps / k) / (eps / k)))


def random_relu_features(x: np.ndarray, n_features: int, rng: np.random.Generator) -> np.ndarray:
    """``max(0, x V)`` with a random Gaussian ``V`` scaled by ``1/sqrt(d)`` (a fixed random first layer).

    Shape:
        x: (n, d); returns (n, n_features).
    """
    V = rng.standard_normal((x.shape[1], n_features)) / np.sqrt(x.shape[1])
    return np.maximum(0.0, x @ V)


def min_norm_test_error(
    n_train: int, feature_counts: list[int], rng: np.random.Generator, d: int = 10, noise_sd: float = 0.1,
    n_test: int = 1000, alpha: float = 0.0,
) -> np.ndarray:
    """Test mean squared error of the min-norm least-squares fit on random ReLU features, per feature count.

    The textbook double-descent set-up (Belkin et al. 2019): a linear teacher on
    ``d`` Gaussian inputs, the student is least squares on ``p`` random ReLU
    features solved with the pseudo-inverse (the minimum-norm interpolant once
    ``p >= n_train``). The error peaks near ``p = n_train`` and falls again.
    With ``alpha > 0`` the student is ridge instead, ``Phi^T (Phi Phi^T + alpha I)^-1 y``,
    which flattens the peak.

    Shape:
        returns (len(feature_counts),).
    """
    teacher = rng.standard_normal(d) / np.sqrt(d)
    x_tr, x_te = rng.standard_normal((n_train, d)), rng.standard_normal((n_test, d))
    y_tr = x_tr @ teacher + noise_sd * rng.standard_normal(n_train)
    y_te = x_te @ teacher
    errors = []
    for p in feature_counts:
        V_rng = np.random.default_rng(rng.integers(2**32))
        both = random_relu_features(np.concatenate([x_tr, x_te]), p, V_rng)
        phi = both[:n_train]
        if alpha > 0:  # the dual form of ridge: one n_train x n_train solve whatever p is
            w = phi.T @ np.linalg.solve(phi @ phi.T + alpha * np.eye(n_train), y_tr)
        else:
            w = np.linalg.pinv(phi) @ y_tr
        errors.append(np.mean((both[n_train:] @ w - y_te) ** 2))
    return np.array(errors)
