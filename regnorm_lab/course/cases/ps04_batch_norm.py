"""ps04_batch_norm: the inputs of every test cell; backward checks run the student's own forward first."""

from __future__ import annotations

import numpy as np

from . import Case, Check

__all__ = ["CHECKS", "out_of", "stats_of", "eval_of", "backward_part", "backward_inplace"]


def _fixed(*cases: Case):
    return lambda rng: list(cases)


def out_of(fn, args, kwargs):
    """Runner: the forward output only."""
    return fn(*args, **kwargs)[0]


def stats_of(index: int):
    """Runner factory: the new running mean (2) or variance (3) only."""

    def run(fn, args, kwargs):
        return fn(*args, **kwargs)[index]

    run.__name__ = f"stats_of_{index}"
    return run


def eval_of(fn, args, kwargs):
    """Runner: (out, new_running_mean, new_running_var); the cache stays in the kernel."""
    out, _, new_mean, new_var = fn(*args, **kwargs)
    return (out, new_mean, new_var)


def _forward_then_backward(fns, args):
    backward, forward = fns
    x, gamma, beta, dout, eps = args
    cache = forward(x.copy(), gamma.copy(), beta.copy(), np.zeros(x.shape[1]), np.ones(x.shape[1]), True, 0.1, eps)[1]
    return backward, cache, dout


def backward_part(index: int):
    """Runner factory: dx (0), dgamma (1) or dbeta (2) after the student's own training-mode forward."""

    def run(fns, args, kwargs):
        backward, cache, dout = _forward_then_backward(fns, args)
        return backward(dout, cache)[index]

    run.__name__ = f"backward_part_{index}"
    return run


def backward_inplace(fns, args, kwargs):
    """Runner of the no-in-place check: the arguments as they are after the backward call."""
    backward, cache, dout = _forward_then_backward(fns, args)
    backward(dout, cache)
    return (tuple(args[:3]) + (dout, args[4]), {})


def _batch(rng, n, d, dtype=np.float64, spread=(0.1, 10.0), shift=50.0):
    return np.asarray(rng.standard_normal((n, d)) * rng.uniform(*spread, d) + rng.uniform(-shift, shift, d), dtype=dtype)


def _training_hidden(rng):
    out = []
    for n, d, dtype in [(2, 3, np.float64), (16, 5, np.float64), (64, 8, np.float32)]:
        x = _batch(rng, n, d, dtype)
        g, b = np.asarray(rng.standard_normal(d), dtype=dtype), np.asarray(rng.standard_normal(d), dtype=dtype)
        rm, rv = rng.standard_normal(d), rng.uniform(0.5, 2.0, d)
        eps = float(rng.choice([1e-5, 1e-3, 0.1]))
        out.append(Case(f"batchnorm_forward output for a {np.dtype(dtype).name} batch of shape {(n, d)}, eps={eps}", (x, g, b, rm, rv, True, 0.1, eps)))
    return out


def _stats_hidden(kind: str):
    def make(rng):
        out = []
        for n, d in [(2, 2), (10, 4), (50, 3)]:
            x = rng.standard_normal((n, d)) * rng.uniform(0.5, 4.0, d) + 7.0
            rm, rv = rng.standard_normal(d), rng.uniform(0.5, 2.0, d)
            out.append(Case(f"new running {kind} for a batch of shape {(n, d)}", (x, np.ones(d), np.zeros(d), rm, rv)))
        return out

    return make


def _eval_hidden(rng):
    out = []
    for n, d in [(1, 3), (8, 4)]:
        x = rng.standard_normal((n, d)) * 2.0 + 1.0
        g, b = rng.standard_normal(d), rng.standard_normal(d)
        rm, rv = rng.standard_normal(d), rng.uniform(0.2, 3.0, d)
        out.append(Case(f"evaluation-mode (out, running mean, running variance) for a batch of shape {(n, d)} (N=1 is allowed when not training)", (x, g, b, rm, rv), {"training": False}))
    return out


def _backward_cases(rng, sizes, dtypes=(np.float64,)):
    out = []
    for (n, d), dtype in [(s, t) for s in sizes for t in dtypes]:
        x = _batch(rng, n, d, dtype, (0.2, 5.0), 10.0)
        g, b = np.asarray(rng.standard_normal(d), dtype=dtype), np.asarray(rng.standard_normal(d), dtype=dtype)
        dout = np.asarray(rng.standard_normal((n, d)), dtype=dtype)
        eps = float(rng.choice([1e-5, 1e-2]))
        out.append(Case(f"a {np.dtype(dtype).name} batch of shape {(n, d)}, eps={eps}", (x, g, b, dout, eps)))
    return out


_X = np.array([[1.0, 2.0, -1.0], [0.5, -1.0, 2.0], [3.0, 0.0, 0.0], [-2.0, 1.0, 1.0]])
_G, _B = np.array([1.0, 2.0, 0.5]), np.array([0.0, -1.0, 0.5])
_DOUT = np.array([[0.5, -1.0, 2.0], [1.0, 0.0, -0.5], [-1.5, 2.0, 1.0], [0.25, 0.5, -2.0]])
_X2 = np.array([[2.0, 1.0], [4.0, 3.0]])  # column means (3, 2), unbiased variances (2, 2)
_RM = np.array([1.0, -1.0])
_ARGS = (np.ones(3), np.zeros(3), np.zeros(3), np.ones(3))


def _bw(index: int, name: str, hidden_sizes):
    visible = Check("batchnorm_backward", _fixed(Case(f"{name} on a 4x3 batch", (_X, _G, _B, _DOUT, 1e-5))), runner=backward_part(index), helpers=("batchnorm_forward",))
    hidden = Check("batchnorm_backward", lambda rng: [Case(f"{name} for {c.label}", c.args) for c in _backward_cases(rng, hidden_sizes, (np.float64, np.float32))], hidden=True, runner=backward_part(index), helpers=("batchnorm_forward",))
    return [visible, hidden]


CHECKS: dict[str, list[Check]] = {
    "test_batchnorm_forward_training": [
        Check("batchnorm_forward", _fixed(Case("batchnorm_forward output on a 4x3 batch", (_X, _G, _B, np.zeros(3), np.ones(3)))), runner=out_of),
        Check("batchnorm_forward", _training_hidden, hidden=True, runner=out_of),
    ],
    "test_batchnorm_forward_running_mean": [
        Check("batchnorm_forward", _fixed(Case("new running mean with the default momentum 0.1", (_X2, np.ones(2), np.zeros(2), _RM, np.ones(2)), expect=0.9 * _RM + 0.1 * np.array([3.0, 2.0]))), runner=stats_of(2)),
        Check("batchnorm_forward", _stats_hidden("mean"), hidden=True, runner=stats_of(2)),
    ],
    "test_batchnorm_forward_running_var": [
        Check("batchnorm_forward", _fixed(Case("new running variance (unbiased batch variance, momentum 0.1)", (_X2, np.ones(2), np.zeros(2), _RM, np.array([1.0, 2.0])), expect=0.9 * np.array([1.0, 2.0]) + 0.1 * np.array([2.0, 2.0]))), runner=stats_of(3)),
        Check("batchnorm_forward", _stats_hidden("variance"), hidden=True, runner=stats_of(3)),
    ],
    "test_batchnorm_forward_eval": [
        Check("batchnorm_forward", _fixed(Case("evaluation-mode (out, running mean, running variance) (uses and returns the running statistics)", (_X, _G, _B, np.array([0.5, -0.5, 1.0]), np.array([2.0, 0.5, 1.0])), {"training": False})), runner=eval_of),
        Check("batchnorm_forward", _eval_hidden, hidden=True, runner=eval_of),
    ],
    "test_batchnorm_forward_momentum": [
        Check("batchnorm_forward", _fixed(
            Case("new running mean with momentum=0.5", (_X2, np.ones(2), np.zeros(2), _RM, np.ones(2)), {"momentum": 0.5}, expect=0.5 * _RM + 0.5 * np.array([3.0, 2.0])),
            Case("new running mean with momentum=0 (the old one)", (_X2, np.ones(2), np.zeros(2), _RM, np.ones(2)), {"momentum": 0.0}, expect=_RM),
            Case("new running mean with momentum=1 (the batch mean)", (_X2, np.ones(2), np.zeros(2), _RM, np.ones(2)), {"momentum": 1.0}, expect=np.array([3.0, 2.0])),
            Case("new running mean with momentum=0.75 passed positionally", (_X2, np.ones(2), np.zeros(2), _RM, np.ones(2), True, 0.75), expect=0.25 * _RM + 0.75 * np.array([3.0, 2.0])),
        ), runner=stats_of(2)),
    ],
    "test_batchnorm_forward_errors": [
        Check("batchnorm_forward", _fixed(
            Case("batchnorm_forward on a single sample (N=1) in training mode", (np.ones((1, 3)), *_ARGS), options={"arg": "x"}),
            Case("batchnorm_forward with eps=0", (np.ones((4, 3)), *_ARGS), {"eps": 0.0}, options={"arg": "eps"}),
            Case("batchnorm_forward with momentum=1.5", (np.ones((4, 3)), *_ARGS), {"momentum": 1.5}, options={"arg": "momentum"}),
        ), "raises"),
        Check("batchnorm_forward", _fixed(
            Case("batchnorm_forward with a negative eps", (np.ones((4, 3)), *_ARGS), {"eps": -1e-5}, options={"arg": "eps"}),
            Case("batchnorm_forward with momentum=-0.1", (np.ones((4, 3)), *_ARGS), {"momentum": -0.1}, options={"arg": "momentum"}),
            Case("batchnorm_forward with eps=0 in evaluation mode", (np.ones((4, 3)), *_ARGS), {"training": False, "eps": 0.0}, options={"arg": "eps"}),
        ), "raises", hidden=True),
    ],
    "test_batchnorm_forward_no_inplace": [
        Check("batchnorm_forward", lambda rng: [
            Case(f"batchnorm_forward (training={t})", (np.random.default_rng(4005 + t).standard_normal((6, 3)), _G, _B, np.array([0.1, 0.2, 0.3]), np.array([1.0, 2.0, 3.0])), {"training": t})
            for t in (True, False)
        ], "unchanged", runner=lambda fn, a, k: (fn(*a, **k), (tuple(a), dict(k)))[1]),
    ],
    "test_batchnorm_backward_dx": _bw(0, "dx", [(2, 2), (8, 4), (32, 6)]),
    "test_batchnorm_backward_dgamma": _bw(1, "dgamma", [(2, 2), (12, 5)]),
    "test_batchnorm_backward_dbeta": _bw(2, "dbeta", [(2, 3), (20, 7)]),
    "test_batchnorm_backward_no_inplace": [
        Check("batchnorm_backward", _fixed(Case("batchnorm_backward", (np.random.default_rng(4009).standard_normal((5, 3)), _G, _B, np.random.default_rng(4010).standard_normal((5, 3)), 1e-5))),
              "unchanged", runner=backward_inplace, helpers=("batchnorm_forward",)),
    ],
}
