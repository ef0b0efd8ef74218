"""The only course code a grading kernel runs: call the student's functions, report what happened as data.

A test cell of a converted assignment reads::

    # Test: l1_penalty returns lam * sum(|w|) as a float
    P.run("test_l1_penalty_forward", l1_penalty)
    ### BEGIN HIDDEN TESTS
    P.run("test_l1_penalty_forward", l1_penalty, hidden=True)
    ### END HIDDEN TESTS

with ``P = probe.session("ps01_penalties")`` from the setup cell. :meth:`Session.run`
regenerates the cell's test inputs from a seed (:mod:`.cases`), calls the student's
function on each, and writes one ``display_data`` output per check whose MIME type is
:data:`MIME`: for each input, a digest of the input and either the returned value or
the raised exception, encoded as JSON and ``.npy`` bytes (never pickle).

It decides nothing. The grader (:mod:`.judge`, in its own process) regenerates the same
inputs, computes the expected values with the reference implementation and rewrites the
test cell's outputs; whatever the kernel printed, raised or forged is ignored. In a
student's own notebook, where the reference package is installed, :meth:`Session.run`
also judges locally (with the grader's code, :mod:`.verdicts`) and raises
:class:`CheckFailed` with the same one-line message the grader would write.

This module imports only the standard library, numpy, torch (lazily, for tensors) and
:mod:`.cases`, so a sandboxed kernel can import it without the reference implementations.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import io
import json
from typing import Any, Callable

import numpy as np

__all__ = [
    "MIME",
    "VERSION",
    "KERNEL_MODULES",
    "DEFAULT_SECRET",
    "CheckFailed",
    "Session",
    "session",
    "cell_key",
    "check_seed",
    "encode",
    "decode",
    "digest",
    "run_case",
]

#: MIME type of a probe record in a test cell's outputs.
MIME = "application/vnd.regnorm-lab.probe+json"
VERSION = 1
#: What a sandboxed kernel needs of ``regnorm_lab/course/`` (this file and the input generators).
KERNEL_MODULES = ("probe.py", "cases")
#: The hidden-test secret when the course sets none (local use only; see ``c.Judge.secret``).
DEFAULT_SECRET = "regnorm-lab-local-default"
_MAX_MESSAGE = 300


class CheckFailed(AssertionError):
    """A check failed (raised only in a student's own notebook; the grader decides elsewhere)."""


def cell_key(secret: str, assignment: str, cell: str) -> str:
    """The hidden-input key of one test cell: an HMAC of the course secret (hex, 32 chars).

    Shape:
        Three strings -> one hex string.
    """
    return hmac.new(secret.encode(), f"{assignment}:{cell}".encode(), hashlib.sha256).hexdigest()[:32]


def check_seed(assignment: str, cell: str, index: int, key: str | None) -> int:
    """The seed of check ``index`` of ``cell``: public for visible checks (``key`` None), keyed for hidden ones.

    Shape:
        -> a non-negative int below 2**63.
    """
    text = f"{assignment}:{cell}:{index}:{key or 'visible'}"
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") >> 1


# ---- plain-data encoding ---------------------------------------------------------------------

def _npy(array: np.ndarray) -> str:
    buf = io.BytesIO()
    np.save(buf, np.array(array, order="C", copy=True), allow_pickle=False)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def encode(value: Any, depth: int = 0) -> dict[str, Any]:
    """``value`` as JSON-ready data: numbers, arrays (``.npy`` bytes), tensors, tuples, lists, dicts.

    Anything else is described by its type name only (it can never equal a number).

    Shape:
        Any value -> a dict with a type tag ``t``.
    """
    if depth > 8:
        return {"t": "other", "type": "nested too deep"}
    if value is None:
        return {"t": "none"}
    if isinstance(value, bool):
        return {"t": "bool", "v": value}
    if isinstance(value, int) and type(value).__module__ == "builtins":
        return {"t": "int", "v": str(value)}
    if isinstance(value, float):  # numpy.float64 is a float subclass: the contract's "Python float" too
        return {"t": "float", "v": float(value).hex()}
    if isinstance(value, str):
        return {"t": "str", "v": value[:_MAX_MESSAGE]}
    if isinstance(value, (np.ndarray, np.generic)):
        array = np.asarray(value)
        if array.dtype.kind not in "biufc":
            return {"t": "other", "type": f"numpy array of {array.dtype}"}
        return {"t": "ndarray" if isinstance(value, np.ndarray) else "npscalar", "npy": _npy(array)}
    if type(value).__module__.startswith("torch"):
        import torch

        if isinstance(value, torch.Tensor):
            t = value.detach().cpu()
            if t.dtype in (torch.bfloat16, torch.float16):
                t = t.float()
            return {"t": "tensor", "dtype": str(value.dtype), "requires_grad": bool(value.requires_grad), "npy": _npy(t.numpy())}
    if isinstance(value, Tensor):  # decoded values encode back to what they were decoded from
        return {"t": "tensor", "dtype": value.dtype, "requires_grad": value.requires_grad, "npy": _npy(value.array)}
    if isinstance(value, Other):
        return {"t": "other", "type": value.type_name}
    if isinstance(value, (tuple, list)):
        return {"t": "tuple" if isinstance(value, tuple) else "list", "items": [encode(v, depth + 1) for v in list(value)[:64]]}
    if isinstance(value, dict):
        return {"t": "dict", "items": {str(k): encode(v, depth + 1) for k, v in list(value.items())[:64]}}
    return {"t": "other", "type": type(value).__name__}


class Tensor:
    """A decoded torch tensor: its values (numpy), dtype name and ``requires_grad``."""

    def __init__(self, array: np.ndarray, dtype: str, requires_grad: bool) -> None:
        self.array, self.dtype, self.requires_grad = array, dtype, requires_grad


class Other:
    """A decoded value the probe could only name by type (never equal to a number)."""

    def __init__(self, type_name: str) -> None:
        self.type_name = type_name


def _load_npy(text: Any) -> np.ndarray:
    array = np.load(io.BytesIO(base64.b64decode(str(text), validate=True)), allow_pickle=False)
    if array.dtype.kind not in "biufc":
        raise ValueError("not numbers")
    return array


def decode(data: Any, depth: int = 0) -> Any:
    """Inverse of :func:`encode`; raises ``ValueError`` on anything malformed.

    Python floats come back as ``float``, arrays as ``ndarray``, numpy scalars as 0-d arrays
    of their dtype, tensors as :class:`Tensor`, unknown objects as :class:`Other`.
    """
    if depth > 9 or not isinstance(data, dict):
        raise ValueError("malformed value")
    t = data.get("t")
    if t == "none":
        return None
    if t == "bool":
        return bool(data["v"])
    if t == "int":
        return int(str(data["v"])[:400])
    if t == "float":
        return float.fromhex(str(data["v"]))
    if t == "str":
        return str(data["v"])
    if t in ("ndarray", "npscalar"):
        return _load_npy(data["npy"])
    if t == "tensor":
        return Tensor(_load_npy(data["npy"]), str(data.get("dtype", "")), bool(data.get("requires_grad", False)))
    if t in ("tuple", "list"):
        items = [decode(v, depth + 1) for v in data["items"]]
        return tuple(items) if t == "tuple" else items
    if t == "dict":
        return {str(k): decode(v, depth + 1) for k, v in dict(data["items"]).items()}
    if t == "other":
        return Other(str(data.get("type", "object")))
    raise ValueError(f"unknown value type {t!r}")


def digest(args: tuple, kwargs: dict) -> str:
    """A digest of a call's inputs, so the grader knows the kernel ran the grader's inputs.

    Shape:
        (args, kwargs) -> a hex string.
    """
    blob = json.dumps(encode((tuple(args), dict(kwargs))), sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def _call(fn: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
    return fn(*args, **kwargs)


def run_case(fn: Callable[..., Any], case: Any, runner: Callable[..., Any] | None = None) -> dict[str, Any]:
    """Run ``fn`` on a private copy of one case's inputs: its input digest and what happened.

    Shape:
        -> ``{"inputs": digest, "returned": encoded value}`` or ``{"inputs": ..., "raised": {...}}``.
    """
    out: dict[str, Any] = {"inputs": digest(case.args, case.kwargs)}
    args, kwargs = copy.deepcopy((tuple(case.args), dict(case.kwargs)))
    try:
        out["returned"] = encode((runner or _call)(fn, args, kwargs))
    except Exception as err:  # noqa: BLE001 - reported as data, judged by the grader
        first = (str(err).strip().splitlines() or [""])[0]
        out["raised"] = {"types": [c.__name__ for c in type(err).__mro__][:12], "message": first[:_MAX_MESSAGE]}
    return out


def _emit(record: dict[str, Any]) -> None:
    try:
        from IPython.display import display
    except ImportError:  # plain Python (no notebook): nothing to record into
        return
    display({MIME: record, "text/plain": f"(test record: {record['cell']}, check {record['check']})"}, raw=True)


class Session:
    """One assignment's probe in a kernel: ``P = probe.session("ps01_penalties")``."""

    def __init__(self, assignment: str) -> None:
        from . import cases

        self.assignment = assignment
        self.checks = cases.load(assignment)

    def run(self, cell: str, fn: Any, *helpers: Any, hidden: bool | str = False) -> None:
        """Run the visible (or, with ``hidden``, the hidden) checks of test cell ``cell`` on ``fn``.

        ``helpers`` are other functions of the student the check's runner needs (a backward
        check gets the student's forward). ``hidden`` is True in the source notebook; the
        grader replaces it by the cell's key.
        Returns None: a value on a test cell's last line would be read by nbgrader as points.
        """
        __tracebackhide__ = True  # noqa: F841 - IPython leaves this helper's frame out of the student's traceback
        key = hidden if isinstance(hidden, str) else (cell_key(DEFAULT_SECRET, self.assignment, cell) if hidden else None)
        for index, check in enumerate(self.checks.get(cell, ())):
            if check.hidden != bool(hidden):
                continue
            cases = check.make(np.random.default_rng(check_seed(self.assignment, cell, index, key)))
            if callable(fn) and all(callable(h) for h in helpers):
                target = (fn, *helpers) if helpers else fn
                results = [run_case(target, case, check.runner) for case in cases]
            else:
                results = [{"inputs": digest(c.args, c.kwargs), "raised": {"types": ["TypeError"], "message": f"{check.function} is not a function"}} for c in cases]
            record = {"version": VERSION, "assignment": self.assignment, "cell": cell, "check": index, "hidden": check.hidden, "cases": results}
            _emit(record)
            if not isinstance(hidden, str):  # a student's own run: judge here too, when the reference is installed
                self._judge_locally(cell, index, key, record)

    def speed(self, cell: str, fn: Any) -> None:
        """A speed test cell: the precondition check (:meth:`run`), then, in a student's own notebook, the ratio.

        The grader never trusts this: it measures the ratio with its own clock in two fresh
        sandboxed kernels (:mod:`.clock`). In a student's own notebook, with the reference
        installed, the same ratio is measured here (``regnorm_lab.timing.speed_ratio``) and a
        slow function fails with the grader's message (``validate`` included). During autograding
        (``NBGRADER_EXECUTION=autograde``) nothing is timed in the kernel.
        Returns None.
        """
        __tracebackhide__ = True  # noqa: F841
        import os

        self.run(cell, fn)
        if os.environ.get("NBGRADER_EXECUTION") == "autograde" or not callable(fn):
            return
        try:
            from . import clock
        except ImportError:  # no reference here: nothing to time against
            return
        message, passed = clock.local_ratio(self.assignment, cell, fn)
        print(message)
        if not passed:
            raise CheckFailed(message)

    def _judge_locally(self, cell: str, index: int, key: str | None, record: dict[str, Any]) -> None:
        __tracebackhide__ = True  # noqa: F841
        try:
            from . import verdicts
        except ImportError:  # the grading sandbox: the reference is not importable, the grader judges
            return
        message = verdicts.judge_record(self.assignment, cell, index, key, json.loads(json.dumps(record)))
        if message is not None:
            raise CheckFailed(message)


def session(assignment: str) -> Session:
    """The probe of ``assignment`` (the setup cell's ``P``)."""
    return Session(assignment)
