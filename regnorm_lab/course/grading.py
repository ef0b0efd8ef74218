"""The in-kernel checks of the exercises not yet run through the probe (ps07): ``import regnorm_lab.grading as G``.

A released notebook's read-only setup cell runs ``import regnorm_lab.grading as G``;
every test cell then checks one behaviour of one student function with the helpers
below, which raise :class:`CheckFailed` (an ``AssertionError``) with a worded message.
The feedback pipeline shows that message, and only that message, for hidden tests.

The comparisons are tamper-proof against an answer cell that redefines
``numpy.allclose``, ``numpy.isclose``, ``numpy.testing.assert_allclose``,
``math.isclose`` or the builtins: they use numpy ufuncs and builtins captured
when this module was imported, never the module attributes at call time.

Typical test cell::

    # Test: l1_penalty matches lam * sum(|w|) on a small example.
    G.assert_own_work(l1_penalty, "l1_penalty")
    G.check_close(l1_penalty(np.array([1.0, -2.0]), 0.5), 1.5, "l1_penalty([1, -2], 0.5)")

Public API (small on purpose):

- :func:`check_close`, :func:`check_true`, :func:`check_shape`, :func:`check_float`
- :func:`assert_not_delegating`, :func:`assert_own_work`, :func:`forbidden_for`
- :func:`assert_raises_value_error`, :func:`assert_no_inplace`
- :func:`check_binomial_count` (statistical checks of random functions)
- :func:`reference` (the ``regnorm_lab`` reference by contract name)
"""

from __future__ import annotations

import builtins as _builtins
import copy as _copy
import importlib as _importlib
import inspect as _inspect
import math as _math
import os as _os
import sys as _sys
import types as _types
from typing import Any, Callable, Mapping

import numpy as _np

__all__ = [
    "CheckFailed",
    "check_close",
    "check_true",
    "check_shape",
    "check_float",
    "assert_not_delegating",
    "assert_own_work",
    "forbidden_for",
    "assert_raises_value_error",
    "assert_no_inplace",
    "check_binomial_count",
    "reference",
    "tolerances",
]

# --- captured at import time: an answer cell that rebinds these later cannot reach us ---
_asarray = _np.asarray
_float64 = _np.float64
_float32 = _np.float32
_fabs = _np.absolute
_subtract = _np.subtract
_multiply = _np.multiply
_add = _np.add
_less_equal = _np.less_equal
_isnan = _np.isnan
_isfinite = _np.isfinite
_logical_and = _np.logical_and
_logical_or = _np.logical_or
_ndarray = _np.ndarray
_sqrt = _math.sqrt
_float = _builtins.float
_bool = _builtins.bool
_isinstance = _builtins.isinstance
_len = _builtins.len
_repr = _builtins.repr
_str = _builtins.str
_type = _builtins.type
_getattr = _builtins.getattr
_id = _builtins.id
_setprofile = _sys.setprofile
_getprofile = _sys.getprofile
_modules = _sys.modules

_PACKAGE_DIR = _os.path.dirname(_os.path.abspath(__file__))
_THIS_FILE = _os.path.abspath(__file__)

#: Contract tolerances: (rtol, atol) per precision (see the exercise API contract).
TOLERANCES = {"float64": (1e-6, 1e-8), "float32": (1e-4, 1e-5)}


class CheckFailed(AssertionError):
    """A check failed; the message is worded for the student (no code, no traceback needed)."""


def _fail(message: str) -> None:
    raise CheckFailed(message)


def tolerances(*arrays: Any) -> tuple[float, float]:
    """Return the contract ``(rtol, atol)``: float32 ones if any array is float32 (or lower), else float64.

    Shape:
        Any arrays; only their dtypes matter.
    """
    for a in arrays:
        dt = _getattr(a, "dtype", None)
        # torch dtypes have no numpy .kind; compare them by name
        if dt is not None and _str(dt) in ("torch.float32", "torch.float16", "torch.bfloat16"):
            return TOLERANCES["float32"]
        if dt is not None and _getattr(dt, "kind", "") == "f" and dt.itemsize <= 4:
            return TOLERANCES["float32"]
    return TOLERANCES["float64"]


def _to_numpy(value: Any, what: str, role: str) -> _np.ndarray:
    if value is None:
        _fail(f"{what}: the {role} is None (did the function forget to return?)")
    if _type(value).__module__.startswith("torch"):
        try:
            value = value.detach().cpu().double().numpy()
        except Exception:  # noqa: BLE001 - any failure is reported in words
            _fail(f"{what}: the {role} is a {_type(value).__name__} that cannot be read as numbers")
    try:
        return _asarray(value, dtype=_float64)
    except (TypeError, ValueError):
        _fail(f"{what}: the {role} is a {_type(value).__name__}, which is not an array of numbers")
    raise AssertionError("unreachable")  # pragma: no cover


def check_close(
    actual: Any,
    expected: Any,
    what: str,
    *,
    rtol: float | None = None,
    atol: float | None = None,
) -> None:
    """Assert ``|actual - expected| <= atol + rtol * |expected|`` elementwise, with equal shapes.

    NaN matches NaN at the same place. Default tolerances follow the contract
    (float32 if either side is float32). Implemented with ufuncs captured at
    import, so a rebound ``np.allclose`` or ``math.isclose`` changes nothing.

    Args:
        actual: The student's result (scalar, array, tensor).
        expected: The reference result.
        what: Words naming what is compared, used in the failure message.
        rtol: Relative tolerance; default from :func:`tolerances`.
        atol: Absolute tolerance; default from :func:`tolerances`.

    Raises:
        CheckFailed: With a message naming ``what``, the shapes or the worst mismatch.

    Shape:
        ``actual`` and ``expected`` must have the same shape (a Python float is shape ``()``).
    """
    d_rtol, d_atol = tolerances(actual, expected)
    rtol = d_rtol if rtol is None else _float(rtol)
    atol = d_atol if atol is None else _float(atol)
    a = _to_numpy(actual, what, "result")
    e = _to_numpy(expected, what, "expected value")
    if a.shape != e.shape:
        _fail(f"{what}: expected shape {tuple(e.shape)}, got shape {tuple(a.shape)}")
    both_nan = _logical_and(_isnan(a), _isnan(e))
    diff = _fabs(_subtract(a, e))
    bound = _add(atol, _multiply(rtol, _fabs(e)))
    ok = _logical_or(both_nan, _less_equal(diff, bound))  # NaN in one side only compares False
    if not _bool(ok.all()):
        if a.ndim == 0:
            _fail(f"{what}: expected {_float(e):.10g}, got {_float(a):.10g}")
        bad = (~ok).nonzero()
        first = tuple(int(i[0]) for i in bad)
        n_bad = int((~ok).sum())
        _fail(
            f"{what}: {n_bad} of {a.size} values differ from the expected ones "
            f"(first at index {first}: expected {_float(e[first]):.10g}, got {_float(a[first]):.10g}; "
            f"rtol={rtol:g}, atol={atol:g})"
        )


def check_true(condition: Any, message: str) -> None:
    """Assert ``condition`` is truthy, else fail with ``message`` (worded for the student).

    Shape:
        ``condition``: anything with a truth value (use ``(a == b).all()``, not ``np.all``,
        so that a rebound numpy function cannot decide it).
    """
    if not _bool(condition):
        _fail(message)


def check_shape(value: Any, shape: tuple[int, ...], what: str) -> None:
    """Assert that ``value`` has exactly ``shape``.

    Shape:
        ``value.shape == shape``.
    """
    got = _getattr(value, "shape", None)
    if got is None:
        _fail(f"{what}: expected an array of shape {tuple(shape)}, got a {_type(value).__name__}")
    if tuple(got) != tuple(shape):
        _fail(f"{what}: expected shape {tuple(shape)}, got shape {tuple(got)}")


def check_float(value: Any, what: str) -> None:
    """Assert ``value`` is a Python float (``numpy.float64`` is one too, being a subclass).

    Shape:
        A scalar.
    """
    if not _isinstance(value, _float):
        _fail(f"{what}: expected a Python float, got a {_type(value).__name__} (wrap the result in float(...))")


def assert_raises_value_error(func: Callable[..., Any], *args: Any, arg: str, what: str, **kwargs: Any) -> None:
    """Assert ``func(*args, **kwargs)`` raises ``ValueError`` whose message names ``arg``.

    Args:
        func: The student's function.
        *args: Positional arguments of the bad call.
        arg: The argument name the error message must contain.
        what: Words describing the bad call, e.g. ``"l1_penalty with lam=-1"``.
        **kwargs: Keyword arguments of the bad call.

    Shape:
        Whatever ``func`` takes.
    """
    try:
        func(*args, **kwargs)
    except ValueError as err:
        if arg not in _str(err):
            _fail(f"{what}: raised ValueError({_str(err)!r}), but the message should name the argument {arg!r}")
        return
    except Exception as err:  # noqa: BLE001 - reported in words
        _fail(f"{what}: should raise ValueError naming {arg!r}, but raised {_type(err).__name__}: {err}")
    _fail(f"{what}: should raise ValueError naming {arg!r}, but returned normally")


def _snapshot(value: Any) -> Any:
    if _isinstance(value, _ndarray):
        return value.copy()
    if _type(value).__module__.startswith("torch"):
        return value.detach().clone()
    return _copy.deepcopy(value)


def _same(before: Any, after: Any) -> bool:
    if _isinstance(before, _ndarray):
        if not _isinstance(after, _ndarray) or before.shape != after.shape:
            return False
        equal = before == after
        if before.dtype.kind in "fc":
            equal = _logical_or(equal, _logical_and(_isnan(before), _isnan(after)))  # NaN stays NaN
        return _bool(equal.all())
    if _type(before).__module__.startswith("torch"):
        import torch

        return before.shape == after.shape and _bool(torch.equal(before.nan_to_num(), after.detach().nan_to_num()))
    try:
        return _bool(before == after)
    except Exception:  # noqa: BLE001 - incomparable objects are not watched
        return True


def assert_no_inplace(func: Callable[..., Any], *args: Any, what: str, **kwargs: Any) -> None:
    """Call ``func`` and assert no array argument was modified in place.

    Returns None on purpose: a value on a test cell's last line would be read by
    nbgrader as partial credit.

    Args:
        func: The student's function.
        *args: Positional arguments (arrays among them are watched).
        what: Words naming the function, for the message.
        **kwargs: Keyword arguments (arrays among them are watched).

    Shape:
        Whatever ``func`` takes.
    """
    named = [(f"argument {i + 1}", v) for i, v in enumerate(args)] + [(f"argument {k!r}", v) for k, v in kwargs.items()]
    before = [(n, v, _snapshot(v)) for n, v in named if _isinstance(v, _ndarray) or _type(v).__module__.startswith("torch")]
    func(*args, **kwargs)
    for name, live, snap in before:
        if not _same(snap, live):
            _fail(f"{what} modified its {name} in place; work on a copy (inputs are never modified)")


def check_binomial_count(count: int, n: int, p: float, what: str, *, sigmas: float = 6.0) -> None:
    """Assert ``count`` is a plausible Binomial(n, p) draw: within ``sigmas`` standard deviations (+1).

    With 6 sigmas a correct random function fails about once in 10**8 runs, so the
    check does not depend on which numbers the generator happens to draw.

    Shape:
        Scalars.
    """
    mean = n * p
    sd = _sqrt(n * p * (1.0 - p))
    if _float(_fabs(count - mean)) > sigmas * sd + 1.0:
        _fail(f"{what}: got {count} of {n}, but about {mean:.0f} ± {sigmas * sd:.0f} were expected")


def reference(name: str) -> Callable[..., Any]:
    """Return the ``regnorm_lab`` reference implementation of contract function ``name``.

    Shape:
        A contract name -> the reference callable (same signature as the student's).
    """
    return _getattr(_importlib.import_module("regnorm_lab"), name)


# ---------------------------------------------------------------------------------------------
# Delegation detection
# ---------------------------------------------------------------------------------------------

# One list of forbidden framework routines for the course (the grader's delegation check).
from .delegation import FRAMEWORK_ROUTINES as _FRAMEWORK_ROUTINES  # noqa: E402


def _resolve(dotted: str) -> Any:
    """Import ``dotted`` (a module, or a module attribute path); None if it does not exist here."""
    parts = dotted.split(".")
    for cut in range(_len(parts), 0, -1):
        try:
            obj: Any = _importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attr in parts[cut:]:
                obj = _getattr(obj, attr)
        except AttributeError:
            return None
        return obj
    return None


def forbidden_for(name: str) -> dict[str, object]:
    """The objects contract function ``name`` must not delegate to, keyed by their dotted name.

    Always includes the ``regnorm_lab`` package (and with it the reference ``regnorm_lab.<name>``).
    Framework routines that are not installed are left out.
    """
    out: dict[str, object] = {"regnorm_lab": _importlib.import_module("regnorm_lab")}
    ref = _getattr(out["regnorm_lab"], name, None)
    if ref is not None:
        out[f"regnorm_lab.{name}"] = ref
    for dotted in _FRAMEWORK_ROUTINES.get(name, ()):
        obj = _resolve(dotted)
        if obj is not None:
            out[dotted] = obj
    return out


def _code_location(obj: Any) -> tuple[str, str] | None:
    """(file, qualname prefix) of a Python function or class, used to recognise its frames."""
    target = _inspect.unwrap(obj) if callable(obj) else obj
    code = _getattr(target, "__code__", None)
    if code is not None:
        return (_os.path.abspath(code.co_filename), code.co_qualname)
    if _isinstance(target, _type):
        try:
            return (_os.path.abspath(_inspect.getfile(target)), target.__qualname__ + ".")
        except (TypeError, OSError):
            return None
    return None


class _Matcher:
    """Recognises objects and running frames that belong to a forbidden set."""

    def __init__(self, forbidden: Mapping[str, object]) -> None:
        self.by_id: dict[int, str] = {}
        self.dirs: list[tuple[str, str]] = []  # (directory or file prefix, dotted name)
        self.codes: list[tuple[str, str, str]] = []  # (file, qualname prefix, dotted name)
        self.module_names: list[tuple[str, str]] = []
        for dotted, obj in forbidden.items():
            self.by_id[_id(obj)] = dotted
            if _isinstance(obj, _types.ModuleType):
                self.module_names.append((obj.__name__, dotted))
                path = _getattr(obj, "__file__", None)
                if path:
                    path = _os.path.abspath(path)
                    if _os.path.basename(path) == "__init__.py":
                        path = _os.path.dirname(path) + _os.sep
                    self.dirs.append((path, dotted))
                continue
            loc = _code_location(obj)
            if loc is not None:
                self.codes.append((*loc, dotted))
            # a torch builtin or C function is recognised by identity (c_call events)

    def object_name(self, obj: Any) -> str | None:
        """The forbidden name ``obj`` is (or lives in), else None."""
        try:
            hit = self.by_id.get(_id(obj))
        except Exception:  # noqa: BLE001
            return None
        if hit is not None:
            return hit
        if _isinstance(obj, _types.ModuleType):
            for mod, dotted in self.module_names:
                if obj.__name__ == mod or obj.__name__.startswith(mod + "."):
                    return dotted
            return None
        module = _getattr(obj, "__module__", None)
        if _isinstance(module, _str):
            for mod, dotted in self.module_names:
                if module == mod or module.startswith(mod + "."):
                    return dotted
        return None

    def frame_name(self, code: _types.CodeType) -> str | None:
        """The forbidden name a running code object belongs to, else None."""
        filename = _os.path.abspath(code.co_filename)
        if filename == _THIS_FILE:
            return None
        for file, qual, dotted in self.codes:
            if filename == file and (code.co_qualname == qual or code.co_qualname.startswith(qual if qual.endswith(".") else qual + ".")):
                return dotted
        for prefix, dotted in self.dirs:
            if filename == prefix or (prefix.endswith(_os.sep) and filename.startswith(prefix)):
                return dotted
        return None


def _iter_codes(code: _types.CodeType):
    yield code
    for const in code.co_consts:
        if _isinstance(const, _types.CodeType):
            yield from _iter_codes(const)


def _static_findings(func: Any, matcher: _Matcher, forbidden: Mapping[str, object], seen: set[int]) -> list[str]:
    """Forbidden names the function's code, globals, closure and defaults refer to."""
    if _id(func) in seen:
        return []
    seen.add(_id(func))
    hit = matcher.object_name(func)
    if hit is not None:
        return [hit]
    target = _getattr(func, "__func__", func)  # bound methods
    if _isinstance(target, _types.FunctionType) is False and _getattr(target, "func", None) is not None:
        # functools.partial and friends: look at what they wrap and their bound arguments
        found = _static_findings(target.func, matcher, forbidden, seen)
        for v in list(_getattr(target, "args", ())) + list((_getattr(target, "keywords", None) or {}).values()):
            name = matcher.object_name(v)
            if name:
                found.append(name)
        return found
    code = _getattr(target, "__code__", None)
    if code is None:
        return []
    found: list[str] = []
    glb = _getattr(target, "__globals__", {})
    leaf_names: dict[str, list[str]] = {}
    for d in forbidden:
        if "." in d:
            leaf_names.setdefault(d.rsplit(".", 1)[-1], []).append(d)
    for c in _iter_codes(code):
        names = set(c.co_names)
        if "regnorm_lab" in names:
            found.append("regnorm_lab")
        for n in names:
            if n in glb:
                obj = glb[n]
            elif hasattr(_builtins, n):
                continue
            else:
                # an attribute name: forbidden if it is the leaf of a forbidden path whose
                # module the function also refers to (e.g. ``F.dropout`` with F = torch.nn.functional)
                for dotted in leaf_names.get(n, ()):
                    for m in names:
                        mod = glb.get(m)
                        if _isinstance(mod, _types.ModuleType) and dotted.startswith(mod.__name__ + "."):
                            found.append(dotted)
                continue
            name = matcher.object_name(obj)
            if name is not None:
                found.append(name)
            elif _isinstance(obj, _types.FunctionType) and obj.__module__ == target.__module__:
                found.extend(_static_findings(obj, matcher, forbidden, seen))  # the student's own helpers
            # a regnorm_lab module bound under another name (e.g. G, the grading module)
            elif _isinstance(obj, _types.ModuleType) and obj.__name__.split(".")[0] == "regnorm_lab":
                found.append(obj.__name__)
    for cell in _getattr(target, "__closure__", None) or ():
        try:
            v = cell.cell_contents
        except ValueError:
            continue
        name = matcher.object_name(v)
        if name:
            found.append(name)
        elif _isinstance(v, _types.FunctionType):
            found.extend(_static_findings(v, matcher, forbidden, seen))
    for v in list(_getattr(target, "__defaults__", None) or ()) + list((_getattr(target, "__kwdefaults__", None) or {}).values()):
        name = matcher.object_name(v)
        if name:
            found.append(name)
    return found


def _dynamic_findings(matcher: _Matcher, forbidden: Mapping[str, object], call: Callable[[], Any]) -> list[str]:
    """Forbidden routines that run while ``call()`` runs (profiler hook + wrapped module attributes)."""
    found: list[str] = []
    builtin_ids = {_id(o): d for d, o in forbidden.items() if _isinstance(o, _types.BuiltinFunctionType) or (callable(o) and _getattr(o, "__code__", None) is None and not _isinstance(o, (_type, _types.ModuleType)))}

    def profiler(frame: Any, event: str, arg: Any) -> None:
        if event == "call":
            name = matcher.frame_name(frame.f_code)
            if name is not None:
                found.append(name)
        elif event == "c_call":
            name = builtin_ids.get(_id(arg))
            if name is not None:
                found.append(name)

    # Wrapping module attributes as well catches calls through objects the profiler cannot
    # see (e.g. a C routine re-exported under a new identity); restored in ``finally``.
    patched: list[tuple[Any, str, Any]] = []
    for dotted, obj in forbidden.items():
        if "." not in dotted or not callable(obj) or _isinstance(obj, _type):
            continue
        owner = _resolve(dotted.rsplit(".", 1)[0])
        attr = dotted.rsplit(".", 1)[1]
        if owner is None or _getattr(owner, attr, None) is not obj:
            continue

        def make(original: Any, label: str) -> Any:
            def wrapper(*a: Any, **k: Any) -> Any:
                found.append(label)
                return original(*a, **k)

            return wrapper

        try:
            setattr(owner, attr, make(obj, dotted))
            patched.append((owner, attr, obj))
        except (AttributeError, TypeError):
            pass
    previous = _getprofile()
    _setprofile(profiler)
    try:
        call()
    except Exception:  # noqa: BLE001 - a crash is reported by the behaviour checks, not here
        pass
    finally:
        _setprofile(previous)
        for owner, attr, obj in patched:
            setattr(owner, attr, obj)
    return found


def assert_not_delegating(func: Callable[..., Any], forbidden: Mapping[str, object], call: Callable[[], Any], *, name: str | None = None) -> None:
    """Fail if ``func`` delegates to a forbidden routine instead of doing the work itself.

    Two checks: statically, the names the function's code uses (recursing into nested
    code objects and the student's own helper functions), its closure and its default
    arguments must not refer to a forbidden object or to any ``regnorm_lab`` module;
    dynamically, no forbidden routine may run while ``call()`` runs (a profiler hook plus
    temporarily wrapped module attributes).

    Args:
        func: The student's function.
        forbidden: Dotted name -> object, e.g. :func:`forbidden_for` ``("l1_penalty")``.
        call: A zero-argument callable that calls ``func`` on valid inputs.
        name: The function's name in the message (default ``func.__name__``).

    Raises:
        CheckFailed: ``"l1_penalty calls regnorm_lab.l1_penalty: write it yourself ..."``.

    Shape:
        Whatever ``func`` takes.
    """
    label = name or _getattr(func, "__name__", "this function")
    matcher = _Matcher(forbidden)
    found = _static_findings(func, matcher, forbidden, set())
    if not found:
        found = _dynamic_findings(matcher, forbidden, call)
    if found:
        # name the most specific routine (a function rather than its package)
        best = sorted(set(found), key=lambda d: (-d.count("."), d))[0]
        _fail(
            f"{label} calls {best}: write it yourself. A function that delegates to the reference "
            f"or to the framework routine the exercise replaces earns no points."
        )


# Valid sample calls for every contract function, used by assert_own_work's dynamic check.
def _sample_calls() -> dict[str, Callable[[Callable[..., Any]], Any]]:
    rng = _np.random.default_rng(12345)
    w = rng.standard_normal((4, 3))
    x2 = rng.standard_normal((6, 4))
    x4 = rng.standard_normal((2, 4, 3, 3))

    def torch_calls() -> dict[str, Callable[[Callable[..., Any]], Any]]:
        import torch

        g = torch.Generator().manual_seed(0)
        xt = torch.randn(3, 5, generator=g)
        return {
            "r2_score": lambda f: f(torch.arange(5.0), torch.arange(5.0) * 0.9),
            "weight_penalty": lambda f: f(torch.nn.Sequential(torch.nn.Linear(3, 2)), l1=0.1, l2=0.1),
            "build_model": lambda f: f(3, hidden=4, dropout=0.1),
            "layer_norm": lambda f: f(xt, torch.ones(5), torch.zeros(5)),
            "rms_norm": lambda f: f(xt, torch.ones(5)),
        }

    calls: dict[str, Callable[[Callable[..., Any]], Any]] = {
        "l1_penalty": lambda f: f(w, 0.1),
        "l2_penalty": lambda f: f(w, 0.1),
        "elastic_net_penalty": lambda f: f(w, 0.1, 0.2),
        "l1_grad": lambda f: f(w, 0.1),
        "l2_grad": lambda f: f(w, 0.1),
        "soft_threshold": lambda f: f(w, 0.3),
        "dropout_forward": lambda f: f(x2, 0.5, True, _np.random.default_rng(0)),
        "dropout_backward": lambda f: f(x2, x2 > 0, 0.5),
        "min_max_scale": lambda f: f(x2, x2[:2] + 1.0),
        "z_score": lambda f: f(x2, x2[:2] + 1.0),
        "batchnorm_forward": lambda f: f(x2, _np.ones(4), _np.zeros(4), _np.zeros(4), _np.ones(4)),
        "layernorm_forward": lambda f: f(x2, _np.ones(4), _np.zeros(4)),
        "instancenorm_forward": lambda f: f(x4),
        "groupnorm_forward": lambda f: f(x4, 2, _np.ones(4), _np.zeros(4)),
        # No default for batchnorm_backward / layernorm_backward: their cache comes from the
        # student's own forward, so their test cells pass ``call=`` (see ps04/ps05).
    }
    try:
        calls.update(torch_calls())
    except ImportError:  # pragma: no cover - torch is a course requirement
        pass
    return calls


def assert_own_work(func: Callable[..., Any], name: str, call: Callable[[], Any] | None = None) -> None:
    """:func:`assert_not_delegating` for contract function ``name`` with its forbidden set and a sample call.

    The first line of every test cell: if the student's function delegates, every
    behaviour of that function fails with the same clear message.

    Args:
        func: The student's function.
        name: Its contract name (``"l1_penalty"``); selects :func:`forbidden_for` ``(name)``.
        call: Optional zero-argument call; by default a valid sample call for ``name``.

    Shape:
        Whatever ``func`` takes.
    """
    if not callable(func):
        _fail(f"{name} is not a function (got a {_type(func).__name__})")
    if call is None:
        sample = _sample_calls().get(name)
        call = (lambda: sample(func)) if sample is not None else (lambda: None)
    assert_not_delegating(func, forbidden_for(name), call, name=name)
