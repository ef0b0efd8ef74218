"""Harness for grading planted submissions through the real nbgrader pipeline.

Used by every ``tests/exercises/test_psNN_<topic>.py``; ps04-ps07 reuse it unchanged:

    course = copy_course(tmp_path)                  # a private copy of exercises/
    release(course, "ps01_penalties")               # generate_assignment (real)
    plant(course, "solution", "ps01_penalties", solution_answers(course, "ps01_penalties"))
    plant(course, "blank", "ps01_penalties")        # the untouched release
    statuses = autograde(course, "ps01_penalties", force=True, timeout=20)  # ONE nbgrader call
    cells = cell_scores(course, "ps01_penalties", "solution")   # {grade_id: (score, max)}

The answers of a variant are a dict ``{function name: answer cell source}``;
``edit`` is a function that changes the planted notebook (delete or edit cells).
"""

from __future__ import annotations

import html
import json
import pathlib
import re
import shutil
from typing import Callable

import nbformat

from regnorm_lab.course import pipeline
from regnorm_lab.course.authoring import load_spec
from regnorm_lab.course.preprocessors import split_hidden

REPO = pathlib.Path(__file__).resolve().parents[2]
EXERCISES = REPO / "exercises"
GENERATED = ("release", "submitted", "autograded", "feedback", "gradebook.db", "exchange", "reports", "downloaded", "grades.csv")

__all__ = [
    "copy_course",
    "release",
    "autograde",
    "feedback",
    "solution_answers",
    "plant",
    "cell_scores",
    "total",
    "hidden_lines",
    "spec",
    "functions_of",
    "test_cells_of",
]

release = pipeline.release
autograde = pipeline.autograde
feedback = pipeline.feedback


def copy_course(tmp: pathlib.Path, assignments: list[str] | None = None) -> pathlib.Path:
    """Copy ``exercises/`` (config, authoring, the chosen sources; nothing generated) into ``tmp/exercises``."""
    dest = tmp / "exercises"
    dest.mkdir(parents=True)
    shutil.copy(EXERCISES / "nbgrader_config.py", dest / "nbgrader_config.py")
    if (EXERCISES / "authoring").exists():
        shutil.copytree(EXERCISES / "authoring", dest / "authoring")
    for src in sorted((EXERCISES / "source").iterdir()):
        if src.is_dir() and (assignments is None or src.name in assignments):
            shutil.copytree(src, dest / "source" / src.name)
    return dest


def spec(course: pathlib.Path, assignment: str):
    """The assignment's authoring module (CELLS, MISTAKES, SHORTCUTS)."""
    return load_spec(course, assignment)


def _strip_markers(source: str) -> str:
    return "\n".join(ln for ln in source.split("\n") if "### BEGIN SOLUTION" not in ln and "### END SOLUTION" not in ln)


def _answer_cells(nb) -> dict[str, nbformat.NotebookNode]:
    return {c.metadata["nbgrader"]["grade_id"]: c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")}


def solution_answers(course: pathlib.Path, assignment: str) -> dict[str, str]:
    """The instructor's answers (solution markers removed), keyed by function name."""
    nb = nbformat.read(str(course / "source" / assignment / f"{assignment}.ipynb"), as_version=4)
    return {k: _strip_markers(c.source) for k, c in _answer_cells(nb).items()}


def functions_of(course: pathlib.Path, assignment: str) -> list[str]:
    """The contract functions (answer cells) of an assignment, in notebook order."""
    nb = nbformat.read(str(course / "source" / assignment / f"{assignment}.ipynb"), as_version=4)
    return list(_answer_cells(nb))


def test_cells_of(course: pathlib.Path, assignment: str) -> dict[str, str]:
    """Test cell grade_id -> the function it checks (from the authoring spec)."""
    return {c.grade_id: c.function for c in spec(course, assignment).CELLS if c.kind == "test"}


def plant(
    course: pathlib.Path,
    student: str,
    assignment: str,
    answers: dict[str, str] | None = None,
    *,
    edit: Callable[[nbformat.NotebookNode], None] | None = None,
    raw_text: str | None = None,
    notebook: bool = True,
) -> pathlib.Path:
    """Put a submission in ``submitted/<student>/<assignment>/`` made from the release.

    Args:
        answers: Replacement sources for answer cells (by function name); others stay blank.
        edit: Called on the notebook before writing (e.g. delete a test cell).
        raw_text: Write this text instead of a notebook (e.g. invalid JSON).
        notebook: False leaves the folder without the notebook (a missing submission).
    """
    folder = course / "submitted" / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{assignment}.ipynb"
    if not notebook:
        (folder / "notes.txt").write_text("I forgot to upload the notebook.\n")
        return folder
    if raw_text is not None:
        path.write_text(raw_text)
        return path
    nb = nbformat.read(str(course / "release" / assignment / f"{assignment}.ipynb"), as_version=4)
    cells = _answer_cells(nb)
    for name, code in (answers or {}).items():
        cells[name].source = code.strip("\n")
    if edit is not None:
        edit(nb)
    nbformat.write(nb, str(path))
    return path


def cell_scores(course: pathlib.Path, assignment: str, student: str) -> dict[str, tuple[float, float]]:
    """Autograded test-cell scores of one student: ``{grade_id: (score, max_score)}``."""
    from nbgrader.api import Gradebook

    cfg = pipeline.load_config(course)
    with Gradebook(cfg.CourseDirectory.db_url, "regnorm-lab") as gb:
        sub = gb.find_submission_notebook(assignment, assignment, student)
        return {g.name: (float(g.score), float(g.max_score)) for g in sub.grades}


def total(scores: dict[str, tuple[float, float]]) -> tuple[float, float]:
    """(sum of scores, sum of max scores)."""
    return sum(s for s, _ in scores.values()), sum(m for _, m in scores.values())


def hidden_lines(course: pathlib.Path, assignment: str) -> list[str]:
    """Distinctive lines of the source notebook's hidden-test blocks (those not also visible)."""
    nb = nbformat.read(str(course / "source" / assignment / f"{assignment}.ipynb"), as_version=4)
    visible, hidden = set(), []
    for cell in nb.cells:
        vis, hid = split_hidden(cell.source)
        visible.update(ln.strip() for ln in vis.split("\n"))
        hidden.extend(ln.strip() for ln in hid)
    return sorted({ln for ln in hidden if ln and ln not in visible and len(ln) > 12})


def text_of_feedback(path: pathlib.Path) -> str:
    """An HTML feedback file as plain text (tags removed, entities decoded) for leak checks."""
    raw = path.read_text()
    return html.unescape(re.sub(r"<[^>]+>", "", raw))


def text_of_notebook(path: pathlib.Path) -> str:
    """Every cell source and output text of a notebook, for leak checks."""
    data = json.loads(path.read_text())
    return json.dumps(data, ensure_ascii=False)
