"""ps02_dropout: the inputs of every test cell; random functions are judged by rules of their own (``rules_ps02``)."""

from __future__ import annotations

import numpy as np

from . import Case, Check, call_inplace

__all__ = ["CHECKS"]


def _fixed(*cases: Case):
    return lambda rng: list(cases)


def _gen(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def mask_of(fn, args, kwargs):
    """Runner: only the mask of ``dropout_forward`` travels back (the grader counts it)."""
    return fn(*args, **kwargs)[1]


def out_of(fn, args, kwargs):
    """Runner: only the output of ``dropout_forward``."""
    return fn(*args, **kwargs)[0]


def twice_and_other_seed(fn, args, kwargs):
    """Runner: two calls with the same seed, one with another: (mask1, out1, mask2, out2, mask3)."""
    x, p = args
    o1, m1 = fn(x.copy(), p, True, np.random.default_rng(42))
    o2, m2 = fn(x.copy(), p, True, np.random.default_rng(42))
    _, m3 = fn(x.copy(), p, True, np.random.default_rng(43))
    return (m1, o1, m2, o2, m3)


def _kept_hidden(rng: np.random.Generator) -> list[Case]:
    out = []
    for p, shape, dtype in [(0.1, (50,), np.float64), (0.5, (6, 7), np.float64), (0.8, (3, 4, 5), np.float32)]:
        x = np.asarray(rng.standard_normal(shape), dtype=dtype)
        out.append(Case(f"dropout_forward with p={p} on a {np.dtype(dtype).name} array of shape {shape}", (x, p, True, _gen(int(rng.integers(1 << 30))))))
    return out


def _backward_hidden(rng: np.random.Generator) -> list[Case]:
    out = []
    for p, shape in [(0.0, (5,)), (0.2, (4, 6)), (0.75, (2, 3, 4))]:
        d = rng.standard_normal(shape)
        m = rng.random(shape) >= p
        out.append(Case(f"dropout_backward with p={p}, shape {shape}", (d, m, p)))
    return out


_X = np.array([[1.0, -2.0], [3.0, 4.0]])

CHECKS: dict[str, list[Check]] = {
    "test_dropout_forward_shapes": [
        Check("dropout_forward", _fixed(Case("dropout_forward(ones((4, 5)), 0.5)", (np.ones((4, 5)), 0.5, True, _gen(0)))), "shapes"),
        Check("dropout_forward", lambda rng: [Case(f"dropout_forward with rng=None and x of shape {s}", (np.ones(s), 0.3)) for s in [(7,), (2, 3, 4)]], "shapes", hidden=True),
    ],
    "test_dropout_forward_kept_scaled": [
        Check("dropout_forward", _fixed(Case("dropout_forward(x, p=0.25): out must equal x * mask / (1 - p) for the mask it returns", (np.arange(1.0, 13.0).reshape(3, 4), 0.25, True, _gen(1)))), "kept_scaled"),
        Check("dropout_forward", _kept_hidden, "kept_scaled", hidden=True),
    ],
    "test_dropout_forward_drop_fraction": [
        Check("dropout_forward", _fixed(Case("dropped units for p=0.3", (np.ones(20000), 0.3, True, _gen(2)))), "drop_fraction", runner=mask_of),
        Check("dropout_forward", lambda rng: [
            Case(f"dropped units for p={p}", (np.ones(s), p, True, _gen(int(rng.integers(1 << 30))))) for p, s in [(0.1, (100, 100)), (0.5, (40, 250)), (0.9, (10000,))]
        ], "drop_fraction", hidden=True, runner=mask_of),
    ],
    "test_dropout_forward_mean_preserved": [
        Check("dropout_forward", _fixed(Case("mean of dropout_forward(ones, p=0.4) (should be about 1)", (np.ones(40000), 0.4, True, _gen(3)))), "mean_preserved", runner=out_of),
    ],
    "test_dropout_forward_identity": [
        Check("dropout_forward", _fixed(
            Case("dropout_forward(x, p=0.5, training=False)", (_X, 0.5), {"training": False, "rng": _gen(4)}, expect=(_X, np.ones((2, 2), dtype=bool)), options={"exact": True}),
            Case("dropout_forward(x, p=0.0, training=True)", (_X, 0.0), {"training": True, "rng": _gen(4)}, expect=(_X, np.ones((2, 2), dtype=bool)), options={"exact": True}),
        )),
    ],
    "test_dropout_forward_p_one": [
        Check("dropout_forward", _fixed(Case("dropout_forward(x, p=1) (all zeros, no NaN or inf, an all-False mask)", (np.ones((3, 3)), 1.0, True, _gen(5)), expect=(np.zeros((3, 3)), np.zeros((3, 3), dtype=bool)), options={"exact": True}))),
    ],
    "test_dropout_forward_reproducible": [
        Check("dropout_forward", _fixed(Case("dropout_forward with np.random.default_rng(42) twice, then 43", (np.ones(1000), 0.5))), "reproducible", runner=twice_and_other_seed),
    ],
    "test_dropout_forward_errors": [
        Check("dropout_forward", _fixed(
            Case("dropout_forward(x, p=-0.1)", (np.ones(3), -0.1), options={"arg": "p"}),
            Case("dropout_forward(x, p=1.5)", (np.ones(3), 1.5), options={"arg": "p"}),
        ), "raises"),
    ],
    "test_dropout_forward_no_inplace": [
        Check("dropout_forward", _fixed(Case("dropout_forward", (np.arange(1.0, 7.0), 0.5, True, _gen(6)))), "unchanged", runner=call_inplace),
    ],
    "test_dropout_backward_values": [
        Check("dropout_backward", _fixed(Case("dropout_backward(dout, mask, p=0.5)", (np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([[True, False], [False, True]]), 0.5), expect=np.array([[2.0, 0.0], [0.0, 8.0]])))),
        Check("dropout_backward", _backward_hidden, hidden=True),
    ],
    "test_dropout_backward_p_one": [
        Check("dropout_backward", _fixed(Case("dropout_backward(dout, mask, p=1)", (np.ones((2, 3)), np.zeros((2, 3), dtype=bool), 1.0), expect=np.zeros((2, 3)), options={"exact": True}))),
    ],
    "test_dropout_backward_errors": [
        Check("dropout_backward", _fixed(Case("dropout_backward(dout, mask, p=1.5)", (np.ones(3), np.ones(3, dtype=bool), 1.5), options={"arg": "p"})), "raises"),
    ],
    "test_dropout_backward_no_inplace": [
        Check("dropout_backward", _fixed(Case("dropout_backward", (np.arange(1.0, 5.0), np.array([True, False, True, True]), 0.5))), "unchanged", runner=call_inplace),
    ],
}
