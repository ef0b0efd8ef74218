"""Grading by hand, overrides and regrades, through nbgrader's Gradebook API.

- ``manual ASSIGNMENT`` lists the cells that wait for a person (ps06's written
  answer, and any autograded cell nbgrader flagged for review), per student;
- ``manual ASSIGNMENT STUDENT CELL --score S [--comment TEXT]`` records a hand-given
  score (and comment) for one cell: nbgrader's ``manual_score``, which wins over the
  autograder's score wherever nbgrader totals grades (gradebook, feedback, export);
- ``override`` is the same for an autograded test cell, with a required reason
  (``--comment``); ``override ... --clear`` gives the autograder's score back;
- ``regrade ASSIGNMENT STUDENT...`` autogrades those students again (after a fixed
  test, a late resubmission, an appeal) and regenerates their feedback. nbgrader
  keeps the hand-given scores across a regrade and flags them for review.

A hand-given score on a late submission recomputes its late penalty with the
course's plugin, as autograding does.

nbgrader's own formgrader (``jupyter lab`` -> Nbgrader -> Manual Grading) writes the
same fields, so both ways can be mixed.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import pathlib
import shutil

__all__ = ["CellGrade", "pending", "set_score", "clear_override", "regrade", "add_commands"]


@dataclasses.dataclass(frozen=True)
class CellGrade:
    """One student's grade on one cell."""

    student_id: str
    notebook: str
    cell: str
    auto_score: float | None
    manual_score: float | None
    max_score: float
    needs_manual_grade: bool
    comment: str


def _gradebook(course_root: str | os.PathLike[str]):
    from nbgrader.api import Gradebook

    from . import pipeline

    cfg = pipeline.load_config(pathlib.Path(course_root).resolve())
    pipeline.venv_on_path()
    return Gradebook(str(cfg.CourseDirectory.db_url), str(cfg.CourseDirectory.course_id))


def _comment_of(gb, g):
    """The comment record that carries a cell's hand-written comment, and the prefix marking it.

    nbgrader keeps comments only for answer (and task) cells. A test cell's comment goes
    to its function's answer cell (``test_l2_penalty_x`` -> ``l2_penalty``), marked
    ``[test_l2_penalty_x]``, so the student reads it next to their code in the feedback.
    """
    from nbgrader.api import MissingEntry

    nb = g.notebook
    try:
        return gb.find_comment(g.name, nb.name, nb.assignment.name, nb.student.id), ""
    except MissingEntry:
        pass
    owners = sorted((c for c in nb.comments if g.name.startswith(f"test_{c.name}_")), key=lambda c: -len(c.name))
    return (owners[0], f"[{g.name}] ") if owners else (None, "")


def _cell_grade(gb, g) -> CellGrade:
    nb = g.notebook
    comment, prefix = _comment_of(gb, g)
    text = (comment.manual_comment or "") if comment is not None else ""
    if prefix:
        text = text if text.startswith(prefix) else ""
    return CellGrade(nb.student.id, nb.name, g.name, g.auto_score, g.manual_score, float(g.max_score),
                     bool(g.needs_manual_grade), text)


def pending(course_root: str | os.PathLike[str], assignment: str) -> list[CellGrade]:
    """Every cell of ``assignment`` that needs a person: nbgrader's ``needs_manual_grade``, by student then cell.

    Raises:
        ValueError: the assignment is not in the gradebook.
    """
    from nbgrader.api import MissingEntry

    with _gradebook(course_root) as gb:
        try:
            a = gb.find_assignment(assignment)
        except MissingEntry:
            raise ValueError(f"assignment {assignment!r} is not in the gradebook") from None
        out = [_cell_grade(gb, g) for sub in a.submissions for nb in sub.notebooks for g in nb.grades if g.needs_manual_grade]
    return sorted(out, key=lambda c: (c.student_id, c.notebook, c.cell))


def _find(gb, assignment: str, student: str, cell: str, notebook: str | None):
    from nbgrader.api import MissingEntry

    try:
        sub = gb.find_submission(assignment, student)
    except MissingEntry:
        raise ValueError(f"student {student!r} has no submission of {assignment!r} in the gradebook") from None
    notebooks = {nb.name: nb for nb in sub.notebooks}
    name = notebook or (assignment if assignment in notebooks else next(iter(notebooks)))
    if name not in notebooks:
        raise ValueError(f"notebook {name!r} is not part of {assignment!r} (notebooks: {', '.join(notebooks)})")
    cells = {g.name: g for g in notebooks[name].grades}
    if cell not in cells:
        raise ValueError(f"cell {cell!r} is no graded cell of {name} (cells: {', '.join(sorted(cells))})")
    return cells[cell]


def _repenalize(course_root: str | os.PathLike[str], gb, nb) -> None:
    """Recompute a late notebook's penalty from its new score, as autograding would (nbgrader
    computes it only while autograding, so a hand-given score would keep a stale penalty)."""
    from nbgrader.preprocessors import AssignLatePenalties

    from . import pipeline

    gb.db.commit()  # the notebook's score is a SQL sum: read it after the new grade is stored
    seconds = nb.assignment.total_seconds_late
    if not seconds:
        return
    assigner = AssignLatePenalties(config=pipeline.load_config(pathlib.Path(course_root).resolve()))
    assigner.init_plugin()
    penalty = assigner.plugin_inst.late_submission_penalty(nb.student.id, nb.score, seconds)
    # clipped to [0, score] as nbgrader's AssignLatePenalties does
    nb.late_submission_penalty = None if penalty is None else min(max(float(penalty), 0.0), float(nb.score))
    gb.db.commit()


def set_score(
    course_root: str | os.PathLike[str], assignment: str, student: str, cell: str, score: float,
    comment: str | None = None, *, notebook: str | None = None,
) -> tuple[CellGrade, CellGrade]:
    """Give ``student`` ``score`` points on ``cell`` by hand (and a comment); return (before, after).

    Raises:
        ValueError: unknown student/cell/notebook, or ``score`` outside ``[0, max]``.
    """
    with _gradebook(course_root) as gb:
        grade = _find(gb, assignment, student, cell, notebook)
        if not 0 <= score <= float(grade.max_score):
            raise ValueError(f"score must be between 0 and {float(grade.max_score):g} (the cell's points), got {score:g}")
        before = _cell_grade(gb, grade)
        grade.manual_score = float(score)
        grade.needs_manual_grade = False
        if comment is not None:
            com, prefix = _comment_of(gb, grade)
            if com is None:
                raise ValueError(f"comment: cell {cell!r} has no answer cell to attach a comment to; leave --comment out")
            com.manual_comment = prefix + comment
        _repenalize(course_root, gb, grade.notebook)
        return before, _cell_grade(gb, grade)


def clear_override(course_root: str | os.PathLike[str], assignment: str, student: str, cell: str, *, notebook: str | None = None) -> CellGrade:
    """Remove a hand-given score so the autograder's counts again; return the cell's grade after.

    Raises:
        ValueError: unknown student/cell, or a cell without an autograder score (a written answer).
    """
    with _gradebook(course_root) as gb:
        grade = _find(gb, assignment, student, cell, notebook)
        if grade.auto_score is None:
            raise ValueError(f"cell {cell!r} has no autograder score to fall back on: set a score with `manual` instead")
        grade.manual_score = None
        grade.needs_manual_grade = False
        com, prefix = _comment_of(gb, grade)
        if com is not None and (com.manual_comment or "").startswith(prefix):
            com.manual_comment = None
        _repenalize(course_root, gb, grade.notebook)
        return _cell_grade(gb, grade)


def regrade(course_root: str | os.PathLike[str], assignment: str, students: list[str], *, timeout: int | None = None) -> list:
    """Autograde ``students`` again (only them) and regenerate their feedback; return their statuses.

    Their old autograded notebooks are removed so that the course's normal
    ``autograde`` (which leaves graded students alone) grades exactly them.

    Raises:
        ValueError: a student without a submission folder.
    """
    from . import pipeline

    root = pathlib.Path(course_root).resolve()
    for s in students:
        if not (root / "submitted" / s / assignment).is_dir():
            raise ValueError(f"students: {s!r} has no submission of {assignment!r} in {root / 'submitted'}")
    for s in students:
        shutil.rmtree(root / "autograded" / s / assignment, ignore_errors=True)
    statuses = {st.student_id: st for st in pipeline.autograde(root, assignment, timeout=timeout)}
    for s in students:
        # a kernel that died mid-notebook still leaves graded cells, and the student is told which cell it died in
        died_graded = statuses[s].status == "kernel_died" and any((root / "autograded" / s / assignment).glob("*.ipynb"))
        if statuses[s].status in ("graded", "timeout") or died_graded:
            pipeline.feedback(root, assignment, s)
    return [statuses[s] for s in students]


def _show(c: CellGrade) -> str:
    auto = "-" if c.auto_score is None else f"{c.auto_score:g}"
    manual = "-" if c.manual_score is None else f"{c.manual_score:g}"
    return f"{c.student_id:12s} {c.notebook}/{c.cell:28s} auto {auto:>5s}  by hand {manual:>5s}  of {c.max_score:g}  {c.comment}"


def _cmd_manual(args: argparse.Namespace) -> int:
    if args.student is None:
        rows = pending(args.course, args.assignment)
        for c in rows:
            print(_show(c))
        print(f"{args.assignment}: {len(rows)} cell(s) wait for a grade by hand")
        return 0
    if args.cell is None or args.score is None:
        raise ValueError("manual: give STUDENT CELL --score S (or only ASSIGNMENT to list what waits)")
    before, after = set_score(args.course, args.assignment, args.student, args.cell, args.score, args.comment, notebook=args.notebook)
    print(f"before: {_show(before)}\nafter:  {_show(after)}\nrun `feedback {args.assignment}` and `export` to pass it on")
    return 0


def _cmd_override(args: argparse.Namespace) -> int:
    if args.clear:
        print(f"after:  {_show(clear_override(args.course, args.assignment, args.student, args.cell, notebook=args.notebook))}")
        return 0
    if args.score is None or not args.comment:
        raise ValueError("override: give --score S and --comment REASON (the student sees the reason), or --clear")
    before, after = set_score(args.course, args.assignment, args.student, args.cell, args.score, args.comment, notebook=args.notebook)
    print(f"before: {_show(before)}\nafter:  {_show(after)}")
    return 0


def _cmd_regrade(args: argparse.Namespace) -> int:
    for st in regrade(args.course, args.assignment, args.students, timeout=args.timeout):
        score = "-" if st.score is None else f"{st.score:g}/{st.max_score:g}" if st.max_score is not None else f"{st.score:g}"
        print(f"{st.student_id:20s} {st.status:12s} {score:>10s}  {st.detail}")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add ``manual``, ``override`` and ``regrade`` to the course CLI (see :func:`.cli.register`)."""
    p = sub.add_parser("manual", help="grade by hand: list what waits, or set a cell's score and comment",
                       description="Without STUDENT: list the cells waiting for a grade by hand (e.g. ps06's written_answer). "
                       "With STUDENT CELL --score S [--comment TEXT]: record the score in the gradebook.")
    p.add_argument("assignment")
    p.add_argument("student", nargs="?")
    p.add_argument("cell", nargs="?", help="the cell's grade id, e.g. written_answer")
    p.add_argument("--score", type=float, default=None)
    p.add_argument("--comment", default=None, help="shown to the student in the feedback")
    p.add_argument("--notebook", default=None, help="for assignments with several notebooks")
    p.set_defaults(func=_cmd_manual)

    p = sub.add_parser("override", help="override the autograder's score of one cell (with a reason), or --clear it",
                       description="Set a hand-given score on an autograded test cell, e.g. after an appeal; --clear restores the autograder's.")
    p.add_argument("assignment")
    p.add_argument("student")
    p.add_argument("cell")
    p.add_argument("--score", type=float, default=None)
    p.add_argument("--comment", default=None, help="why (the student sees it in the feedback)")
    p.add_argument("--clear", action="store_true", help="remove the override")
    p.add_argument("--notebook", default=None)
    p.set_defaults(func=_cmd_override)

    p = sub.add_parser("regrade", help="autograde some students again and regenerate their feedback (hand-given scores are kept)")
    p.add_argument("assignment")
    p.add_argument("students", nargs="+")
    p.add_argument("--timeout", type=int, default=None, help="seconds per cell (default: the course config)")
    p.set_defaults(func=_cmd_regrade)
