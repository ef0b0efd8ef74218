"""Harness for grading planted submissions through the real nbgrader pipeline.

Used by every ``tests/course/test_psNN_<topic>.py``; ps04-ps07 reuse it unchanged:

    course = copy_course(tmp_path)                  # a private copy of exercises/
    release(course, "ps01_penalties")               # generate_assignment (real)
    plant(course, "solution", "ps01_penalties", solution_answers(course, "ps01_penalties"))
    plant(course, "blank", "ps01_penalties")        # the untouched release
    statuses = autograde(course, "ps01_penalties", force=True, timeout=20)  # ONE nbgrader call
    cells = cell_scores(course, "ps01_penalties", "solution")   # {grade_id: (score, max)}

The answers of a variant are a dict ``{function name: answer cell source}``;
``edit`` is a function that changes the planted notebook (delete or edit cells).

The tests every assignment passes (solution full marks, blank zero, each single
mistake loses exactly its cells, delegating answers earn nothing, hidden tests stay
hidden) are written once, in the class :func:`standard_suite` returns; a test module
binds it to a ``Test*`` name, or subclasses it to add the assignment's own tests:

    class TestPs04(H.standard_suite("ps04_batch_norm", max_points=19.0, variants=VARIANTS, timeout=60)):
        def test_backward_is_graded_on_the_students_own_cache(self, graded): ...
"""

from __future__ import annotations

import html
import pathlib
import re
import shutil
from typing import Callable

import nbformat
import pytest

from regnorm_lab.course import pipeline
from regnorm_lab.course.authoring import load_spec
from regnorm_lab.course.preprocessors import split_hidden

REPO = pathlib.Path(__file__).resolve().parents[2]
EXERCISES = REPO / "exercises"
GENERATED = ("release", "submitted", "autograded", "feedback", "gradebook.db", "exchange", "reports", "downloaded", "grades.csv")

__all__ = [
    "Graded",
    "grade_variants",
    "standard_variants",
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
    "standard_suite",
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
    nb = nbformat.read(str(path), as_version=4)
    parts = []
    for cell in nb.cells:
        parts.append(cell.source)
        for out in cell.get("outputs", []):
            parts.append(str(out.get("text", "")))
            parts.append(str(out.get("evalue", "")))
            parts.extend(str(t) for t in out.get("traceback", []))
            parts.extend(str(v) for v in out.get("data", {}).values())
    return "\n".join(parts)


class Graded:
    """The outcome of grading planted variants of one assignment (see :func:`grade_variants`)."""

    def __init__(self, course: pathlib.Path, assignment: str, statuses: list) -> None:
        self.course = course
        self.assignment = assignment
        self.statuses = {s.student_id: s for s in statuses}

    def cells(self, student: str) -> dict[str, tuple[float, float]]:
        return cell_scores(self.course, self.assignment, student)

    def auto_cells(self, student: str) -> dict[str, tuple[float, float]]:
        """The autograded cells only: hand-graded ones (ps06's written answer) wait for a person."""
        course_spec = spec(self.course, self.assignment)
        by_hand = {c.grade_id for c in course_spec.CELLS if c.kind == "written"}
        cells = self.cells(student)
        missing = {c.grade_id for c in course_spec.CELLS if c.kind == "test"} - set(cells)
        assert not missing, f"{student}: autograded cells missing from the gradebook: {sorted(missing)}"
        return {k: v for k, v in cells.items() if k not in by_hand}

    def score(self, student: str) -> tuple[float, float]:
        return total(self.cells(student))

    def feedback_text(self, student: str) -> str:
        files = sorted((self.course / "feedback" / student / self.assignment).glob("*.html"))
        assert files, f"no feedback for {student}"
        return "\n".join(text_of_feedback(f) for f in files)


def grade_variants(tmp: pathlib.Path, assignment: str, variants: dict[str, dict], *, timeout: int = 30,
                   config: str = "") -> Graded:
    """Copy the course, release ``assignment``, plant ``variants`` (student -> :func:`plant` kwargs),
    autograde them all in ONE nbgrader call and generate feedback.

    ``config`` is appended to the copy's ``nbgrader_config.py`` first (e.g. a production secret).
    """
    course = copy_course(tmp, [assignment])
    if config:
        with open(course / "nbgrader_config.py", "a") as f:
            f.write(config)
    release(course, assignment)
    for student, kwargs in variants.items():
        plant(course, student, assignment, **kwargs)
    statuses = autograde(course, assignment, force=True, timeout=timeout)
    feedback(course, assignment)
    return Graded(course, assignment, statuses)


def standard_variants(course_spec, solution: dict[str, str]) -> dict[str, dict]:
    """solution, blank, one single-mistake variant per MISTAKES entry, and the SHORTCUTS variant."""
    variants: dict[str, dict] = {"solution": {"answers": solution}, "blank": {}}
    for fn, (code, _cells) in course_spec.MISTAKES.items():
        variants[f"mistake_{fn}"] = {"answers": {**solution, fn: code}}
    if getattr(course_spec, "SHORTCUTS", None):
        variants["shortcuts"] = {"answers": {**solution, **course_spec.SHORTCUTS}}
    return variants


# ---- checks shared by every assignment's test module -------------------------------------

def check_full_marks(g: Graded, student: str = "solution") -> None:
    cells = g.auto_cells(student)
    lost = {k: v for k, v in cells.items() if v[0] != v[1]}
    assert not lost, f"{student} lost points in {lost}"
    assert g.statuses[student].status == "graded"


def check_zero(g: Graded, student: str = "blank") -> None:
    score, max_score = total(g.auto_cells(student))
    assert max_score > 0 and score == 0, f"{student} scored {score}/{max_score}"


def check_mistake(g: Graded, fn: str, expected_failing: set[str]) -> None:
    """A single-mistake variant: partial score, and exactly the expected cells lost their points."""
    cells = g.auto_cells(f"mistake_{fn}")
    score, max_score = total(cells)
    assert 0 < score < max_score, f"mistake_{fn} scored {score}/{max_score}"
    failing = {k for k, (s, m) in cells.items() if s < m}
    assert failing == expected_failing, f"mistake_{fn}: failing cells {sorted(failing)}, expected {sorted(expected_failing)}"


def check_shortcuts(g: Graded, shortcuts: dict[str, str], owner: dict[str, str]) -> None:
    """Every test cell of a delegating function scores 0, with the reason in the feedback; honest ones keep theirs."""
    cells = g.cells("shortcuts")
    for cell, fn in owner.items():
        s, m = cells[cell]
        if fn in shortcuts:
            assert s == 0, f"{cell} gave points to a delegating {fn}"
        else:
            assert s == m, f"{cell} of the honest {fn} lost points"
    text = g.feedback_text("shortcuts")
    for fn in shortcuts:
        assert f"{fn} calls " in text and "write it yourself" in text, f"feedback does not say why {fn} earned nothing"


def check_no_hidden_leak(g: Graded) -> None:
    """No hidden-test line in the released notebook or in any feedback file."""
    secrets = hidden_lines(g.course, g.assignment)
    assert secrets, "the assignment has no hidden tests to protect"
    released = text_of_notebook(g.course / "release" / g.assignment / f"{g.assignment}.ipynb")
    autograded = g.course / "autograded"
    # the hidden tests do run: they are in the autograded notebooks (instructor side)
    assert any(secrets[0] in text_of_notebook(p) for p in autograded.glob(f"*/{g.assignment}/*.ipynb"))
    feedback_files = sorted((g.course / "feedback").glob(f"*/{g.assignment}/*.html"))
    assert feedback_files
    for line in secrets:
        assert line not in released, f"hidden line released: {line}"
        for f in feedback_files:
            assert line not in text_of_feedback(f), f"hidden line in feedback {f}: {line}"


# ---- more shared checks (appended: the functions above stay as they are) --------------------

def autograded_max(course_spec) -> float:
    """The points of an assignment's autograded test cells (hand-graded cells left out)."""
    return sum(c.points for c in course_spec.CELLS if c.kind == "test")


def check_all_graded(g: Graded, variants: dict[str, dict]) -> None:
    """Every planted variant went through autograding (none failed to run or timed out)."""
    assert all(g.statuses[s].status == "graded" for s in variants), {s: g.statuses[s].status for s in variants}


def check_feedback_for_all(g: Graded, variants: dict[str, dict]) -> None:
    """Every planted student got a feedback file for the assignment."""
    files = list((g.course / "feedback").glob(f"*/{g.assignment}/*.html"))
    assert len(files) == len(variants), f"{len(files)} feedback files for {len(variants)} students"


def check_feedback_for(g: Graded, students) -> None:
    """Each of ``students`` got a feedback file for the assignment."""
    for student in students:
        assert list((g.course / "feedback" / student / g.assignment).glob("*.html")), f"no feedback for {student}"


def standard_suite(assignment: str, *, max_points: float, variants: dict[str, dict] | None = None, timeout: int = 30) -> type:
    """The tests every assignment passes, as a class for a test module to bind to a ``Test*`` name or subclass.

    One class-scoped ``graded`` fixture grades ``variants`` (default:
    :func:`standard_variants` of the instructor's solution) in one nbgrader call.
    Its tests: the solution gets every autograded point (``max_points``, so the
    total is pinned too) and the blank release none, the standard variants all go
    through grading; each single-mistake variant scores partially and loses exactly
    the cells ``MISTAKES`` names; every cell of a delegating function scores 0 and
    the feedback says why, honest ones keep theirs; no hidden-test line is released
    or shown in feedback, and each standard variant has its feedback. A subclass adds
    the assignment's own tests (they get ``graded`` too) or extends one with ``super()``.

    Shape:
        An assignment name -> a pytest test class (attributes ``A``, ``SPEC``,
        ``SOLUTION``, ``OWNER``, ``VARIANTS``, ``MAX`` for the subclass's tests).
    """
    course_spec = spec(EXERCISES, assignment)
    solution = solution_answers(EXERCISES, assignment)
    owner = test_cells_of(EXERCISES, assignment)
    all_variants = variants if variants is not None else standard_variants(course_spec, solution)
    standard = [v for v in standard_variants(course_spec, solution) if v in all_variants]
    missing = set(standard_variants(course_spec, solution)) - set(all_variants)
    if missing:
        raise ValueError(f"variants must include the standard ones; missing {sorted(missing)}")

    class StandardSuite:
        A = assignment
        SPEC = course_spec
        SOLUTION = solution
        OWNER = owner
        VARIANTS = all_variants
        MAX = max_points

        @pytest.fixture(scope="class")
        @classmethod
        def graded(cls, tmp_path_factory) -> Graded:
            return grade_variants(tmp_path_factory.mktemp(assignment), assignment, all_variants, timeout=timeout)

        def test_solution_full_marks_and_blank_zero(self, graded: Graded) -> None:
            assert autograded_max(course_spec) == max_points
            check_full_marks(graded, "solution")
            assert total(graded.auto_cells("solution")) == (max_points, max_points)
            check_zero(graded, "blank")
            check_all_graded(graded, standard)

        @pytest.mark.parametrize("fn", sorted(course_spec.MISTAKES))
        def test_a_single_mistake_loses_only_that_behaviour(self, graded: Graded, fn: str) -> None:
            check_mistake(graded, fn, course_spec.MISTAKES[fn][1])

        def test_delegating_answers_earn_nothing_and_feedback_says_why(self, graded: Graded) -> None:
            assert course_spec.SHORTCUTS, f"{assignment} plants no delegating answers"
            check_shortcuts(graded, course_spec.SHORTCUTS, owner)

        def test_hidden_tests_stay_hidden(self, graded: Graded) -> None:
            check_no_hidden_leak(graded)
            check_feedback_for(graded, standard)

    StandardSuite.__name__ = StandardSuite.__qualname__ = f"StandardSuite_{assignment}"
    return StandardSuite
