"""Synthetic data sets: deterministic per generator, float32, offline, and with the properties the chapters rely on."""

from __future__ import annotations

import socket

import numpy as np
import pytest
import torch

from regnorm_lab.studies.datasets import (
    ClassificationTask,
    RegressionTask,
    make_badly_scaled_features,
    make_classification_task,
    make_regression_task,
)

FIELDS = ("X_train", "y_train", "X_val", "y_val")


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a socket fails the test: the data must be generated, never downloaded."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("datasets must not use the network")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def _small_regression(seed: int, **kw: object) -> RegressionTask:
    return make_regression_task(n_train=40, n_val=60, rng=np.random.default_rng(seed), **kw)


def _small_classification(seed: int, **kw: object) -> ClassificationTask:
    return make_classification_task(n_train=40, n_val=60, rng=np.random.default_rng(seed), **kw)


def _badly_scaled(seed: int) -> tuple[np.ndarray, np.ndarray]:
    return make_badly_scaled_features(100, rng=np.random.default_rng(seed))


def _arrays(obj: object) -> list[np.ndarray]:
    if isinstance(obj, tuple):
        return list(obj)
    return [getattr(obj, f) for f in FIELDS]


@pytest.mark.parametrize("make", [_small_regression, _small_classification, _badly_scaled])
def test_same_seed_same_data_different_seed_different_data(make) -> None:
    a, b, c = _arrays(make(3)), _arrays(make(3)), _arrays(make(4))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], c[0])


@pytest.mark.parametrize("make", [make_regression_task, make_classification_task, make_badly_scaled_features])
def test_global_numpy_and_torch_rng_untouched(make) -> None:
    np_state = np.random.get_state()[1].copy()
    torch_state = torch.get_rng_state()
    make(rng=np.random.default_rng(0))
    assert np.array_equal(np.random.get_state()[1], np_state)
    assert torch.equal(torch.get_rng_state(), torch_state)


@pytest.mark.parametrize("make", [make_regression_task, make_classification_task, make_badly_scaled_features])
def test_rng_is_required_and_must_be_a_generator(make) -> None:
    with pytest.raises(TypeError):
        make()
    with pytest.raises(ValueError, match="rng"):
        make(rng=0)


def test_regression_task_shapes_and_dtypes() -> None:
    task = make_regression_task(n_train=30, n_val=50, n_features=9, n_informative=4, rng=np.random.default_rng(0))
    assert task.X_train.shape == (30, 9) and task.X_val.shape == (50, 9)
    assert task.y_train.shape == (30,) and task.y_val.shape == (50,)
    for f in FIELDS:
        assert getattr(task, f).dtype == np.float32, f
    assert task.n_features == 9


def test_regression_task_default_sizes() -> None:
    task = make_regression_task(rng=np.random.default_rng(0))
    assert task.X_train.shape == (256, 20) and task.X_val.shape == (2048, 20)


def test_regression_task_is_frozen_and_tensors_are_copies() -> None:
    task = _small_regression(0)
    with pytest.raises(AttributeError):
        task.X_train = np.zeros(1)  # type: ignore[misc]
    tensors = task.tensors()
    assert [t.dtype for t in tensors] == [torch.float32] * 4
    for t, f in zip(tensors, FIELDS):
        np.testing.assert_array_equal(t.numpy(), getattr(task, f))
    tensors[0].zero_()
    assert np.any(task.X_train != 0)


def test_regression_target_variance_is_one_plus_noise_squared() -> None:
    # The clean target is standardised over train+val, then noise of std `noise` is added.
    noise = 0.5
    task = make_regression_task(n_train=3000, n_val=3000, noise=noise, rng=np.random.default_rng(1))
    y = np.concatenate([task.y_train, task.y_val]).astype(np.float64)
    assert y.var() == pytest.approx(1 + noise**2, rel=0.08)
    assert abs(y.mean()) < 0.06


def test_regression_features_have_mixed_raw_scales() -> None:
    task = make_regression_task(n_train=500, rng=np.random.default_rng(0))
    std = task.X_train.std(axis=0)
    assert std.max() / std.min() > 1e3
    assert np.abs(task.X_train.mean(axis=0)).max() > 1.0  # not centred either


def test_regression_target_depends_only_on_informative_columns() -> None:
    # With noise 0, y is a sum of sine ridges, linear terms and products of the
    # informative columns: each informative column correlates with y through z or
    # sin(1.5 z); a distractor column is independent of y, so its correlation is ~0.
    rng = np.random.default_rng(2)
    task = make_regression_task(n_train=4000, n_val=2, n_features=12, n_informative=3, noise=0.0, rng=rng)
    X, y = task.X_train.astype(np.float64), task.y_train.astype(np.float64)
    Z = (X - X.mean(0)) / X.std(0)
    # Correlation of y with smooth transforms of each column: non-zero only for informative ones.
    feats = np.concatenate([Z, np.sin(1.5 * Z)], axis=1)
    corr = np.abs([np.corrcoef(feats[:, j], y)[0, 1] for j in range(feats.shape[1])])
    per_column = np.maximum(corr[:12], corr[12:])
    assert np.sum(per_column > 0.1) <= 3
    assert np.sum(per_column > 0.1) >= 1
    assert np.sort(per_column)[:9].max() < 0.06


def test_regression_noise_zero_is_reproducible_function_of_x() -> None:
    a = make_regression_task(n_train=50, n_val=50, noise=0.0, rng=np.random.default_rng(7))
    b = make_regression_task(n_train=50, n_val=50, noise=1.0, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(a.X_train, b.X_train)
    assert not np.array_equal(a.y_train, b.y_train)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"n_train": 1}, "n_train"),
        ({"n_val": 0}, "n_val"),
        ({"n_features": 3, "n_informative": 4}, "n_features"),
        ({"n_informative": 0}, "n_informative"),
        ({"noise": -0.1}, "noise"),
    ],
)
def test_regression_bad_arguments_raise_naming_them(kwargs: dict, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        make_regression_task(rng=np.random.default_rng(0), **kwargs)


def test_classification_task_shapes_dtypes_and_labels() -> None:
    task = make_classification_task(n_train=300, n_val=400, n_features=8, n_classes=4, rng=np.random.default_rng(0))
    assert task.X_train.shape == (300, 8) and task.X_val.shape == (400, 8)
    assert task.X_train.dtype == np.float32 and task.X_val.dtype == np.float32
    assert task.y_train.dtype == np.int64 and task.y_val.dtype == np.int64
    assert task.n_classes == 4
    labels = np.concatenate([task.y_train, task.y_val])
    assert labels.min() >= 0 and labels.max() <= 3
    assert len(np.unique(labels)) == 4  # every class occurs
    Xt, yt, _, _ = task.tensors()
    assert Xt.dtype == torch.float32 and yt.dtype == torch.int64


def test_classification_labels_are_learnable_but_noisy() -> None:
    # Labels depend on X (a tree ensemble beats the majority class by a margin)
    # but carry label noise (it cannot be perfect on held-out rows).
    from sklearn.ensemble import RandomForestClassifier

    task = make_classification_task(n_train=1000, n_val=1000, n_classes=3, rng=np.random.default_rng(3))
    clf = RandomForestClassifier(n_estimators=20, random_state=0, n_jobs=1).fit(task.X_train, task.y_train)
    acc = clf.score(task.X_val, task.y_val)
    chance = np.bincount(task.y_val).max() / len(task.y_val)
    assert acc > chance + 0.15
    assert acc < 0.97  # label noise keeps it from being trivially separable


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"n_classes": 1}, "n_classes"), ({"label_noise": 1.5}, "label_noise"), ({"n_train": 1}, "n_train")],
)
def test_classification_bad_arguments_raise_naming_them(kwargs: dict, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        make_classification_task(rng=np.random.default_rng(0), **kwargs)


def test_badly_scaled_columns_follow_the_scales_and_y_is_linear_in_x() -> None:
    scales = (1e-3, 1.0, 1e3, 1e5)
    X, y = make_badly_scaled_features(2000, rng=np.random.default_rng(0), scales=scales, noise=0.1)
    assert X.shape == (2000, 4) and y.shape == (2000,)
    assert X.dtype == np.float32 and y.dtype == np.float32
    std = X.astype(np.float64).std(axis=0)
    np.testing.assert_allclose(std, scales, rtol=0.1)
    # Least squares without an intercept leaves residuals of the noise's size.
    Xd = X.astype(np.float64)
    w, *_ = np.linalg.lstsq(Xd, y.astype(np.float64), rcond=None)
    resid = y - Xd @ w
    assert resid.std() == pytest.approx(0.1, rel=0.1)
    # ... and every column matters equally in standardised units.
    contrib = np.abs(w) * std
    assert contrib.min() > 0.05


def test_badly_scaled_gradient_descent_slow_unscaled_fast_standardised() -> None:
    X, y = make_badly_scaled_features(500, rng=np.random.default_rng(1))
    X, y = X.astype(np.float64), y.astype(np.float64)

    def gd_loss(A: np.ndarray, steps: int = 100) -> float:
        A = np.column_stack([A, np.ones(len(A))])  # intercept, as any practical fit has
        H = A.T @ A / len(A)
        lr = 1.0 / np.linalg.eigvalsh(H).max()  # the largest stable-ish step
        w = np.zeros(A.shape[1])
        for _ in range(steps):
            w -= lr * A.T @ (A @ w - y) / len(A)
        best = np.linalg.lstsq(A, y, rcond=None)[0]
        excess = np.mean((A @ w - y) ** 2) - np.mean((A @ best - y) ** 2)
        return excess / np.var(y)

    Z = (X - X.mean(0)) / X.std(0)
    assert gd_loss(Z) < 1e-6
    assert gd_loss(X) > 0.1


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"scales": ()}, "scales"), ({"scales": (1.0, -1.0)}, "scales"), ({"n_samples": 1}, "n_samples"), ({"noise": -1.0}, "noise")],
)
def test_badly_scaled_bad_arguments_raise_naming_them(kwargs: dict, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        make_badly_scaled_features(rng=np.random.default_rng(0), **kwargs)
