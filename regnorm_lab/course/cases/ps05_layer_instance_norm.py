"""ps05_layer_instance_norm: the inputs of every test cell; the backward checks run the student's own forward first."""

from __future__ import annotations

import numpy as np

from . import Case, Check

__all__ = ["CHECKS", "out_of", "backward_part", "backward_inplace", "inplace"]


def _fixed(*cases: Case):
    return lambda rng: list(cases)


def out_of(fn, args, kwargs):
    """Runner: the forward output only (the cache stays in the kernel)."""
    return fn(*args, **kwargs)[0]


def inplace(fn, args, kwargs):
    """Runner of the no-in-place checks: the arguments as they are after the call."""
    fn(*args, **kwargs)
    return (tuple(args), dict(kwargs))


def _backward(fns, args):
    backward, forward = fns
    x, gamma, beta, dout = args
    return backward, forward(x.copy(), gamma.copy(), beta.copy())[1], dout


def backward_part(index: int):
    """Runner factory: dx (0), dgamma (1) or dbeta (2) after the student's own forward."""

    def run(fns, args, kwargs):
        backward, cache, dout = _backward(fns, args)
        return backward(dout, cache)[index]

    run.__name__ = f"backward_part_{index}"
    return run


def backward_inplace(fns, args, kwargs):
    """Runner: the arguments after the backward call (dout must be unchanged)."""
    backward, cache, dout = _backward(fns, args)
    backward(dout, cache)
    return (tuple(args[:3]) + (dout,), {})


_X2 = np.array([[1.0, 2.0, -1.0, 0.5], [0.5, -1.0, 2.0, 4.0], [3.0, 0.0, 0.0, -3.0]])
_X4 = np.arange(48.0).reshape(2, 4, 2, 3) ** 1.5 % 7.0
_G4, _B4 = np.array([1.0, 2.0, 0.5, -1.0]), np.array([0.0, -1.0, 0.5, 2.0])
_DOUT = np.array([[0.5, -1.0, 2.0, 1.0], [1.0, 0.0, -0.5, 0.25], [-1.5, 2.0, 1.0, -1.0]])


def _ln_hidden(rng):
    out = []
    for n, d, dtype in [(1, 5, np.float64), (6, 2, np.float64), (32, 17, np.float64), (9, 8, np.float32)]:
        x = np.asarray(rng.standard_normal((n, d)) * rng.uniform(0.1, 10.0, (n, 1)) + rng.uniform(-100, 100, (n, 1)), dtype=dtype)
        g, b = np.asarray(rng.standard_normal(d), dtype=dtype), np.asarray(rng.standard_normal(d), dtype=dtype)
        out.append(Case(f"layernorm_forward output for a {np.dtype(dtype).name} input of shape {(n, d)}", (x, g, b)))
    return out


def _ln_eps_hidden(rng):
    return [Case(f"layernorm_forward with eps={eps} passed positionally", (rng.standard_normal((4, 6)) * 0.1, rng.standard_normal(6), rng.standard_normal(6), eps)) for eps in (1e-3, 0.5, 2.0)]


def _bw_hidden(name: str, sizes):
    def make(rng):
        out = []
        for n, d, dtype in sizes:
            x = np.asarray(rng.standard_normal((n, d)) * 3.0 + rng.uniform(-20, 20, (n, 1)), dtype=dtype)
            g, b = np.asarray(rng.standard_normal(d), dtype=dtype), np.asarray(rng.standard_normal(d), dtype=dtype)
            out.append(Case(f"{name} for a {np.dtype(dtype).name} input of shape {(n, d)}", (x, g, b, np.asarray(rng.standard_normal((n, d)), dtype=dtype))))
        return out

    return make


def _bw(index: int, name: str, visible_gamma, sizes):
    run = backward_part(index)
    return [
        Check("layernorm_backward", _fixed(Case(f"{name} on a 3x4 input", (_X2, visible_gamma, _B4, _DOUT))), runner=run, helpers=("layernorm_forward",)),
        Check("layernorm_backward", _bw_hidden(name, sizes), hidden=True, runner=run, helpers=("layernorm_forward",)),
    ]


def _in_hidden(rng):
    out = []
    for shape, dtype in [((1, 1, 2, 2), np.float64), ((3, 2, 5, 4), np.float64), ((2, 6, 7, 1), np.float64), ((4, 3, 6, 6), np.float32)]:
        x = np.asarray(rng.standard_normal(shape) * rng.uniform(0.1, 10.0, shape[:2] + (1, 1)) + rng.uniform(-50, 50, shape[:2] + (1, 1)), dtype=dtype)
        out.append(Case(f"instancenorm_forward for a {np.dtype(dtype).name} input of shape {shape}", (x,)))
    return out


def _gn_hidden(rng):
    out = []
    for shape, groups, dtype in [((2, 6, 3, 3), 3, np.float64), ((1, 8, 2, 5), 4, np.float64), ((3, 6, 4, 1), 2, np.float64), ((2, 9, 4, 4), 3, np.float32)]:
        c = shape[1]
        x = np.asarray(rng.standard_normal(shape) * rng.uniform(0.5, 5.0, (1, c, 1, 1)) + rng.uniform(-20, 20, (1, c, 1, 1)), dtype=dtype)
        g, b = np.asarray(rng.standard_normal(c), dtype=dtype), np.asarray(rng.standard_normal(c), dtype=dtype)
        out.append(Case(f"groupnorm_forward for a {np.dtype(dtype).name} input of shape {shape} with {groups} groups", (x, groups, g, b)))
        if dtype == np.float64 and groups == 2:
            out.append(Case("groupnorm_forward with eps=0.5 passed positionally", (x, groups, g, b, 0.5)))
    return out


def _gn_special_hidden(rng):
    x = rng.standard_normal((3, 5, 2, 4)) * 4.0 + 1.0
    g, b = rng.standard_normal(5), rng.standard_normal(5)
    return [Case(f"groupnorm_forward with num_groups={k} and C=5", (x, k, g, b)) for k in (1, 5)]


CHECKS: dict[str, list[Check]] = {
    "test_layernorm_forward": [
        Check("layernorm_forward", _fixed(Case("layernorm_forward output on a 3x4 input", (_X2, _G4, _B4))), runner=out_of),
        Check("layernorm_forward", _ln_hidden, hidden=True, runner=out_of),
    ],
    "test_layernorm_forward_eps": [
        Check("layernorm_forward", _fixed(Case("layernorm_forward with eps=0.1 on rows of small variance", (np.array([[1.0, 1.1, 0.9, 1.0], [0.0, 0.2, -0.2, 0.0]]), np.ones(4), np.zeros(4)), {"eps": 0.1})), runner=out_of),
        Check("layernorm_forward", _ln_eps_hidden, hidden=True, runner=out_of),
    ],
    "test_layernorm_forward_no_inplace": [
        Check("layernorm_forward", _fixed(Case("layernorm_forward", (np.random.default_rng(5003).standard_normal((5, 4)) + 3.0, _G4, _B4))), "unchanged", runner=inplace),
    ],
    "test_layernorm_backward_dx": _bw(0, "dx", _G4, [(1, 3, np.float64), (4, 1, np.float64), (16, 9, np.float64), (7, 5, np.float32)]),
    "test_layernorm_backward_dgamma": _bw(1, "dgamma", _G4, [(6, 4, np.float64)]),
    "test_layernorm_backward_dbeta": _bw(2, "dbeta", np.ones(4), [(11, 3, np.float64)]),
    "test_layernorm_backward_no_inplace": [
        Check("layernorm_backward", _fixed(Case("layernorm_backward", (np.random.default_rng(5007).standard_normal((5, 4)), _G4, np.zeros(4), np.random.default_rng(5017).standard_normal((5, 4))))),
              "unchanged", runner=backward_inplace, helpers=("layernorm_forward",)),
    ],
    "test_instancenorm_forward": [
        Check("instancenorm_forward", _fixed(Case("instancenorm_forward on a (2, 4, 2, 3) input", (_X4,)))),
        Check("instancenorm_forward", _in_hidden, hidden=True),
    ],
    "test_instancenorm_forward_eps": [
        Check("instancenorm_forward", _fixed(Case("instancenorm_forward with eps=0.01", (_X4 * 0.01,), {"eps": 0.01}))),
        Check("instancenorm_forward", lambda rng: [Case(f"instancenorm_forward with eps={e} passed positionally", (rng.standard_normal((2, 3, 4, 4)) * 0.3, e)) for e in (1e-3, 1.0)], hidden=True),
    ],
    "test_instancenorm_forward_no_inplace": [
        Check("instancenorm_forward", _fixed(Case("instancenorm_forward", (np.random.default_rng(5010).standard_normal((2, 3, 4, 4)) + 1.0,))), "unchanged", runner=inplace),
    ],
    "test_groupnorm_forward": [
        Check("groupnorm_forward", _fixed(Case("groupnorm_forward with 2 groups on a (2, 4, 2, 3) input", (_X4, 2, _G4, _B4)))),
        Check("groupnorm_forward", _gn_hidden, hidden=True),
    ],
    "test_groupnorm_forward_special_cases": [
        Check("groupnorm_forward", _fixed(
            Case("groupnorm_forward with num_groups=1 (layer norm over (C, H, W))", (_X4, 1, np.ones(4), np.zeros(4))),
            Case("groupnorm_forward with num_groups=C=4 (instance norm)", (_X4, 4, np.ones(4), np.zeros(4))),
        )),
        Check("groupnorm_forward", _gn_special_hidden, hidden=True),
    ],
    "test_groupnorm_forward_errors": [
        Check("groupnorm_forward", _fixed(Case("groupnorm_forward with C=4 and num_groups=3", (np.ones((2, 4, 3, 3)), 3, np.ones(4), np.zeros(4)), options={"arg": "num_groups"})), "raises"),
        Check("groupnorm_forward", _fixed(
            Case("groupnorm_forward with C=6 and num_groups=4", (np.ones((1, 6, 2, 2)), 4, np.ones(6), np.zeros(6)), options={"arg": "num_groups"}),
            Case("groupnorm_forward with more groups (6) than channels (3)", (np.ones((1, 3, 2, 2)), 6, np.ones(3), np.zeros(3)), options={"arg": "num_groups"}),
        ), "raises", hidden=True),
    ],
    "test_groupnorm_forward_no_inplace": [
        Check("groupnorm_forward", _fixed(Case("groupnorm_forward", (np.random.default_rng(5013).standard_normal((2, 4, 3, 3)) + 2.0, 2, _G4, _B4))), "unchanged", runner=inplace),
    ],
}
