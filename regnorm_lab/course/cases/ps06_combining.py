"""ps06_combining: the inputs of every test cell (torch); models are described as plain data in the kernel.

A model never crosses to the grader: runners build it from a seed, call the student's
function, and send back numbers and layer names (``describe``), which the grader
compares with the same runner applied to the reference.
"""

from __future__ import annotations

import numpy as np

from . import Case, Check

__all__ = ["CHECKS", "describe", "penalty_and_grads", "state_after", "r2_of_model_output", "forward_shape"]


def _torch():
    import torch  # the kernel of this assignment imports torch anyway; kept lazy for the others

    return torch


def _fixed(*cases: Case):
    return lambda rng: list(cases)


def _model(spec: tuple, seed: int):
    """A model from a plain description: ("linear", in, out, bias) / ("bn", n) / ("ln", n) / ("relu",) / ("tanh",) / ("dropout", p) / ("seq", [...])."""
    torch = _torch()
    nn = torch.nn
    g = torch.Generator().manual_seed(seed)

    def build(item):
        kind = item[0]
        if kind == "seq":
            return nn.Sequential(*(build(i) for i in item[1]))
        layer = {
            "linear": lambda: nn.Linear(item[1], item[2], bias=item[3]),
            "bn": lambda: nn.BatchNorm1d(item[1]),
            "ln": lambda: nn.LayerNorm(item[1]),
            "relu": nn.ReLU,
            "tanh": nn.Tanh,
            "dropout": lambda: nn.Dropout(item[1]),
        }[kind]()
        return layer

    model = build(spec)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) + 0.5)
    return model


def penalty_and_grads(fn, args, kwargs):
    """Runner: the penalty's value and shape, and the gradient it gives every parameter (zeros where none)."""
    torch = _torch()
    spec, seed, l1, l2 = args
    model = _model(spec, seed)
    pen = fn(model, l1, l2)
    pen.backward()
    grads = [p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p) for p in model.parameters()]
    return (pen.detach(), list(pen.shape), grads)


def penalty_value(fn, args, kwargs):
    """Runner: the penalty's value only."""
    spec, seed, l1, l2 = args
    return fn(_model(spec, seed), l1, l2).detach()


def state_after(fn, args, kwargs):
    """Runner: the model's parameters and buffers after the call."""
    spec, seed, l1, l2 = args
    model = _model(spec, seed)
    fn(model, l1, l2)
    return [v.detach().clone() for v in model.state_dict().values()]


def describe(fn, args, kwargs):
    """Runner: the built model as data: layer type names, Linear sizes, Dropout and BatchNorm settings."""
    model = fn(*args, **kwargs)
    kinds = [type(layer).__name__ for layer in model]
    sizes = [[layer.in_features, layer.out_features] for layer in model if hasattr(layer, "in_features")]
    drops = [float(layer.p) for layer in model if type(layer).__name__ == "Dropout"]
    norms = [int(layer.num_features) for layer in model if type(layer).__name__ == "BatchNorm1d"]
    return (kinds, sizes, drops, norms)


def forward_shape(fn, args, kwargs):
    """Runner: the output shape on a seeded batch, and whether the model is in training mode."""
    torch = _torch()
    model = fn(*args, **kwargs)
    out = model(torch.randn(7, args[0], generator=torch.Generator().manual_seed(6006)))
    return (list(out.shape), bool(model.training))


def r2_of_model_output(fn, args, kwargs):
    """Runner: r2_score on predictions that require grad, straight from a seeded nn.Linear."""
    torch = _torch()
    (seed,) = args
    g = torch.Generator().manual_seed(seed)
    X, y = torch.randn(20, 3, generator=g), torch.randn(20, generator=g)
    lin = _model(("linear", 3, 1, True), seed)
    return fn(y, lin(X).reshape(-1))


def _t(values, dtype="float32"):
    torch = _torch()
    return torch.tensor(values, dtype=getattr(torch, dtype))


def _r2_hidden(rng):
    torch = _torch()
    g = torch.Generator().manual_seed(int(rng.integers(1 << 30)))
    out = []
    for n, dtype, noise in [(2, torch.float64, 0.5), (10, torch.float64, 3.0), (200, torch.float64, 0.1), (500, torch.float32, 0.7), (64, torch.float32, 5.0)]:
        y = torch.randn(n, generator=g, dtype=torch.float64) * 4.0 + 10.0
        p = y + noise * torch.randn(n, generator=g, dtype=torch.float64)
        out.append(Case(f"r2_score of {n} {str(dtype)[6:]} values with noise {noise}", (y.to(dtype), p.to(dtype))))
    return out


_SMALL = ("seq", [("linear", 2, 2, False), ("relu",), ("linear", 2, 1, False)])
_BN = ("seq", [("bn", 2), ("linear", 2, 2, True), ("relu",), ("linear", 2, 1, True)])


def _nested(a, b, c=None):
    layers = [("linear", a, b, False)] + ([("tanh",), ("linear", b, c, False)] if c else [])
    return ("seq", [layers[0], ("seq", layers[1:])]) if c else ("seq", layers)


def _penalty_hidden(rng):
    out = []
    for sizes in [(5, 3), (4, 8, 1), (20, 32, 1)]:
        seed = int(rng.integers(1 << 30))
        for a, b in [(0.0, 0.0), (1e-3, 0.0), (0.0, 0.5), (0.01, 0.02)]:
            out.append(Case(f"weight_penalty with l1={a}, l2={b} on Linear layers {sizes}", (_nested(*sizes), seed, a, b)))
    return out


CHECKS: dict[str, list[Check]] = {
    "test_r2_score_values": [
        Check("r2_score", _fixed(Case("r2_score([3, -0.5, 2, 7], [2.5, 0, 2, 8])", (_t([3.0, -0.5, 2.0, 7.0]), _t([2.5, 0.0, 2.0, 8.0]))))),
        Check("r2_score", _r2_hidden, hidden=True),
    ],
    "test_r2_score_float": [
        Check("r2_score", _fixed(Case("r2_score([1, 2, 3], [1, 2, 4])", (_t([1.0, 2.0, 3.0]), _t([1.0, 2.0, 4.0])), options={"float": True}))),
        Check("r2_score", _fixed(Case("r2_score of float64 tensors", (_t([0.5, 1.5, -2.0, 4.0], "float64"), _t([0.0, 1.0, -2.5, 4.5], "float64")), options={"float": True})), hidden=True),
    ],
    "test_r2_score_constant_target": [
        Check("r2_score", _fixed(
            Case("r2_score of a constant y_true with exact predictions", (_t([2.0, 2.0, 2.0]), _t([2.0, 2.0, 2.0])), expect=1.0),
            Case("r2_score of a constant y_true with other predictions", (_t([2.0, 2.0, 2.0]), _t([2.0, 2.5, 2.0])), expect=0.0),
        )),
    ],
    "test_r2_score_model_output": [
        Check("r2_score", _fixed(Case("r2_score of predictions that require grad", (6002,))), runner=r2_of_model_output),
    ],
    "test_r2_score_no_inplace": [
        Check("r2_score", _fixed(Case("r2_score", (_t([1.0, 2.0, 3.0, 4.0]), _t([1.5, 2.0, 2.5, 4.0])))), "unchanged",
              runner=lambda fn, a, k: (fn(*a, **k), (tuple(a), dict(k)))[1]),
    ],
    "test_weight_penalty_value": [
        Check("weight_penalty", _fixed(Case("weight_penalty(model, 0.1, 0.2) on two bias-free Linear layers", (_SMALL, 6000, 0.1, 0.2))), runner=penalty_value),
        Check("weight_penalty", _penalty_hidden, hidden=True, runner=penalty_value),
    ],
    "test_weight_penalty_only_linear_weights": [
        Check("weight_penalty", _fixed(Case("weight_penalty(model, 0.1, 0.2) on BatchNorm1d, Linear, ReLU, Linear (value, shape, gradients of every parameter)", (_BN, 6001, 0.1, 0.2))), runner=penalty_and_grads),
        Check("weight_penalty", _fixed(Case(
            "weight_penalty(model, 0.2, 0.3) with BatchNorm1d, LayerNorm and Dropout layers (value, shape, gradients of every parameter)",
            (("seq", [("bn", 6), ("linear", 6, 4, True), ("ln", 4), ("relu",), ("dropout", 0.1), ("linear", 4, 1, True)]), 6004, 0.2, 0.3),
        )), hidden=True, runner=penalty_and_grads),
    ],
    "test_weight_penalty_differentiable": [
        Check("weight_penalty", _fixed(Case("weight_penalty(model, 0.1, 0.01): value, shape (a 0-d tensor) and gradients", (_SMALL, 6002, 0.1, 0.01))), runner=penalty_and_grads),
        Check("weight_penalty", lambda rng: [
            Case(f"weight_penalty with l1={a}, l2={b} on nested Linear layers: value, shape and gradients", (_nested(7, 5, 3), int(rng.integers(1 << 30)), a, b)) for a, b in [(0.5, 0.0), (0.0, 0.25)]
        ], hidden=True, runner=penalty_and_grads),
    ],
    "test_weight_penalty_no_inplace": [
        Check("weight_penalty", _fixed(Case("the model's parameters and buffers after weight_penalty(model, 0.1, 0.2) (it must only read the weights)", (
            ("seq", [("bn", 3), ("linear", 3, 4, True), ("relu",), ("linear", 4, 1, True)]), 6007, 0.1, 0.2,
        ), options={"exact": True})), runner=state_after),
    ],
    "test_build_model_layers": [
        Check("build_model", _fixed(Case("build_model(20): (layer types, Linear sizes, Dropout p, BatchNorm features)", (20,))), runner=describe),
        Check("build_model", _fixed(Case("build_model(3, hidden=7): (layer types, Linear sizes, Dropout p, BatchNorm features)", (3,), {"hidden": 7})), hidden=True, runner=describe),
    ],
    "test_build_model_dropout": [
        Check("build_model", _fixed(Case("build_model(10, hidden=16, dropout=0.2): (layer types, Linear sizes, Dropout p, BatchNorm features)", (10,), {"hidden": 16, "dropout": 0.2})), runner=describe),
        Check("build_model", _fixed(Case("build_model(4, hidden=8, dropout=0.5, batch_norm=False): (layer types, Linear sizes, Dropout p, BatchNorm features)", (4,), {"hidden": 8, "dropout": 0.5, "batch_norm": False})), hidden=True, runner=describe),
    ],
    "test_build_model_no_batch_norm": [
        Check("build_model", _fixed(Case("build_model(6, hidden=4, batch_norm=False): (layer types, Linear sizes, Dropout p, BatchNorm features)", (6,), {"hidden": 4, "batch_norm": False})), runner=describe),
    ],
    "test_build_model_forward": [
        Check("build_model", _fixed(Case("build_model(5, hidden=8, dropout=0.1) on a (7, 5) batch: (output shape, in training mode)", (5,), {"hidden": 8, "dropout": 0.1})), runner=forward_shape),
    ],
}
