"""The grader's verdicts: nbgrader preprocessors that decide every test cell outside the student's kernel.

Autograde pipeline (put in place by :func:`install`, called from ``pipeline.load_config``)::

    ... JudgeSeeds -> Execute -> ... -> Judge -> SaveAutoGrades ...

- :class:`JudgeSeeds` (before execution) gives each test cell's hidden checks their key,
  an HMAC of the course secret: ``P.run(..., hidden=True)`` becomes
  ``P.run(..., hidden="<key>")``. Publishing the repository publishes no hidden input.
- :class:`Judge` (after execution, in the grader's process) reads the probe records of
  each test cell (:mod:`.probe`), judges them against the reference (:mod:`.verdicts`),
  decides delegation from the answer cells' source (:mod:`.delegation`), and REWRITES the
  cell's outputs: a pass keeps only the cell's printed text, a failure gets one error
  output with a one-line message (``Test failed`` or ``Hidden test failed``). nbgrader's
  own ``SaveAutoGrades`` then assigns the points from those outputs. What the kernel
  printed, raised or wrote as a record never decides anything by itself: a cell without
  a valid record for each of its checks scores 0.

The secret: ``c.Judge.secret`` in ``nbgrader_config.py``, else ``$REGNORM_GRADING_SECRET``,
else :data:`.probe.DEFAULT_SECRET` (fine on a laptop; a published default, so set your own
for a real class: grading logs a warning without one).

Speed cells (``SPEED`` of an assignment's cases module, ps07) whose precondition holds are
timed by the grader's clock (:mod:`.clock`) in two fresh sandboxed kernels, the student's
code against the reference; their output is the ratio and the limit, or the failure.

Assignments without a cases module (:mod:`.cases`) are left alone.
"""

from __future__ import annotations

import json
import logging
import os
import re
from typing import Any

from nbformat.notebooknode import NotebookNode
from nbgrader import utils
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Unicode

from . import cases
from .clock import speed_cells
from .delegation import delegation_messages
from .preprocessors import BEGIN_HIDDEN, END_HIDDEN, HIDDEN_FAILED, VISIBLE_FAILED
from .probe import DEFAULT_SECRET, MIME, cell_key

__all__ = ["Judge", "JudgeSeeds", "install", "verdict_output", "VISIBLE_FAILED", "HIDDEN_FAILED", "SECRET_ENV"]

SECRET_ENV = "REGNORM_GRADING_SECRET"
_HIDDEN_CALL = re.compile(r"(P\.run\([^\n]*?hidden=)True(\))")
_KEYED_CALL = re.compile(r'(P\.run\([^\n]*?hidden=)"[0-9a-f]{32}"(\))')
log = logging.getLogger("regnorm_lab.course")
_warned = False


class Judge(NbGraderPreprocessor):
    """Decide each autograded test cell of a converted assignment in the grader's process."""

    secret = Unicode("", help=f"Course secret the hidden test inputs derive from (default: ${SECRET_ENV}).").tag(config=True)

    def course_secret(self) -> str:
        global _warned
        secret = self.secret or os.environ.get(SECRET_ENV, "")
        if not secret:
            if not _warned:
                log.warning("no grading secret set (c.Judge.secret or $%s): hidden test inputs are the published defaults", SECRET_ENV)
                _warned = True
            return DEFAULT_SECRET
        return secret

    def preprocess(self, nb: NotebookNode, resources: dict[str, Any]) -> tuple[NotebookNode, dict[str, Any]]:
        assignment = resources.get("nbgrader", {}).get("assignment", "")
        if not assignment or not cases.converted(assignment):
            return nb, resources
        checks = cases.load(assignment)
        secret = self.course_secret()
        answers = {c.metadata["nbgrader"]["grade_id"]: c.source for c in nb.cells if c.cell_type == "code" and utils.is_solution(c)}
        others = [c.source for c in nb.cells if c.cell_type == "code" and not utils.is_locked(c) and not utils.is_solution(c)]
        # the locked setup cells (restored by nbgrader) say what the answers' aliases mean (F = torch.nn.functional)
        setup = [c.source for c in nb.cells if c.cell_type == "code" and utils.is_locked(c) and not utils.is_grade(c) and not utils.is_solution(c)]
        functions = {check.function for cell in checks.values() for check in cell}
        delegating = delegation_messages(sorted(functions), answers, others, setup)
        speed = speed_cells(assignment)
        timed: dict[str, NotebookNode] = {}
        for cell in nb.cells:
            if cell.cell_type != "code" or not utils.is_grade(cell) or utils.is_solution(cell):
                continue
            grade_id = cell.metadata["nbgrader"]["grade_id"]
            if grade_id not in checks:
                cell.outputs = [verdict_output(f"{grade_id} is not a test of this assignment", hidden=False)]
                continue
            cell.outputs = self._judge_cell(assignment, grade_id, checks[grade_id], cell, secret, delegating)
            if grade_id in speed:
                if any(o.get("output_type") == "error" for o in cell.outputs):
                    cell.outputs = [o for o in cell.outputs if o.get("output_type") == "error"]  # no printed claim of a speed
                else:
                    timed[grade_id] = cell  # its precondition holds: the grader's clock decides
            # the stored notebook keeps the cell as written (no key in it, nbgrader's checksum intact)
            cell.source = _KEYED_CALL.sub(r"\g<1>True\g<2>", cell.source)
        if timed:
            self._time_cells(nb, resources, assignment, secret, {g: speed[g] for g in timed}, timed)
        return nb, resources

    def _time_cells(self, nb: NotebookNode, resources: dict[str, Any], assignment: str, secret: str, functions: dict[str, str], cells: dict[str, NotebookNode]) -> None:
        """The speed cells' verdicts, measured by the grader's clock (:mod:`.clock`); their outputs rewritten."""
        from . import clock

        try:
            reference = clock.reference_answers(self._source_notebook(resources, assignment))
            folder = (resources.get("metadata") or {}).get("path")
            limit = self.config.Execute.get("timeout") if "Execute" in self.config else None
            timings = clock.measure(nb, assignment, reference, secret=secret, config=self.config, folder=folder,
                                    functions=sorted(set(functions.values())),
                                    cell_timeout=float(limit) if isinstance(limit, (int, float)) and limit > 0 else 60.0)
        except Exception as err:  # noqa: BLE001 - no speed points, and the instructor is told why
            log.error("timing %s failed: %s: %s", assignment, type(err).__name__, err)
            timings = {g: clock.Timing(fn, None, False, f"{fn}: the grader could not time it ({type(err).__name__}); ask your instructor") for g, fn in functions.items()}
        for grade_id, cell in cells.items():
            t = timings.get(grade_id) or clock.Timing(functions[grade_id], None, False, f"{functions[grade_id]} was not timed")
            if t.passed:
                cell.outputs = [NotebookNode(output_type="stream", name="stdout", text=t.message + "\n")]
            else:
                cell.outputs = [verdict_output(t.message, hidden=False)]

    def _source_notebook(self, resources: dict[str, Any], assignment: str) -> str:
        """The instructor's source notebook of the notebook being graded (its solution cells are the reference)."""
        from nbgrader.coursedir import CourseDirectory

        cd = CourseDirectory(config=self.config)
        notebook = resources.get("nbgrader", {}).get("notebook") or assignment
        return os.path.join(cd.root, cd.source_directory, assignment, f"{notebook}.ipynb")

    def _judge_cell(self, assignment: str, grade_id: str, cell_checks: list, cell: NotebookNode, secret: str, delegating: dict[str, str]) -> list:
        from .verdicts import judge_record

        kept = [o for o in cell.get("outputs", []) if o.get("output_type") == "stream" and o.get("name") == "stdout"]
        timed_out = any(o.get("output_type") == "error" and o.get("ename") == "CellTimeoutError" for o in cell.get("outputs", []))
        records = [_record(o) for o in cell.get("outputs", [])]
        records = [r for r in records if r is not None and r.get("cell") == grade_id]
        for index, check in enumerate(cell_checks):
            if check.function in delegating:
                return kept + [verdict_output(delegating[check.function], hidden=False)]
            mine = [r for r in records if r.get("check") == index and r.get("hidden") is check.hidden]
            if not mine:
                why = "the test hit the time limit" if timed_out else "the test did not run to the end (no result was recorded)"
                return kept + [verdict_output(f"{check.function}: {why}", hidden=check.hidden, ename="CellTimeoutError" if timed_out else None)]
            key = cell_key(secret, assignment, grade_id) if check.hidden else None
            for record in mine:  # duplicates are all judged: none can stand in for another
                problem = judge_record(assignment, grade_id, index, key, record)
                if problem:
                    return kept + [verdict_output(problem, hidden=check.hidden)]
        return kept


def _record(output: Any) -> dict[str, Any] | None:
    if output.get("output_type") != "display_data":
        return None
    data = output.get("data", {}).get(MIME)
    if isinstance(data, str):  # some writers store JSON bundles as text
        try:
            data = json.loads(data)
        except ValueError:
            return None
    return dict(data) if isinstance(data, dict) else None


def verdict_output(message: str, *, hidden: bool, ename: str | None = None) -> NotebookNode:
    """The one error output of a failed test cell: ``Test failed: <message>`` (one line, no traceback)."""
    line = " ".join(str(message).split())
    name = ename or (HIDDEN_FAILED if hidden else VISIBLE_FAILED)
    return NotebookNode(output_type="error", ename=name, evalue=line, traceback=[f"{name}: {line}"])


class JudgeSeeds(Judge):
    """Before execution: give the hidden checks of each test cell the key derived from the course secret."""

    def preprocess(self, nb: NotebookNode, resources: dict[str, Any]) -> tuple[NotebookNode, dict[str, Any]]:
        assignment = resources.get("nbgrader", {}).get("assignment", "")
        if not assignment or not cases.converted(assignment):
            return nb, resources
        secret = self.course_secret()
        for cell in nb.cells:
            if cell.cell_type != "code" or not utils.is_grade(cell) or utils.is_solution(cell) or BEGIN_HIDDEN not in cell.source:
                continue
            key = cell_key(secret, assignment, cell.metadata["nbgrader"]["grade_id"])
            lines, inside = [], False
            for line in cell.source.split("\n"):
                inside = (inside or BEGIN_HIDDEN in line) and END_HIDDEN not in line
                lines.append(_HIDDEN_CALL.sub(rf'\g<1>"{key}"\g<2>', line) if inside else line)
            cell.source = "\n".join(lines)
        return nb, resources


def _names(steps: list) -> list[str]:
    return [s if isinstance(s, str) else f"{s.__module__}.{s.__name__}" for s in steps]


def install(cfg: Any) -> Any:
    """Put :class:`JudgeSeeds` before execution and :class:`Judge` before ``SaveAutoGrades`` in ``cfg``'s autograde pipeline.

    Idempotent; the pipeline comes from the config or nbgrader's default.
    """
    from nbgrader.converters import Autograde

    steps = list(cfg.Autograde["autograde_preprocessors"]) if "autograde_preprocessors" in cfg.Autograde else Autograde.class_traits()["autograde_preprocessors"].default()
    names = _names(steps)
    ours = f"{__name__}.Judge"
    if ours in names:
        return cfg
    save = next(i for i, n in enumerate(names) if n.endswith("SaveAutoGrades"))
    steps.insert(save, ours)
    run = next(i for i, n in enumerate(_names(steps)) if n.endswith("Execute"))
    steps.insert(run, f"{__name__}.JudgeSeeds")
    cfg.Autograde.autograde_preprocessors = steps
    return cfg
