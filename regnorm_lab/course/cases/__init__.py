"""Test inputs of the graded exercises, generated deterministically from a seed.

One module per converted assignment (``cases/ps01_penalties.py``) defines ``CHECKS``:
test cell grade_id -> the :class:`Check` objects of that cell. The kernel's
:mod:`..probe` and the grader's :mod:`..verdicts` both call ``check.make(rng)`` with the
same seed, so they see the same inputs without any input crossing between them.

Like the probe, these modules import only the standard library, numpy and torch: a
sandboxed kernel imports them without the reference implementations.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

__all__ = ["Case", "Check", "load", "converted", "call_inplace"]


@dataclass(frozen=True)
class Case:
    """One call of a student's function.

    Attributes:
        label: Words naming the call in a message, e.g. ``"l1_penalty([1, -2], 0.5)"``.
        args: Positional arguments (copied before every call).
        kwargs: Keyword arguments.
        expect: A value worked out by hand (None: the reference's value on the same inputs).
        options: Verdict options, e.g. ``{"float": True}``, ``{"arg": "lam"}``, ``{"exact": True}``.
    """

    label: str
    args: tuple
    kwargs: dict = field(default_factory=dict)
    expect: Any = None
    options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Check:
    """One check of a test cell: how to make its inputs, run them, and judge them.

    Attributes:
        function: The contract function checked.
        make: ``rng -> list[Case]`` (deterministic given the generator).
        verdict: The grader's rule (:mod:`..verdicts`): ``"close"`` (as the reference or
            ``expect``), ``"raises"`` (ValueError naming ``options["arg"]``),
            ``"unchanged"`` (inputs not modified in place), or an assignment's own rule.
        hidden: Part of the cell's hidden tests (its inputs come from the course secret).
        runner: ``(fn, args, kwargs) -> value`` run in the kernel (default: ``fn(*args, **kwargs)``);
            the grader runs the same runner on the reference.
        helpers: Other contract functions the runner needs (e.g. the forward pass of a
            backward check): the runner then gets ``(fn, *helpers)`` as its first argument.
    """

    function: str
    make: Callable[[np.random.Generator], list[Case]]
    verdict: str = "close"
    hidden: bool = False
    runner: Callable[..., Any] | None = None
    helpers: tuple[str, ...] = ()


def call_inplace(fn: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
    """Runner of ``"unchanged"`` checks: call ``fn``, then report the arguments as they are afterwards.

    Shape:
        -> ``(args after the call, kwargs after the call)``.
    """
    fn(*args, **kwargs)
    return (tuple(args), dict(kwargs))


def converted(assignment: str) -> bool:
    """Whether ``assignment`` has a cases module (its test cells call the probe)."""
    return importlib.util.find_spec(f"{__name__}.{assignment}") is not None


def load(assignment: str) -> dict[str, list[Check]]:
    """The checks of ``assignment``, by test cell grade_id.

    Raises:
        ValueError: ``assignment`` has no cases module.
    """
    if not assignment.replace("_", "").isalnum() or not converted(assignment):
        raise ValueError(f"assignment {assignment!r} has no test cases in {__name__}")
    return dict(importlib.import_module(f"{__name__}.{assignment}").CHECKS)
