"""ps01_penalties: the inputs of every test cell (visible examples worked out by hand, hidden ones drawn)."""

from __future__ import annotations

import numpy as np

from . import Case, Check, call_inplace

__all__ = ["CHECKS"]

_W = np.array([[1.0, -2.0], [0.5, 0.0]])
_SHAPES = [(), (7,), (3, 4), (2, 3, 5)]


def _fixed(*cases: Case):
    return lambda rng: list(cases)


def _drawn(name: str, *, dtypes=(np.float64, np.float32), n_lams: int = 1, scale: float = 1.0, zeros: float = 0.0, high: float = 2.0, as_float: bool = False):
    """Random weights of several shapes and dtypes, each with random non-negative strengths."""

    def make(rng: np.random.Generator) -> list[Case]:
        out = []
        for shape in _SHAPES:
            for dtype in dtypes:
                w = np.asarray(scale * rng.standard_normal(shape), dtype=dtype)
                if zeros:
                    w[np.abs(w) < zeros] = 0.0
                lams = tuple(float(v) for v in rng.uniform(0.0, high, size=n_lams))
                out.append(Case(f"{name} on a {np.dtype(dtype).name} array of shape {shape}", (w, *lams), options={"float": as_float}))
        return out

    return make


def _errors(name: str, *calls: tuple[tuple, str, str]):
    return _fixed(*(Case(what, args, options={"arg": arg}) for args, arg, what in calls))


def _inplace(name: str, *extra: float):
    return _fixed(Case(name, (np.array([1.0, -2.0, 0.0, 3.0]), *extra)))


CHECKS: dict[str, list[Check]] = {
    "test_l1_penalty_forward": [
        Check("l1_penalty", _fixed(Case("l1_penalty([[1, -2], [0.5, 0]], 0.1)", (_W, 0.1), expect=0.35, options={"float": True}))),
        Check("l1_penalty", _drawn("l1_penalty", as_float=True), hidden=True),
        Check("l1_penalty", _fixed(
            Case("l1_penalty of all-zero weights", (np.zeros((3, 3)), 5.0), expect=0.0, options={"float": True}),
            Case("l1_penalty with lam=0", (np.ones(4), 0.0), expect=0.0, options={"float": True}),
        ), hidden=True),
    ],
    "test_l1_penalty_errors": [
        Check("l1_penalty", _errors("l1_penalty", ((np.ones(3), -0.1), "lam", "l1_penalty(w, lam=-0.1)")), "raises"),
        Check("l1_penalty", _errors("l1_penalty", ((np.ones((2, 2)), -1e-9), "lam", "l1_penalty with a tiny negative lam")), "raises", hidden=True),
    ],
    "test_l1_penalty_no_inplace": [Check("l1_penalty", _inplace("l1_penalty", 0.5), "unchanged", runner=call_inplace)],
    "test_l2_penalty_forward": [
        Check("l2_penalty", _fixed(Case("l2_penalty([[1, -2], [0.5, 0]], 0.1)", (_W, 0.1), expect=0.525, options={"float": True}))),
        Check("l2_penalty", _drawn("l2_penalty", as_float=True), hidden=True),
    ],
    "test_l2_penalty_errors": [
        Check("l2_penalty", _errors("l2_penalty", ((np.ones(3), -0.1), "lam", "l2_penalty(w, lam=-0.1)")), "raises"),
    ],
    "test_l2_penalty_no_inplace": [Check("l2_penalty", _inplace("l2_penalty", 0.5), "unchanged", runner=call_inplace)],
    "test_elastic_net_penalty_forward": [
        Check("elastic_net_penalty", _fixed(Case("elastic_net_penalty([[1, -2], [0.5, 0]], 0.1, 0.2)", (_W, 0.1, 0.2), expect=1.4, options={"float": True}))),
        Check("elastic_net_penalty", _drawn("elastic_net_penalty", dtypes=(np.float64,), n_lams=2, high=1.0, as_float=True), hidden=True),
        Check("elastic_net_penalty", _fixed(
            Case("elastic_net_penalty with l1=0 (pure L2)", (np.array([3.0, -4.0]), 0.0, 1.0), expect=25.0),
            Case("elastic_net_penalty with l2=0 (pure L1)", (np.array([3.0, -4.0]), 1.0, 0.0), expect=7.0),
        ), hidden=True),
    ],
    "test_elastic_net_penalty_errors": [
        Check("elastic_net_penalty", _errors(
            "elastic_net_penalty",
            ((np.ones(3), -0.1, 0.1), "l1", "elastic_net_penalty(w, l1=-0.1, l2=0.1)"),
            ((np.ones(3), 0.1, -0.1), "l2", "elastic_net_penalty(w, l1=0.1, l2=-0.1)"),
        ), "raises"),
    ],
    "test_elastic_net_penalty_no_inplace": [Check("elastic_net_penalty", _inplace("elastic_net_penalty", 0.5, 0.25), "unchanged", runner=call_inplace)],
    "test_l1_grad_forward": [
        Check("l1_grad", _fixed(Case("l1_grad([[1.5, -2], [0, 3]], 0.5)", (np.array([[1.5, -2.0], [0.0, 3.0]]), 0.5), expect=np.array([[0.5, -0.5], [0.0, 0.5]])))),
        Check("l1_grad", _drawn("l1_grad", dtypes=(np.float64,), zeros=0.3), hidden=True),
    ],
    "test_l1_grad_errors": [Check("l1_grad", _errors("l1_grad", ((np.ones(3), -0.1), "lam", "l1_grad(w, lam=-0.1)")), "raises")],
    "test_l1_grad_no_inplace": [Check("l1_grad", _inplace("l1_grad", 0.5), "unchanged", runner=call_inplace)],
    "test_l2_grad_forward": [
        Check("l2_grad", _fixed(Case("l2_grad([[1.5, -2], [0, 3]], 0.5)", (np.array([[1.5, -2.0], [0.0, 3.0]]), 0.5), expect=np.array([[1.5, -2.0], [0.0, 3.0]])))),
        Check("l2_grad", _drawn("l2_grad", dtypes=(np.float64,)), hidden=True),
    ],
    "test_l2_grad_errors": [Check("l2_grad", _errors("l2_grad", ((np.ones(3), -0.1), "lam", "l2_grad(w, lam=-0.1)")), "raises")],
    "test_l2_grad_no_inplace": [Check("l2_grad", _inplace("l2_grad", 0.5), "unchanged", runner=call_inplace)],
    "test_soft_threshold_forward": [
        Check("soft_threshold", _fixed(Case("soft_threshold([3, -2, 0.5, -0.25], 1.0)", (np.array([3.0, -2.0, 0.5, -0.25]), 1.0), expect=np.array([2.0, -1.0, 0.0, 0.0])))),
        Check("soft_threshold", _drawn("soft_threshold", dtypes=(np.float64,), scale=2.0, high=1.5), hidden=True),
        Check("soft_threshold", _fixed(Case("soft_threshold with t=0", (np.array([1.0, -2.0]), 0.0), expect=np.array([1.0, -2.0]))), hidden=True),
    ],
    "test_soft_threshold_sparsity": [
        Check("soft_threshold", _fixed(Case(
            "soft_threshold([0.1, -0.2, 0.3, -0.3, 0.31, -1.0], 0.3) (entries with |w| <= t become exactly 0, the others stay non-zero)",
            (np.array([0.1, -0.2, 0.3, -0.3, 0.31, -1.0]), 0.3), options={"sparsity": 4},
        )), "sparsity"),
    ],
    "test_soft_threshold_errors": [Check("soft_threshold", _errors("soft_threshold", ((np.ones(3), -0.1), "t", "soft_threshold(w, t=-0.1)")), "raises")],
    "test_soft_threshold_no_inplace": [Check("soft_threshold", _inplace("soft_threshold", 0.5), "unchanged", runner=call_inplace)],
}
