"""ps03_feature_scaling: the inputs of every test cell (hand-worked examples visible, drawn data hidden)."""

from __future__ import annotations

import numpy as np

from . import Case, Check, call_inplace

__all__ = ["CHECKS", "train_of", "test_of", "first_columns"]


def _fixed(*cases: Case):
    return lambda rng: list(cases)


def train_of(fn, args, kwargs):
    """Runner: only the scaled training set travels back."""
    return fn(*args, **kwargs)[0]


def test_of(fn, args, kwargs):
    """Runner: only the scaled test set."""
    return fn(*args, **kwargs)[1]


def first_columns(fn, args, kwargs):
    """Runner: the first column of the scaled training and test sets."""
    tr, te = fn(*args, **kwargs)
    return (np.asarray(tr)[:, 0], np.asarray(te)[:, 0])


def _drawn(name: str, which: str, sizes, train, test, n_test: int):
    def make(rng: np.random.Generator) -> list[Case]:
        out = []
        for n, d in sizes:
            Xtr = train(rng, (n, d))
            Xte = test(rng, (n_test, d))
            label = f"{name}: training set of shape {(n, d)}" if which == "train" else f"{name}: test set with training shape {(n, d)}"
            out.append(Case(label, (Xtr, Xte)))
        return out

    return make


_M = np.array([[1.0, 10.0], [3.0, 20.0], [2.0, 30.0]])
_C = np.array([[5.0, 1.0], [5.0, 2.0], [5.0, 3.0]])
_Z = np.array([[1.0, 10.0], [3.0, 10.0], [5.0, 40.0], [7.0, 40.0]])
_S = np.sqrt(5.0)

CHECKS: dict[str, list[Check]] = {
    "test_min_max_scale_train": [
        Check("min_max_scale", _fixed(Case("min_max_scale: the scaled training set", (_M, _M[:1]), expect=np.array([[0.0, 0.0], [1.0, 0.5], [0.5, 1.0]]))), runner=train_of),
        Check("min_max_scale", _drawn("min_max_scale", "train", [(5, 1), (40, 6), (200, 3)], lambda r, s: r.normal(3.0, 5.0, size=s), lambda r, s: r.normal(3.0, 5.0, size=s), 7), hidden=True, runner=train_of),
    ],
    "test_min_max_scale_test_uses_train_stats": [
        Check("min_max_scale", _fixed(Case(
            "min_max_scale: the scaled test set (training min 0, max 10; values may leave [0, 1])",
            (np.array([[0.0], [10.0]]), np.array([[5.0], [20.0], [-10.0]])), expect=np.array([[0.5], [2.0], [-1.0]]),
        )), runner=test_of),
        Check("min_max_scale", _drawn("min_max_scale", "test", [(6, 2), (50, 4)], lambda r, s: r.uniform(-2.0, 2.0, size=s), lambda r, s: r.uniform(-4.0, 4.0, size=s), 9), hidden=True, runner=test_of),
    ],
    "test_min_max_scale_feature_range": [
        Check("min_max_scale", _fixed(Case(
            "min_max_scale(..., feature_range=(-1, 1)): the scaled training set", (_M, _M), {"feature_range": (-1.0, 1.0)},
            expect=np.array([[-1.0, -1.0], [1.0, 0.0], [0.0, 1.0]]),
        )), runner=train_of),
    ],
    "test_min_max_scale_constant_column": [
        Check("min_max_scale", _fixed(Case(
            "min_max_scale: a constant training column (must map to feature_range[0], no NaN)", (_C, _C), {"feature_range": (2.0, 4.0)},
            expect=(np.full(3, 2.0), np.full(3, 2.0)),
        )), runner=first_columns),
    ],
    "test_min_max_scale_errors": [
        Check("min_max_scale", _fixed(
            Case("min_max_scale(..., feature_range=(1, 1))", (np.ones((3, 2)), np.ones((3, 2))), {"feature_range": (1.0, 1.0)}, options={"arg": "feature_range"}),
            Case("min_max_scale(..., feature_range=(2, 0))", (np.ones((3, 2)), np.ones((3, 2))), {"feature_range": (2.0, 0.0)}, options={"arg": "feature_range"}),
        ), "raises"),
    ],
    "test_min_max_scale_no_inplace": [
        Check("min_max_scale", _fixed(Case("min_max_scale", (np.array([[1.0, 2.0], [3.0, 5.0]]), np.array([[2.0, 2.0]])))), "unchanged", runner=call_inplace),
    ],
    "test_z_score_train": [
        Check("z_score", _fixed(Case(
            "z_score: the scaled training set (population std, ddof=0)", (_Z, _Z[:1]),
            expect=np.array([[-3 / _S, -1.0], [-1 / _S, -1.0], [1 / _S, 1.0], [3 / _S, 1.0]]),
        )), runner=train_of),
        Check("z_score", _drawn("z_score", "train", [(3, 1), (30, 5), (300, 2)], lambda r, s: r.normal(-4.0, 3.0, size=s), lambda r, s: r.normal(-4.0, 3.0, size=s), 5), hidden=True, runner=train_of),
    ],
    "test_z_score_test_uses_train_stats": [
        Check("z_score", _fixed(Case("z_score: the scaled test set (training mean 1, std 1)", (np.array([[0.0], [2.0]]), np.array([[1.0], [5.0]])), expect=np.array([[0.0], [4.0]]))), runner=test_of),
        Check("z_score", _drawn("z_score", "test", [(8, 3), (60, 2)], lambda r, s: r.normal(1.0, 2.0, size=s), lambda r, s: r.normal(0.0, 4.0, size=s), 11), hidden=True, runner=test_of),
    ],
    "test_z_score_constant_column": [
        Check("z_score", _fixed(Case(
            "z_score: a constant training column (std taken as 1, no NaN; test value x - mean)", (_C, np.array([[7.0, 2.0]])),
            expect=(np.zeros(3), np.array([2.0])),
        )), runner=first_columns),
    ],
    "test_z_score_no_inplace": [
        Check("z_score", _fixed(Case("z_score", (np.array([[1.0, 2.0], [3.0, 5.0]]), np.array([[2.0, 2.0]])))), "unchanged", runner=call_inplace),
    ],
}
