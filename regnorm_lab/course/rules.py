"""The grader's rules for checks that are not "equal to the reference": random functions, models.

Each rule takes ``(function, check, case, got)`` with ``got`` the decoded value the kernel
reported, and returns None (passed) or one line for the student. They register in
:data:`.verdicts.RULES` under the name a :class:`.cases.Check` gives as ``verdict``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .verdicts import RULES, compare, tolerances

__all__ = ["binomial_problem"]


def _array(value: Any) -> np.ndarray | None:
    if isinstance(value, (np.ndarray, np.generic, float, int, bool)):
        return np.asarray(value)
    return None


def _pair(case, got: Any) -> tuple[np.ndarray, np.ndarray] | str:
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        return f"{case.label}: expected (out, mask), got {type(got).__name__}"
    out, mask = _array(got[0]), _array(got[1])
    if out is None or mask is None:
        return f"{case.label}: out and mask must be numpy arrays"
    return out, mask


def binomial_problem(count: int, n: int, p: float, what: str, sigmas: float = 6.0) -> str | None:
    """None if ``count`` is a plausible Binomial(n, p) draw (within ``sigmas`` sd, +1), else a message.

    With 6 sigmas a correct random function fails about once in 10**8 runs.
    """
    mean, sd = n * p, math.sqrt(n * p * (1.0 - p))
    if abs(count - mean) > sigmas * sd + 1.0:
        return f"{what}: got {count} of {n}, but about {mean:.0f} ± {sigmas * sd:.0f} were expected"
    return None


def _shapes(function, check, case, got) -> str | None:
    pair = _pair(case, got)
    if isinstance(pair, str):
        return pair
    out, mask = pair
    shape = np.shape(case.args[0])
    if out.shape != shape:
        return f"{case.label}: the output has shape {out.shape}, expected {shape}"
    if mask.shape != shape:
        return f"{case.label}: the mask has shape {mask.shape}, expected {shape}"
    if mask.dtype != bool:
        return f"the mask must be a boolean array, got dtype {mask.dtype}"
    return None


def _kept_scaled(function, check, case, got) -> str | None:
    pair = _pair(case, got)
    if isinstance(pair, str):
        return pair
    out, mask = pair
    x, p = np.asarray(case.args[0]), case.args[1]
    if mask.shape != x.shape:
        return f"{case.label}: the mask has shape {mask.shape}, expected {x.shape}"
    rtol, atol = tolerances(x, out)
    return compare(out, x.astype(np.float64) * mask.astype(bool) / (1 - p), case.label, rtol=rtol, atol=atol)


def _drop_fraction(function, check, case, got) -> str | None:
    mask = _array(got)
    n, p = int(np.size(case.args[0])), case.args[1]
    if mask is None or mask.size != n:
        return f"{case.label}: the mask must be an array of {n} values"
    return binomial_problem(int((~mask.astype(bool)).sum()), n, p, case.label)


def _mean_preserved(function, check, case, got) -> str | None:
    out = _array(got)
    n, p = int(np.size(case.args[0])), case.args[1]
    if out is None or out.size != n:
        return f"{case.label}: the output must be an array of {n} values"
    sd = math.sqrt((p / (1 - p)) / n)
    return compare(float(out.astype(np.float64).mean()), 1.0, case.label, rtol=0.0, atol=6 * sd)


def _reproducible(function, check, case, got) -> str | None:
    if not isinstance(got, (tuple, list)) or len(got) != 5:
        return f"{case.label}: expected (out, mask) from each call"
    m1, o1, m2, o2, m3 = (_array(v) for v in got)
    if any(v is None for v in (m1, o1, m2, o2, m3)):
        return f"{case.label}: out and mask must be numpy arrays"
    if m1.shape != m2.shape or not (m1 == m2).all():
        return "two calls with np.random.default_rng(42) must give the same mask: draw it from rng"
    problem = compare(o1, o2, "outputs of two calls with the same seed", rtol=0.0, atol=0.0)
    if problem:
        return problem
    if m1.shape == m3.shape and not (m1 != m3).any():
        return "different seeds should give different masks: draw the mask from rng"
    return None


RULES.update({
    "shapes": _shapes,
    "kept_scaled": _kept_scaled,
    "drop_fraction": _drop_fraction,
    "mean_preserved": _mean_preserved,
    "reproducible": _reproducible,
})
