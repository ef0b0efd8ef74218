"""Write nbgrader source notebooks from a short list of cells (the assignment template).

An assignment is described in ``exercises/authoring/<assignment>.py`` (outside
``exercises/source/``, so nbgrader never copies the description into a release) by
a module-level ``CELLS`` list built with the helpers below, plus, for the tests,
``MISTAKES`` (function name -> a wrong answer) and ``SHORTCUTS`` (variant name ->
(function name, delegating answer)). ``python -m regnorm_lab.course build-sources``
turns it into ``exercises/source/<assignment>/<assignment>.ipynb``.

Example::

    CELLS = [
        markdown("# ps01: penalties ..."),
        probe_setup("ps01_penalties"),
        markdown("## l1_penalty ..."),
        answer("l1_penalty", '''
            def l1_penalty(w, lam):
                ### BEGIN SOLUTION
                return float(lam * np.abs(w).sum())
                ### END SOLUTION
        '''),
        probe_test("test_l1_penalty_forward", "l1_penalty matches lam * sum(|w|)", 2,
                   function="l1_penalty", assignment="ps01_penalties"),
    ]

The checks of a test cell live in ``regnorm_lab.course.cases.<assignment>``: the cell only
calls the probe, and the grader decides (``regnorm_lab/course/judge.py``).
"""

from __future__ import annotations

import importlib.util
import pathlib
import textwrap
from dataclasses import dataclass, field
from types import ModuleType
from typing import Literal

import nbformat
from nbformat.notebooknode import NotebookNode

__all__ = [
    "Cell",
    "markdown",
    "setup",
    "answer",
    "written",
    "free",
    "build_notebook",
    "write_notebook",
    "load_spec",
    "build_source",
    "probe_setup",
    "probe_test",
    "PROBE_SETUP",
]

CellKind = Literal["markdown", "setup", "answer", "test", "written", "free"]

#: The setup cell of an assignment whose test cells call the probe (``{assignment}`` filled in).
PROBE_SETUP = """\
# Setup (read-only): numpy and the course's probe, which runs your functions on the test inputs.
import numpy as np
from regnorm_lab.course import probe
P = probe.session("{assignment}")"""


@dataclass(frozen=True)
class Cell:
    """One notebook cell of an assignment.

    Attributes:
        kind: ``markdown`` (free text), ``setup`` (locked code), ``answer`` (the
            student's code; ``grade_id`` is the contract function's name),
            ``test`` (a locked autograder test cell worth ``points``), ``written``
            (a markdown answer graded by hand, worth ``points``) or ``free`` (an
            editable, ungraded code cell, e.g. an experiment to run).
        source: Cell text (dedented, stripped).
        grade_id: nbgrader's id (required except for ``markdown``).
        points: Points of a test cell.
        function: The contract function a test cell checks (for the harness).
    """

    kind: CellKind
    source: str
    grade_id: str | None = None
    points: float = 0.0
    function: str | None = None
    extra: dict = field(default_factory=dict)


def _clean(source: str) -> str:
    return textwrap.dedent(source).strip("\n")


def markdown(source: str) -> Cell:
    """A plain markdown cell."""
    return Cell("markdown", _clean(source))


def setup(source: str, grade_id: str = "setup") -> Cell:
    """A read-only code cell nbgrader does not grade (the setup, a data or helper cell, an ungraded report)."""
    return Cell("setup", _clean(source), grade_id=grade_id)


def probe_setup(assignment: str, extra: str = "") -> Cell:
    """The read-only setup cell of a converted assignment: ``P = probe.session(assignment)``."""
    return Cell("setup", _clean(PROBE_SETUP.format(assignment=assignment) + ("\n" + _clean(extra) if extra else "")), grade_id="setup")


def probe_test(grade_id: str, behaviour: str, points: float, *, function: str, assignment: str) -> Cell:
    """A locked test cell whose checks are the cell's entries in ``regnorm_lab.course.cases.<assignment>``.

    The cell runs the visible checks, then (between nbgrader's hidden-test markers) the
    hidden ones; the kernel only records what the function returned, the grader
    (:mod:`.judge`) decides. Which checks exist is read from the cases module, so the
    cell and the grader cannot disagree about them. A speed cell (``SPEED`` of the cases
    module) calls ``P.speed``: its check is the precondition, the grader's clock
    (:mod:`.clock`) measures the speed.
    """
    from . import cases

    if not grade_id.startswith("test_"):
        raise ValueError(f"grade_id must start with 'test_', got {grade_id!r}")
    if points <= 0:
        raise ValueError(f"points must be > 0, got {points!r}")
    checks = cases.load(assignment).get(grade_id)
    if not checks:
        raise ValueError(f"grade_id {grade_id!r} has no checks in regnorm_lab.course.cases.{assignment}")
    lines = [f"# Test: {behaviour}"]
    names = ", ".join([function, *checks[0].helpers])
    speed = grade_id in getattr(importlib.import_module(f"{cases.__name__}.{assignment}"), "SPEED", {})
    if any(not c.hidden for c in checks):
        lines.append(f"P.{'speed' if speed else 'run'}({grade_id!r}, {names})")
    if any(c.hidden for c in checks):
        lines += ["### BEGIN HIDDEN TESTS", f"P.run({grade_id!r}, {names}, hidden=True)", "### END HIDDEN TESTS"]
    return Cell("test", "\n".join(lines), grade_id=grade_id, points=float(points), function=function)


def answer(name: str, source: str) -> Cell:
    """An autograded-answer cell for contract function ``name`` (solution between markers)."""
    return Cell("answer", _clean(source), grade_id=name, function=name)


def written(grade_id: str, points: float, source: str) -> Cell:
    """A markdown answer graded by hand (nbgrader "manually graded answer").

    The model answer sits between ``### BEGIN SOLUTION`` / ``### END SOLUTION``;
    the release shows nbgrader's "YOUR ANSWER HERE" in its place.
    """
    if points <= 0:
        raise ValueError(f"points must be > 0, got {points!r}")
    return Cell("written", _clean(source), grade_id=grade_id, points=float(points))


def free(source: str) -> Cell:
    """An editable code cell nbgrader does not grade (an experiment the student runs and changes)."""
    return Cell("free", _clean(source))


def _nbgrader_meta(cell: Cell) -> dict:
    base = {"schema_version": 3, "task": False, "grade_id": cell.grade_id}
    if cell.kind == "setup":
        return {**base, "grade": False, "solution": False, "locked": True}
    if cell.kind == "answer":
        return {**base, "grade": False, "solution": True, "locked": False}
    if cell.kind == "written":
        return {**base, "grade": True, "solution": True, "locked": False, "points": cell.points}
    return {**base, "grade": True, "solution": False, "locked": True, "points": cell.points}


def build_notebook(cells: list[Cell]) -> NotebookNode:
    """An nbformat v4 notebook with valid nbgrader metadata for ``cells``.

    Raises:
        ValueError: duplicate ``grade_id`` values or a non-markdown cell without one.

    Shape:
        ``len(cells)`` cells, in order.
    """
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    seen: set[str] = set()
    for i, cell in enumerate(cells):
        if cell.kind == "markdown":
            nb.cells.append(nbformat.v4.new_markdown_cell(cell.source, id=f"md-{i:02d}"))
            continue
        if cell.kind == "free":
            nb.cells.append(nbformat.v4.new_code_cell(cell.source, id=f"code-{i:02d}"))
            continue
        if not cell.grade_id:
            raise ValueError(f"cells[{i}] ({cell.kind}) needs a grade_id")
        if cell.grade_id in seen:
            raise ValueError(f"grade_id {cell.grade_id!r} is used twice")
        seen.add(cell.grade_id)
        make = nbformat.v4.new_markdown_cell if cell.kind == "written" else nbformat.v4.new_code_cell
        code = make(cell.source, id=cell.grade_id.replace("_", "-"))
        code.metadata["nbgrader"] = _nbgrader_meta(cell)
        if cell.kind in ("setup", "test"):
            # JupyterLab/Notebook 7 honour these: students cannot edit or delete locked cells
            code.metadata["editable"] = False
            code.metadata["deletable"] = False
        nb.cells.append(code)
    nbformat.validate(nb)
    return nb


def write_notebook(nb: NotebookNode, path: str | pathlib.Path) -> pathlib.Path:
    """Write ``nb`` to ``path`` (creating folders); return the path."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


def load_spec(course_root: str | pathlib.Path, assignment: str) -> ModuleType:
    """Import ``<course_root>/authoring/<assignment>.py`` (it defines ``CELLS``, ``MISTAKES``, ``SHORTCUTS``)."""
    path = pathlib.Path(course_root) / "authoring" / f"{assignment}.py"
    if not path.exists():
        raise ValueError(f"assignment {assignment!r} has no description at {path}")
    spec = importlib.util.spec_from_file_location(f"_regnorm_spec_{assignment}", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def build_source(course_root: str | pathlib.Path, assignment: str) -> pathlib.Path:
    """Build ``source/<assignment>/<assignment>.ipynb`` from ``authoring/<assignment>.py``."""
    spec = load_spec(course_root, assignment)
    nb = build_notebook(spec.CELLS)
    return write_notebook(nb, pathlib.Path(course_root) / "source" / assignment / f"{assignment}.ipynb")
