"""ps07_gpu_timing: the inputs of every test cell (torch), run on the kernel's device, and the speed cells.

Inputs are made on the CPU from a seed and moved by the runners to ``device()`` (CUDA
when the machine has one, else the CPU); results come back to the grader as plain
numbers. Checks on PyTorch's ``meta`` device build their tensors inside the runner (a
meta tensor holds no data, so it cannot be part of an input digest).

The correctness design of the old in-kernel cells is kept, so that one mistake costs one
behaviour: ``forward`` on large-scale rows, ``eps`` on rows of tiny variance in float32
(where ``D - 1`` vs ``D`` is below the tolerance), ``shapes``/``affine``/``weight``
compare the student's function with ITSELF (N-D vs the same rows as a matrix, weight and
bias vs ones and zeros) besides checking that rows come out normalised.

:data:`SPEED` names the speed cells: their probe check is only the precondition (rows
come out normalised at the grading shape); the speed itself is measured by the grader's
clock (:mod:`..clock`) in two fresh sandboxed kernels, never inside the notebook's kernel.
"""

from __future__ import annotations

import numpy as np

from . import Case, Check

__all__ = [
    "CHECKS",
    "SPEED",
    "SPEED_SHAPE",
    "SPEED_LIMIT",
    "SPEED_ARGS",
    "device",
    "on_device",
    "leading_columns",
    "shapes_of",
    "dtype_of",
    "affine_of",
    "inplace_on_device",
    "device_of",
    "meta_of",
    "normalised",
]

#: Speed test cell -> the function it times (against the reference, by the grader's clock).
SPEED = {"test_layer_norm_speed": "layer_norm", "test_rms_norm_speed": "rms_norm"}
#: The shape timed: 8192 short rows, so a per-row Python loop pays 8192 trips through the interpreter.
SPEED_SHAPE = (8192, 256)
#: A student's time may be at most this many times the reference's.
SPEED_LIMIT = 3.0
#: How each timed function is called on the timed input ``x`` (``_w``/``_b``: its weight and bias).
SPEED_ARGS = {"layer_norm": "x, _w, _b", "rms_norm": "x, _w"}


def _torch():
    import torch  # lazily: the other assignments' kernels never import torch for the probe

    return torch


def device():
    """The device the tests run on: CUDA when there is one, else the CPU (the setup cell's ``DEVICE``)."""
    torch = _torch()
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _dev(values):
    torch = _torch()
    dev = device()
    return tuple(v.to(dev) if isinstance(v, torch.Tensor) else v for v in values)


def on_device(fn, args, kwargs):
    """Runner: ``fn`` on the arguments moved to ``device()``."""
    return fn(*_dev(args), **kwargs)


def leading_columns(fn, args, kwargs):
    """Runner of the eps checks: the result's first 512 columns (rows of 16384 features are needed to
    hide a D - 1 divisor below float32's tolerance, not to judge eps; the record stays small)."""
    return fn(*_dev(args), **kwargs)[..., :512]


def _stat(kind: str, out):
    return out.mean(dim=-1) if kind == "layer_norm" else out.square().mean(dim=-1)


def shapes_of(kind: str):
    """Runner factory: (shape of the result, its row statistic, result minus your own result on the rows as a matrix)."""

    def run(fn, args, kwargs):
        x, *rest = _dev(args)
        out = fn(x, *rest, **kwargs)
        d = x.shape[-1]
        own = fn(x.reshape(-1, d), *rest, **kwargs)
        return (str(tuple(out.shape)), _stat(kind, out), out.reshape(-1, d) - own)

    run.__name__ = f"shapes_of_{kind}"
    return run


def dtype_of(fn, args, kwargs):
    """Runner: the dtype of the result, as a name."""
    return str(getattr(fn(*_dev(args), **kwargs), "dtype", None))


def affine_of(kind: str, stat: bool = True):
    """Runner factory: ([the row statistic of fn(x, ones[, zeros]),] fn(x, w[, b]) minus fn(x, ones[, zeros]) * w [+ b])."""

    def run(fn, args, kwargs):
        torch = _torch()
        x, *params = _dev(args)
        plain = fn(x, *[torch.ones_like(params[0]), *([torch.zeros_like(params[1])] if len(params) > 1 else [])], **kwargs)
        full = fn(x, *params, **kwargs)
        diff = full - (plain * params[0] + (params[1] if len(params) > 1 else 0.0))
        return (_stat(kind, plain), diff) if stat else (diff,)

    run.__name__ = f"affine_of_{kind}"
    return run


def inplace_on_device(fn, args, kwargs):
    """Runner of the no-in-place checks: the arguments (on the device) as they are after the call."""
    moved = _dev(args)
    fn(*moved, **kwargs)
    return (tuple(moved), dict(kwargs))


def device_of(fn, args, kwargs):
    """Runner: the device type of the result for an input on ``device()`` (args: x, weight[, bias])."""
    out = fn(*_dev(args), **kwargs)
    return str(getattr(getattr(out, "device", None), "type", None))


def cpu_device_of(fn, args, kwargs):
    """Runner: the device type of the result for an input on the CPU (another device on a GPU machine)."""
    out = fn(*args, **kwargs)
    return str(getattr(getattr(out, "device", None), "type", None))


def meta_of(fn, args, kwargs):
    """Runner: (device, shape) of the result for tensors of PyTorch's data-less ``meta`` device.

    Args: ``(shape, dtype name, number of parameters)``; the tensors are built here.
    """
    torch = _torch()
    shape, dtype, nparams = args
    dt = getattr(torch, dtype)
    x = torch.empty(*shape, device="meta", dtype=dt)
    params = [torch.ones(shape[-1], device="meta", dtype=dt), torch.zeros(shape[-1], device="meta", dtype=dt)][:nparams]
    out = fn(x, *params, **kwargs)
    return (str(getattr(out, "device", None)), str(tuple(getattr(out, "shape", ()))))


def normalised(kind: str):
    """Runner factory of the speed cells' precondition: on the timed shape (float32, ones and zeros),
    the largest |row mean| and |row std - 1| (layer norm) or |row mean square - 1| (RMS norm)."""

    def run(fn, args, kwargs):
        torch = _torch()
        (seed,) = args
        g = torch.Generator().manual_seed(seed)
        x = (3.0 * torch.randn(*SPEED_SHAPE, generator=g) + 1.0).to(device())
        d = SPEED_SHAPE[-1]
        params = (torch.ones(d, device=x.device), torch.zeros(d, device=x.device))[: 2 if kind == "layer_norm" else 1]
        out = fn(x, *params).double()
        if kind == "layer_norm":
            return (float(out.mean(dim=-1).abs().max()), float((out.std(dim=-1, correction=0) - 1.0).abs().max()))
        return (float((out.square().mean(dim=-1) - 1.0).abs().max()),)

    run.__name__ = f"normalised_{kind}"
    return run


def _fixed(*cases: Case):
    return lambda rng: list(cases)


def _t(values, dtype="float64"):
    torch = _torch()
    return torch.tensor(values, dtype=getattr(torch, dtype))


def _g(rng):
    return _torch().Generator().manual_seed(int(rng.integers(1 << 30)))


def _params(kind: str, d: int, dtype) -> tuple:
    torch = _torch()
    return (torch.ones(d, dtype=dtype), torch.zeros(d, dtype=dtype))[: 2 if kind == "layer_norm" else 1]


def _plain_name(kind: str) -> str:
    return "layer_norm(x, ones, zeros)" if kind == "layer_norm" else "rms_norm(x, ones)"


def _forward_hidden(kind: str):
    def make(rng):
        torch = _torch()
        g = _g(rng)
        out = []
        for n, d in [(1, 9), (16, 64), (33, 257)]:
            for dtype in (torch.float64, torch.float32):
                x = (50.0 * torch.randn(n, d, generator=g, dtype=torch.float64) + 7.0).to(dtype)
                out.append(Case(f"{_plain_name(kind)} on a random {n} x {d} {str(dtype)[6:]} input", (x, *_params(kind, d, dtype))))
        return out

    return make


def _shapes_visible(kind: str):
    def make(rng):
        torch = _torch()
        g = torch.Generator().manual_seed(7102 if kind == "layer_norm" else 7202)
        x = 10.0 * torch.randn(2, 3, 5, generator=g, dtype=torch.float64)
        return [Case(f"{kind} of a (2, 3, 5) input", (x, *_params(kind, 5, torch.float64)), options={"parts": _shape_parts(kind, (2, 3, 5))})]

    return make


def _shape_parts(kind: str, shape: tuple) -> list:
    stat = "row means" if kind == "layer_norm" else "mean squares of the rows"
    flat = f"({int(np.prod(shape[:-1]))}, {shape[-1]})"
    return [
        [f"the shape of {kind} of a {shape} input", None, None],
        [f"the {stat} of {_plain_name(kind)} for a {shape} input (each row of the LAST dimension is normalised)", 1e-4, 1e-6],
        [f"{kind} of a {shape} input, compared with your own result on the same rows as a {flat} matrix", None, None],
    ]


def _shapes_hidden(kind: str):
    def make(rng):
        torch = _torch()
        g = _g(rng)
        out = []
        for shape in [(7,), (2, 2, 3, 6)]:
            x = 10.0 * torch.randn(*shape, generator=g, dtype=torch.float64)
            out.append(Case(f"{kind} of a {shape} input", (x, *_params(kind, shape[-1], torch.float64)), options={"parts": _shape_parts(kind, shape)}))
        return out

    return make


def _dtypes(kind: str, seed: int | None):
    def make(rng):
        torch = _torch()
        g = torch.Generator().manual_seed(seed) if seed is not None else _g(rng)
        out = []
        shapes = [((4, 6), torch.float32, {}), ((4, 6), torch.float64, {})] if seed is not None else [((2, 3, 8), torch.float32, {"eps": 1e-3}), ((5, 4), torch.float64, {"eps": 1e-2})]
        for shape, dtype, kw in shapes:
            x = torch.randn(*shape, generator=g, dtype=dtype)
            what = f"{kind} of a {shape} {str(dtype)[6:]} input" + (f" with eps={kw['eps']:g}" if kw else "")
            out.append(Case(f"{what} (it must return {str(dtype)[6:]})", (x, *_params(kind, shape[-1], dtype)), kw))
        return out

    return make


def _affine(kind: str, hidden: bool):
    def make(rng):
        torch = _torch()
        stat = "row means" if kind == "layer_norm" else "mean squares of the rows"
        full = "layer_norm(x, weight, bias)" if kind == "layer_norm" else "rms_norm(x, weight)"
        then = "* weight + bias" if kind == "layer_norm" else "* weight"
        if not hidden:
            g = torch.Generator().manual_seed(7104 if kind == "layer_norm" else 7204)
            x = 20.0 * torch.randn(5, 6, generator=g, dtype=torch.float64)
            w = torch.tensor([0.5, -1.0, 2.0, 1.5, 0.0, 3.0], dtype=torch.float64)
            b = torch.tensor([1.0, 0.0, -2.0, 0.5, 4.0, -0.25], dtype=torch.float64)
            where = ""
        else:
            g = _g(rng)
            x = 20.0 * torch.randn(3, 4, 16, generator=g)
            w, b = 1.0 + torch.randn(16, generator=g), torch.randn(16, generator=g)
            where = " on a random (3, 4, 16) float32 input"
        params = (w, b) if kind == "layer_norm" else (w,)
        parts = [
            [f"the {stat} of {_plain_name(kind)}{where}", 1e-4, 1e-6],
            [f"{full}{where}, compared with your {_plain_name(kind)} {then}", None, None],
        ][1 if hidden else 0:]  # the hidden inputs are 3-D: only the affine step is this cell's behaviour
        return [Case(f"{full}{where}", (x, *params), options={"parts": parts})]

    return make


def _eps(kind: str, hidden: bool):
    def make(rng):
        torch = _torch()
        d = 16384
        if not hidden:
            g = torch.Generator().manual_seed(7105 if kind == "layer_norm" else 7205)
            x = 1e-3 * torch.randn(4, d, generator=g)
            what = "variance" if kind == "layer_norm" else "mean square"
            other = 1e-3 if kind == "layer_norm" else 1e-4
            return [
                Case(f"{_plain_name(kind)} with the default eps on rows of {what} about 1e-6", (x, *_params(kind, d, torch.float32))),
                Case(f"{_plain_name(kind)[:-1]}, eps={other:g}) on rows of {what} about 1e-6", (x, *_params(kind, d, torch.float32)), {"eps": other}),
            ]
        g = _g(rng)
        x = 0.3 * torch.randn(3, d, generator=g) - (2.0 if kind == "layer_norm" else 0.0)
        return [Case(f"{_plain_name(kind)[:-1]}, 0.5) (eps given by position) on rows of {'variance' if kind == 'layer_norm' else 'mean square'} about 0.09", (x, *_params(kind, d, torch.float32), 0.5))]

    return make


def _inplace(kind: str, hidden: bool):
    def make(rng):
        torch = _torch()
        if not hidden:
            g = torch.Generator().manual_seed(7106 if kind == "layer_norm" else 7206)
            args = (torch.randn(4, 8, generator=g), torch.rand(8, generator=g), torch.randn(8, generator=g))
            return [Case(kind, args[: 3 if kind == "layer_norm" else 2])]
        g = _g(rng)
        args = (torch.randn(2, 3, 8, generator=g, dtype=torch.float64), torch.rand(8, generator=g, dtype=torch.float64), torch.randn(8, generator=g, dtype=torch.float64))
        return [Case(f"{kind} on a (2, 3, 8) float64 input", args[: 3 if kind == "layer_norm" else 2], {"eps": 1e-2})]

    return make


_META_HINT = ("Create any tensor you need on x.device (torch.zeros(..., device=x.device), torch.zeros_like(x)) and use "
              "tensor operations only (no .item(), numpy or Python loops over values)")


def _device_checks(kind: str) -> list[Check]:
    n = 2 if kind == "layer_norm" else 1

    def visible(rng):
        torch = _torch()
        g = torch.Generator().manual_seed(7107 if kind == "layer_norm" else 7207)
        x = torch.randn(3, 8, generator=g)
        return [Case(f"the device of {kind}'s result for an input on the test device", (x, *_params(kind, 8, torch.float32)))]

    def meta_parts(what: str) -> dict:
        return {"hint": _META_HINT, "parts": [[f"the device of {what}", None, None], [f"the shape of {what}", None, None]]}

    def meta_visible(rng):
        return [Case(f"{kind} failed on tensors of the 'meta' device (shapes, no data: a stand-in for a GPU)", ((3, 8), "float32", n),
                     options=meta_parts(f"{kind}'s result for a (3, 8) input on the meta device"))]

    def meta_hidden(rng):
        return [Case(f"{kind} failed on a (2, 5, 16) float64 input on the 'meta' device", ((2, 5, 16), "float64", n), {"eps": 1e-3},
                     options=meta_parts(f"{kind}'s result for a (2, 5, 16) float64 input on the meta device"))]

    def cpu_hidden(rng):
        torch = _torch()
        x = torch.randn(3, 8, generator=_g(rng))
        return [Case(f"the device of {kind}'s result for a CPU input (it must stay on the CPU)", (x, *_params(kind, 8, torch.float32)))]

    return [
        Check(kind, visible, runner=device_of),
        Check(kind, meta_visible, "parts", runner=meta_of),
        Check(kind, meta_hidden, "parts", hidden=True, runner=meta_of),
        Check(kind, cpu_hidden, hidden=True, runner=cpu_device_of),
    ]


def _cells(kind: str) -> dict[str, list[Check]]:
    ex = ("layer_norm(x, ones, zeros) on a 2 x 4 float64 example" if kind == "layer_norm" else "rms_norm(x, ones) on a 2 x 4 float64 example")
    rows = [[100.0, 200.0, 300.0, 400.0], [-50.0, 0.0, 50.0, 700.0]] if kind == "layer_norm" else [[100.0, -200.0, 300.0, 400.0], [-50.0, 0.0, 50.0, 700.0]]
    forward_visible = Check(kind, lambda rng: [Case(ex, (_t(rows), *_params(kind, 4, _torch().float64)))], runner=on_device)
    name = "affine" if kind == "layer_norm" else "weight"
    return {
        f"test_{kind}_forward": [forward_visible, Check(kind, _forward_hidden(kind), hidden=True, runner=on_device)],
        f"test_{kind}_shapes": [Check(kind, _shapes_visible(kind), "parts", runner=shapes_of(kind)),
                                Check(kind, _shapes_hidden(kind), "parts", hidden=True, runner=shapes_of(kind))],
        f"test_{kind}_dtype": [Check(kind, _dtypes(kind, 7103 if kind == "layer_norm" else 7203), runner=dtype_of),
                               Check(kind, _dtypes(kind, None), hidden=True, runner=dtype_of)],
        f"test_{kind}_{name}": [Check(kind, _affine(kind, False), "parts", runner=affine_of(kind)),
                                Check(kind, _affine(kind, True), "parts", hidden=True, runner=affine_of(kind, stat=False))],
        f"test_{kind}_eps": [Check(kind, _eps(kind, False), runner=leading_columns), Check(kind, _eps(kind, True), hidden=True, runner=leading_columns)],
        f"test_{kind}_no_inplace": [Check(kind, _inplace(kind, False), "unchanged", runner=inplace_on_device),
                                    Check(kind, _inplace(kind, True), "unchanged", hidden=True, runner=inplace_on_device)],
        f"test_{kind}_device": _device_checks(kind),
        f"test_{kind}_speed": [Check(kind, _fixed(Case(
            f"{_plain_name(kind)} on the timed 8192 x 256 float32 input must normalise each row "
            f"({'mean 0, standard deviation 1' if kind == 'layer_norm' else 'mean square 1'}) before its speed counts; "
            f"largest deviation{'s (|row mean|, |row std - 1|)' if kind == 'layer_norm' else ' |row mean square - 1|'}",
            (7000 + (1 if kind == "layer_norm" else 2),), options={"rtol": 0.0, "atol": 1e-2})), runner=normalised(kind))],
    }


CHECKS: dict[str, list[Check]] = {**_cells("layer_norm"), **_cells("rms_norm")}
