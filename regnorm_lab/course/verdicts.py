"""The grader's rules: is a probe record of a student's function right? (one-line messages)

:func:`judge_record` regenerates the inputs of one check (:mod:`.cases`, same seed as the
kernel), runs the reference implementation on them in THIS process, and compares with the
outputs the kernel reported (:mod:`.probe`), with the contract's tolerances
(``rtol=1e-6, atol=1e-8`` for float64, ``rtol=1e-4, atol=1e-5`` when float32 is involved).
It returns None when the check passes, else one line worded for the student. The grader
(:mod:`.judge`) and a student's own notebook (:meth:`.probe.Session.run`) use it alike.

Assignments with rules of their own (statistical checks of random functions, models)
register them in :data:`RULES`.
"""

from __future__ import annotations

import copy
import importlib
from typing import Any, Callable

import numpy as np

from . import cases as _cases
from .probe import Other, Tensor, check_seed, decode, digest, encode

__all__ = ["TOLERANCES", "RULES", "judge_record", "compare", "tolerances", "reference", "raised_message", "expected_value"]

#: Contract tolerances: (rtol, atol) per precision (see the exercise API contract).
TOLERANCES = {"float64": (1e-6, 1e-8), "float32": (1e-4, 1e-5)}


def reference(name: str) -> Callable[..., Any]:
    """The ``regnorm_lab`` reference implementation of contract function ``name``."""
    return getattr(importlib.import_module("regnorm_lab"), name)


def _is_low_precision(value: Any) -> bool:
    if isinstance(value, Tensor):
        return value.dtype in ("torch.float32", "torch.float16", "torch.bfloat16")
    dtype = getattr(value, "dtype", None)
    if dtype is not None and str(dtype).startswith("torch."):
        return str(dtype) in ("torch.float32", "torch.float16", "torch.bfloat16")
    return dtype is not None and getattr(dtype, "kind", "") == "f" and dtype.itemsize <= 4


def _flat(value: Any) -> list[Any]:
    if isinstance(value, (tuple, list)):
        return [x for v in value for x in _flat(v)]
    if isinstance(value, dict):
        return [x for v in value.values() for x in _flat(v)]
    return [value]


def tolerances(*values: Any) -> tuple[float, float]:
    """Float32 tolerances when any value (inputs included) is float32 or lower, else float64's."""
    low = any(_is_low_precision(v) for value in values for v in _flat(value))
    return TOLERANCES["float32" if low else "float64"]


def _numbers(value: Any) -> np.ndarray | None:
    if isinstance(value, Tensor):
        return value.array.astype(np.float64)
    if isinstance(value, (bool, int, float, np.ndarray, np.generic)):
        return np.asarray(value, dtype=np.float64)
    if type(value).__module__.startswith("torch"):
        return value.detach().cpu().double().numpy()
    return None


def _describe(value: Any) -> str:
    if isinstance(value, Other):
        return f"a {value.type_name}"
    if isinstance(value, Tensor):
        return "a tensor"
    return f"a {type(value).__name__}"


def compare(got: Any, expected: Any, what: str, *, rtol: float, atol: float) -> str | None:
    """None if ``got`` matches ``expected`` elementwise (``|g - e| <= atol + rtol |e|``, NaN matches NaN).

    Tuples and lists are compared item by item (item ``i`` named in the message).

    Shape:
        Equal shapes on both sides (a Python float is shape ``()``).
    """
    if isinstance(expected, (tuple, list)):
        if not isinstance(got, (tuple, list)):
            return f"{what}: expected a tuple of {len(expected)} values, got {_describe(got)}"
        if len(got) != len(expected):
            return f"{what}: expected {len(expected)} values, got {len(got)}"
        for i, (g, e) in enumerate(zip(got, expected)):
            problem = compare(g, e, f"{what} (returned value {i + 1})", rtol=rtol, atol=atol)
            if problem:
                return problem
        return None
    if expected is None:
        return None if got is None else f"{what}: expected None, got {_describe(got)}"
    if isinstance(expected, str):  # names (e.g. layer types) compare exactly
        return None if got == expected else f"{what}: expected {expected!r}, got {got!r}"
    if got is None:
        return f"{what}: the result is None (did the function forget to return?)"
    a, e = _numbers(got), _numbers(expected)
    if a is None:
        return f"{what}: the result is {_describe(got)}, which is not an array of numbers"
    if e is None:  # pragma: no cover - expected values come from the reference
        raise TypeError(f"cannot compare with {type(expected).__name__}")
    if a.shape != e.shape:
        return f"{what}: expected shape {tuple(e.shape)}, got shape {tuple(a.shape)}"
    with np.errstate(invalid="ignore"):
        ok = (np.isnan(a) & np.isnan(e)) | (np.abs(a - e) <= atol + rtol * np.abs(e))
    if bool(ok.all()):
        return None
    if a.ndim == 0:
        return f"{what}: expected {float(e):.10g}, got {float(a):.10g}"
    bad = (~ok).nonzero()
    first = tuple(int(i[0]) for i in bad)
    return (
        f"{what}: {int((~ok).sum())} of {a.size} values differ from the expected ones "
        f"(first at index {first}: expected {float(e[first]):.10g}, got {float(a[first]):.10g}; rtol={rtol:g}, atol={atol:g})"
    )


def raised_message(case: _cases.Case, raised: dict[str, Any]) -> str:
    """The message for a function that raised where it should have returned (with the case's ``hint``, if any)."""
    types = [str(t) for t in raised.get("types", ["Exception"])]
    line = f"{case.label}: raised {types[0]}: {str(raised.get('message', ''))[:300]}".rstrip(": ")
    hint = case.options.get("hint")
    return f"{line}. {hint}" if hint else line


def _same_inputs(before: Any, after: Any) -> bool:
    try:
        return digest(*before) == digest(*after)
    except Exception:  # noqa: BLE001 - anything unreadable is not "unchanged"
        return False


# ---- the rules ------------------------------------------------------------------------------

Rule = Callable[[str, _cases.Check, _cases.Case, Any], "str | None"]


def expected_value(function: str, check: _cases.Check, case: _cases.Case) -> Any:
    """What the reference gives for ``case`` through the check's runner (``case.expect`` when set), decoded as the kernel's value is."""
    if case.expect is not None:
        return case.expect
    args, kwargs = copy.deepcopy((case.args, case.kwargs))
    target = (reference(function), *(reference(h) for h in check.helpers)) if check.helpers else reference(function)
    return decode(encode((check.runner or (lambda f, a, k: f(*a, **k)))(target, args, kwargs)))


def _rule_close(function: str, check: _cases.Check, case: _cases.Case, got: Any) -> str | None:
    opts = case.options
    if opts.get("float") and type(got) is not float:
        return f"{case.label}: expected a Python float, got {_describe(got)} (wrap the result in float(...))"
    expected = expected_value(function, check, case)
    rtol, atol = tolerances(case.args, case.kwargs, got, expected)
    if opts.get("exact"):
        rtol = atol = 0.0
    return compare(got, expected, case.label, rtol=opts.get("rtol", rtol), atol=opts.get("atol", atol))


def _rule_unchanged(function: str, check: _cases.Check, case: _cases.Case, got: Any) -> str | None:
    if not (isinstance(got, tuple) and len(got) == 2 and isinstance(got[0], tuple) and isinstance(got[1], dict)):
        return f"{case.label}: the test could not read the arguments back"
    before = [(f"argument {i + 1}", v) for i, v in enumerate(case.args)] + [(f"argument {k!r}", v) for k, v in case.kwargs.items()]
    after = list(got[0]) + [got[1].get(k) for k in case.kwargs]
    for (name, old), new in zip(before, after):
        if not _same_inputs(((old,), {}), ((new,), {})):
            return f"{case.label} modified its {name} in place; work on a copy (inputs are never modified)"
    return None


def _rule_sparsity(function: str, check: _cases.Check, case: _cases.Case, got: Any) -> str | None:
    a = _numbers(got)
    n = int(case.options["sparsity"])
    if a is None or a.shape != np.shape(case.args[0]):
        return f"{case.label}: expected an array of shape {np.shape(case.args[0])}, got {_describe(got)}"
    if not (a[:n] == 0.0).all() or not (a[n:] != 0.0).all():
        return f"{case.label}: got {np.array2string(a, precision=4, separator=', ')}"
    return None


def _rule_parts(function: str, check: _cases.Check, case: _cases.Case, got: Any) -> str | None:
    """The runner returned a tuple of named parts (``options["parts"]``: ``[name, rtol, atol]``, None for the
    contract's tolerance), each compared with the reference's part; the message names the part."""
    parts = case.options["parts"]
    expected = expected_value(function, check, case)
    if not isinstance(got, (tuple, list)) or len(got) != len(parts):
        return f"{case.label}: the test could not read {len(parts)} results back (got {_describe(got)})"
    rtol, atol = tolerances(case.args, case.kwargs)
    for (name, r, a), g, e in zip(parts, got, expected):
        problem = compare(g, e, name, rtol=rtol if r is None else r, atol=atol if a is None else a)
        if problem:
            return problem
    return None


#: Rule name (``Check.verdict``) -> rule. Assignments add theirs (see ``course/rules_*.py``).
RULES: dict[str, Rule] = {"close": _rule_close, "unchanged": _rule_unchanged, "sparsity": _rule_sparsity, "parts": _rule_parts}


def _rule_raises(case: _cases.Case, outcome: dict[str, Any]) -> str | None:
    arg = case.options["arg"]
    raised = outcome.get("raised")
    if raised is None:
        return f"{case.label}: should raise ValueError naming {arg!r}, but returned normally"
    types = [str(t) for t in raised.get("types", [])]
    message = str(raised.get("message", ""))
    if "ValueError" not in types:
        return f"{case.label}: should raise ValueError naming {arg!r}, but raised {types[0] if types else 'an error'}: {message}"
    if arg not in message:
        return f"{case.label}: raised ValueError({message!r}), but the message should name the argument {arg!r}"
    return None


def judge_record(assignment: str, cell: str, index: int, key: str | None, record: Any) -> str | None:
    """Judge one probe record of check ``index`` of test cell ``cell``: None (passed) or a one-line message.

    Args:
        assignment: e.g. ``"ps01_penalties"``.
        cell: The test cell's grade_id.
        index: The check's position in ``cases.load(assignment)[cell]``.
        key: The cell's hidden key (None for a visible check).
        record: The decoded JSON the kernel wrote (untrusted: anything malformed fails).
    """
    check = _cases.load(assignment)[cell][index]
    inputs = check.make(np.random.default_rng(check_seed(assignment, cell, index, key)))
    try:
        results = list(record["cases"])
        if len(results) != len(inputs):
            return f"{check.function}: the test ran {len(results)} calls instead of {len(inputs)}; re-run the whole notebook"
        for case, outcome in zip(inputs, results):
            if not isinstance(outcome, dict) or outcome.get("inputs") != digest(case.args, case.kwargs):
                return f"{case.label}: the test did not run on the grader's inputs"
            if check.verdict == "raises":
                problem = _rule_raises(case, outcome)
            elif "raised" in outcome:
                problem = raised_message(case, outcome["raised"])
            else:
                problem = RULES[check.verdict](check.function, check, case, decode(outcome["returned"]))
            if problem:
                return problem
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as err:
        return f"{check.function}: the test's record is malformed ({type(err).__name__}); re-run the whole notebook"
    return None


from . import rules as _rules  # noqa: E402,F401 - registers the assignments' own rules in RULES
