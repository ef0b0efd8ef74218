"""Speed graded by the grader's clock: the student's function against the reference, in two fresh sandboxed kernels.

Nothing in the notebook's own kernel times anything during grading (a student could
replace any timer there). For the speed cells of an assignment (``SPEED`` in its
:mod:`.cases` module), :func:`measure` starts, after the notebook has run,

* a STUDENT kernel that runs the locked setup cell(s) and the student's answer cells
  (a function and its helpers live in its answer cell, as the exercise contract says), and
* a REFERENCE kernel that runs the same setup and the instructor's answers (the solution
  cells of the course's source notebook, read here in the grader),

both in the grading sandbox (:class:`~.sandbox.Jail`, the reference package hidden) and
pinned to the same single CPU. Then, round by round and alternately, each kernel gets the
same freshly permuted inputs (untimed), runs the same timed snippet (the function called
once on each input) while the grader times the
request with ``time.perf_counter()`` from send to reply, and proves the work was done: the
grader picks output rows AFTER the timed call and checks them against the reference
computed here (a row of a row-wise norm depends on that input row only). While one kernel
runs anything, the other is frozen (SIGSTOP on its whole process tree), so a background
thread of the student can neither slow the reference nor compute between requests.

ratio = (the student's best time) / (the reference's best time). A result far from the
limit counts after one round; a close one is measured over more rounds.

Always on the CPU, also on a grading machine with a GPU: the sandbox has no GPU device
(driver ioctls are attack surface), and a GPU would undo the clock's guarantees. Its work
is asynchronous, so a kernel that replaces ``torch.cuda.synchronize`` replies before its
work is done, and work a frozen kernel left queued keeps running on the shared device
while the reference is timed. A student's own notebook still times on CUDA when there is
one (:func:`local_ratio`); the grader's ratio says "on the CPU".
"""

from __future__ import annotations

import json
import math
import os
import threading
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from . import cases
from .clock_kernel import TimedKernel as _Kernel

__all__ = ["Timing", "speed_cells", "speed_module", "local_ratio", "measure", "student_code", "reference_answers", "sentence", "ADVICE"]

#: What a too-slow answer is told.
ADVICE = "work on whole tensors (reductions over dim=-1 with keepdim=True, broadcasting), not row by row in Python"
_TARGET_SECONDS = 0.12  # per timed request of the reference: long against the request's own overhead
_MAX_CALLS = 16  # inputs held per kernel (8 MiB each at 8192 x 256 float32)
#: How the sentences name a device type.
_WHERE = {"cpu": "the CPU", "cuda": "the GPU"}
#: Where the grader's clock times (see the module's docstring), as its sentences name it.
DEVICE = _WHERE["cpu"]
_PICKS = 3  # outputs whose rows are checked after each timed request
_PROOF_TOL = 2e-2


@dataclass(frozen=True)
class Timing:
    """The grader's verdict on one speed cell.

    Attributes:
        function: The timed contract function.
        ratio: Student time over reference time (None when it could not be measured).
        passed: Whether the cell earns its points.
        message: One line for the feedback (the ratio and the limit, or why there is none).
    """

    function: str
    ratio: float | None
    passed: bool
    message: str


def speed_module(assignment: str) -> Any:
    """The cases module of ``assignment`` (its ``SPEED``, ``SPEED_SHAPE``, ``SPEED_LIMIT``)."""
    import importlib

    cases.load(assignment)  # validates the name
    return importlib.import_module(f"{cases.__name__}.{assignment}")


def speed_cells(assignment: str) -> dict[str, str]:
    """Speed test cell grade_id -> the function it times (empty for assignments without speed cells)."""
    if not cases.converted(assignment):
        return {}
    return dict(getattr(speed_module(assignment), "SPEED", {}))


def sentence(function: str, ratio: float, device: str, limit: float) -> str:
    """``"layer_norm took 1.3x the reference's time on the CPU (limit 3x)"``, with the advice when over the limit."""
    line = f"{function} took {ratio:.1f}x the reference's time on {device} (limit {limit:g}x)"
    return line if ratio <= limit else f"{line}: {ADVICE}"


def local_ratio(assignment: str, cell: str, fn: Callable[..., Any]) -> tuple[str, bool]:
    """In a student's own notebook: the ratio measured in the kernel (``regnorm_lab.timing``), worded as the grader words it.

    Shape:
        -> (message, passed).
    """
    import torch

    import regnorm_lab.timing as gt

    from .verdicts import reference

    mod = speed_module(assignment)
    name = mod.SPEED[cell]
    dev = mod.device()
    args = gt.make_inputs(name, mod.SPEED_SHAPE, torch.float32, dev)
    ratio = gt.speed_ratio(fn, reference(name), lambda: args, dev, min_run_time=0.1, rounds=1)
    if mod.SPEED_LIMIT / 2 < ratio < 3 * mod.SPEED_LIMIT:  # close: more rounds, the best counts
        ratio = min(ratio, gt.speed_ratio(fn, reference(name), lambda: args, dev, min_run_time=0.1, rounds=4))
    return sentence(name, ratio, _WHERE.get(dev.type, dev.type), mod.SPEED_LIMIT), ratio <= mod.SPEED_LIMIT


# ---- which code each kernel runs ------------------------------------------------------------

def _meta(cell: Any) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def _setup_cells(nb: Any) -> list[str]:
    """Locked, ungraded code cells before the first answer cell (the setup; nbgrader restored them)."""
    out = []
    for cell in nb.cells:
        m = _meta(cell)
        if cell.cell_type != "code":
            continue
        if m.get("solution"):
            break
        if m.get("locked") and not m.get("grade"):
            out.append(cell.source)
    return out


def student_code(nb: Any) -> list[str]:
    """The code the student kernel runs: the setup, then the student's answer cells, in notebook order.

    As the exercise contract says, a function and its helpers live in its answer cell; cells a
    student added (experiments, a timing of their own) are not run here, nor are test cells.
    """
    return _setup_cells(nb) + [c.source for c in nb.cells if c.cell_type == "code" and _meta(c).get("solution")]


def _strip_solution_markers(source: str) -> str:
    return "\n".join(ln for ln in source.split("\n") if "### BEGIN SOLUTION" not in ln and "### END SOLUTION" not in ln)


def reference_answers(source_notebook: str | os.PathLike[str]) -> list[str]:
    """The instructor's answers: the source notebook's code answer cells without the solution markers."""
    import nbformat

    nb = nbformat.read(os.fspath(source_notebook), as_version=4)
    return [_strip_solution_markers(c.source) for c in nb.cells if c.cell_type == "code" and _meta(c).get("solution")]


# ---- the snippets both kernels run ------------------------------------------------------------

_SETUP = """\
import ctypes as _clk_ctypes, sys as _clk_sys, torch as _clk_torch
if _clk_sys.platform.startswith("linux"):  # malloc keeps freed memory, as a GPU's caching allocator does
    try:
        _clk_libc = _clk_ctypes.CDLL("libc.so.6")
        _clk_libc.mallopt(-3, 32 * 2**20)
        _clk_libc.mallopt(-1, 2**30)
    except (OSError, AttributeError):
        pass
_clk_torch.set_num_threads(1)
_clk_g = _clk_torch.Generator().manual_seed({seed})
_clk_base = 3.0 * _clk_torch.randn({rows}, {cols}, generator=_clk_g) + 1.0  # on the CPU: module docstring
_clk_w = 1.0 + 0.5 * _clk_torch.randn({cols}, generator=_clk_g)
_clk_b = 0.5 * _clk_torch.randn({cols}, generator=_clk_g)
_clk_in, _clk_out = [], []
"""

_PREPARE = """\
_clk_out = []
_clk_in = [_clk_base.index_select(0, _clk_torch.randperm(_clk_base.shape[0], generator=_clk_torch.Generator().manual_seed(_s))) for _s in {seeds}]
"""

_TIMED = "_clk_out = [{fn}({args}) for x in _clk_in]"

_PROOF = """\
import json as _clk_json
print(_clk_json.dumps({{"n": len(_clk_out), "types": [type(_o).__module__ + "." + type(_o).__qualname__ for _o in _clk_out],
    "shapes": [list(getattr(_o, "shape", ())) for _o in _clk_out],
    "rows": [_clk_out[_k][_r].double().cpu().tolist() for _k, _r in {picks}]}}))
"""


def _perm(rows: int, seed: int):
    import torch

    return torch.randperm(rows, generator=torch.Generator().manual_seed(seed))


class _Reference:
    """The grader's own inputs and reference rows (CPU, float32): what a proof must match."""

    def __init__(self, function: str, seed: int, shape: tuple[int, int]) -> None:
        import torch

        from .verdicts import reference

        rows, cols = shape
        g = torch.Generator().manual_seed(seed)
        self.base = 3.0 * torch.randn(rows, cols, generator=g) + 1.0
        self.w = 1.0 + 0.5 * torch.randn(cols, generator=g)
        self.b = 0.5 * torch.randn(cols, generator=g)
        self.fn = reference(function)
        self.params = (self.w, self.b) if function == "layer_norm" else (self.w,)

    def rows(self, perm_seed: int, picked: list[int]) -> np.ndarray:
        perm = _perm(self.base.shape[0], perm_seed)
        x = self.base.index_select(0, perm[picked])
        return self.fn(x, *self.params).double().numpy()


def _check_proof(text: str, n: int, shape: tuple[int, int], expected: list[np.ndarray]) -> str | None:
    """None if the proof printed by a kernel shows ``n`` plain tensors of ``shape`` whose picked rows are right."""
    line = next((ln for ln in reversed(text.strip().splitlines()) if ln.startswith("{")), "")
    try:
        proof = json.loads(line)
        if int(proof["n"]) != n:
            return f"the timed calls returned {proof['n']} results instead of {n}"
        if any(t != "torch.Tensor" for t in proof["types"]):
            return f"the timed calls must return plain tensors (got {sorted(set(proof['types']))})"
        if any(tuple(s) != tuple(shape) for s in proof["shapes"]):
            return f"the timed calls returned shapes {sorted({tuple(s) for s in proof['shapes']})} instead of {tuple(shape)}"
        for got, want in zip(proof["rows"], expected):
            # the rows of THESE inputs, as the speed cell's precondition reads them (normalised within 1e-2;
            # a wrong variance is the correctness cells' business): stale or skipped rows are O(1) off
            if not np.allclose(np.asarray(got, dtype=np.float64), want, rtol=_PROOF_TOL, atol=_PROOF_TOL):
                return "the results of the timed calls are not those of their inputs"
        return None
    except (ValueError, KeyError, TypeError):
        return "the timed calls left no readable results"


def _seed(secret: str, *parts: Any) -> int:
    import hashlib
    import hmac

    text = ":".join(str(p) for p in parts)
    return int.from_bytes(hmac.new(secret.encode(), text.encode(), hashlib.sha256).digest()[:4], "big")


def _cpu() -> int:
    """The CPU both kernels of this grading process run on (workers of a parallel run pick different ones)."""
    cpus = sorted(os.sched_getaffinity(0))
    return cpus[os.getpid() % len(cpus)]


def _setup_kernel(k: _Kernel, code: list[str], timeout: float) -> str | None:
    """Run the setup and answer cells; None, or why the kernel is unusable. A failing student cell is no
    reason to stop (the function may still be defined, as in the notebook itself)."""
    for source in code:
        status, _, _ = k.run(source, timeout, output=False)
        if status == "timeout":
            return "a cell hit the time limit"
    return None


def measure(
    nb: Any,
    assignment: str,
    reference_code: list[str],
    *,
    secret: str,
    config: Any = None,
    folder: str | None = None,
    functions: list[str] | None = None,
    cell_timeout: float = 120.0,
) -> dict[str, Timing]:
    """Time the speed cells' functions of a graded notebook against the reference; by speed cell grade_id.

    Args:
        nb: The executed (autograded) notebook: its locked setup and the student's cells.
        assignment: Its name (the speed cells come from its cases module).
        reference_code: The instructor's answer cells (see :func:`reference_answers`).
        secret: The course secret (the timed inputs derive from it and the notebook).
        config: The grader's config (``c.Sandbox`` settings).
        folder: The student's submission folder (copied into the student kernel's jail).
        functions: Only these functions (default: every speed cell's).
        cell_timeout: Seconds for each setup/answer cell.
    """
    result: dict[str, Timing] = {}
    error: list[BaseException] = []

    # bwrap --die-with-parent ties each kernel to the THREAD that started it: one thread does it all
    def work() -> None:
        try:
            result.update(_measure(nb, assignment, reference_code, secret, config, folder, functions, cell_timeout))
        except BaseException as err:  # noqa: BLE001 - re-raised in the caller's thread
            error.append(err)

    thread = threading.Thread(target=work, name="regnorm-clock", daemon=True)
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result


def _measure(nb, assignment, reference_code, secret, config, folder, functions, cell_timeout) -> dict[str, Timing]:

    mod = speed_module(assignment)
    cells = {cell: fn for cell, fn in mod.SPEED.items() if functions is None or fn in functions}
    if not cells:
        return {}
    rows, cols = mod.SPEED_SHAPE
    limit = float(mod.SPEED_LIMIT)
    nonce = json.dumps([c.source for c in nb.cells if c.cell_type == "code" and _meta(c).get("solution")])
    seed = _seed(secret, assignment, "clock", nonce)
    student = reference = None
    out: dict[str, Timing] = {}
    try:
        student = _Kernel(config, folder)
        reference = _Kernel(config, None)
        cpu = _cpu()
        setup = _SETUP.format(seed=seed, rows=rows, cols=cols)
        problems = {}
        for name, k, code in (("student", student, student_code(nb)), ("reference", reference, _setup_cells(nb) + list(reference_code))):
            k.thaw()
            why = _setup_kernel(k, code + [setup], cell_timeout)
            k.freeze()
            if why:
                problems[name] = why
        for cell, fn in cells.items():
            if "reference" in problems:
                out[cell] = Timing(fn, None, False, f"{fn}: the grader could not time the reference ({problems['reference']}); ask your instructor")
                continue
            if "student" in problems:
                out[cell] = Timing(fn, None, False, f"{fn} could not be timed: {problems['student']}")
                continue
            out[cell] = _time_function(fn, student, reference, cpu, seed, (rows, cols), limit, cell_timeout)
    finally:
        for k in (student, reference):
            if k is not None:
                k.close()
    return out


def _round(k: _Kernel, fn: str, nparams: int, seeds: list[int], picks: list[tuple[int, list[int]]], cpu: int, timeout: float) -> tuple[float | None, str]:
    """One round in one kernel: prepare (untimed), the timed request, the proof. (seconds or None, proof text or why)."""
    args = ", ".join(["x", "_clk_w", "_clk_b"][: 1 + nparams])
    k.thaw()
    try:
        status, _, _ = k.run(_PREPARE.format(seeds=seeds), timeout, output=False)
        if status != "ok":
            return None, f"preparing the inputs failed ({status})"
        k.pin(cpu)
        status, _, seconds = k.run(_TIMED.format(fn=fn, args=args), timeout, output=False)
        if status == "timeout":
            return None, "timeout"
        if status != "ok":
            return None, f"the timed calls of {fn} raised an error"
        status, text, _ = k.run(_PROOF.format(picks=picks), 60.0)
        return seconds, text
    finally:
        k.freeze()


def _time_function(fn: str, student: _Kernel, reference: _Kernel, cpu: int, seed: int, shape: tuple[int, int], limit: float, timeout: float) -> Timing:
    import random

    rng = random.Random(f"{seed}:{fn}")
    nparams = 2 if fn == "layer_norm" else 1
    ref = _Reference(fn, seed, shape)
    rows = shape[0]

    def one(k: _Kernel, n: int, limit_s: float) -> tuple[float | None, str | None]:
        seeds = [rng.randrange(1 << 31) for _ in range(n)]
        picks = [(i, sorted(rng.sample(range(rows), 4))) for i in sorted(rng.sample(range(n), min(_PICKS, n)))]
        seconds, text = _round(k, fn, nparams, seeds, picks, cpu, limit_s)
        if seconds is None:
            return None, text
        expected = [ref.rows(seeds[i], r) for i, r in picks]
        return seconds, _check_proof(text, n, shape, expected)

    # calibrate on the reference: enough calls for ~0.1 s per timed request
    t, why = one(reference, 2, timeout)
    if t is None or why:
        return Timing(fn, None, False, f"{fn}: the grader could not time the reference ({why}); ask your instructor")
    n = max(3, min(_MAX_CALLS, math.ceil(_TARGET_SECONDS / max(t / 2, 1e-6))))
    best = {"student": math.inf, "reference": math.inf}
    for r in range(5):
        order = [("reference", reference), ("student", student)]
        if r % 2:
            order.reverse()
        for name, k in order:
            # a student's request may take long (a Python loop): up to 50x the reference, at least 30 s
            budget = timeout if name == "reference" else max(30.0, 50.0 * best["reference"]) if best["reference"] < math.inf else timeout
            seconds, why = one(k, n, budget)
            if name == "reference":
                if seconds is None or why:
                    return Timing(fn, None, False, f"{fn}: the grader could not time the reference ({why}); ask your instructor")
            elif seconds is None:
                if why == "timeout":
                    return Timing(fn, None, False, f"{fn} took more than {budget:.0f} s for {n} calls that take the reference {best['reference']:.2f} s (limit {limit:g}x): {ADVICE}")
                return Timing(fn, None, False, f"{fn} could not be timed: {why}")
            elif why:
                return Timing(fn, None, False, f"{fn} earns no speed points: {why}")
            best[name] = min(best[name], seconds)
        ratio = best["student"] / best["reference"]
        # far over the limit after one round (a Python loop: its rounds are long) or, after both orders, clear either way
        if (r == 0 and ratio > 3 * limit) or (r >= 1 and (ratio < limit * 0.8 or ratio > limit * 1.25)) or r == 4:
            return Timing(fn, ratio, ratio <= limit, sentence(fn, ratio, DEVICE, limit))
    raise AssertionError("unreachable")  # pragma: no cover
