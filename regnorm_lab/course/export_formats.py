"""Grades out in the format the LMS imports: Canvas's gradebook CSV, Moodle's grading worksheet, nbgrader's long CSV.

The LMS formats are *filled templates*: the instructor downloads the gradebook
(Canvas: Grades -> Export) or the grading worksheet (Moodle: View all submissions
-> Download grading worksheet); its rows are the roster. Every column and row is
written back unchanged except the assignment's grade (and Moodle's feedback
comment), so the LMS's "Import" / "Upload grading worksheet" takes the file as is.

Ids are matched through the roster (Canvas ``ID``; Moodle ``Identifier``,
"Participant 2001" -> ``2001``), the student ids ``collect`` gave the submissions.
A graded submission whose student is not in the roster is reported in
:attr:`ExportResult.not_in_roster`, never dropped silently. When the template states a
maximum (Canvas's ``Points Possible`` row, Moodle's ``Maximum Grade``) that differs
from the assignment's points, scores are scaled to it.
"""

from __future__ import annotations

import csv
import dataclasses
import os
import pathlib

from .lms.worksheet import Template, canvas_columns, read_canvas, read_moodle, read_roster, write_template

__all__ = ["Grade", "ExportResult", "grades", "export_canvas", "export_moodle", "export_long", "FORMATS"]

FORMATS = ("csv", "canvas", "moodle")
MISSING = ("blank", "zero")
LONG_FIELDS = ("assignment", "duedate", "timestamp", "student_id", "last_name", "first_name", "email", "raw_score",
               "late_submission_penalty", "score", "max_score", "status", "detail", "late_policy")


@dataclasses.dataclass(frozen=True)
class Grade:
    """One student's result on one assignment, from the gradebook and the status report."""

    student_id: str
    score: float
    max_score: float
    raw_score: float
    late_penalty: float
    status: str
    detail: str

    def summary(self, assignment: str, policy: str) -> str:
        """One line for the LMS's feedback comment, e.g. "ps01_penalties: 22.5/25 (late: -2.5, ...)"."""
        text = f"{assignment}: {_fmt(self.score)}/{_fmt(self.max_score)} autograded"
        if self.late_penalty:
            text += f" (late penalty -{_fmt(self.late_penalty)} from {_fmt(self.raw_score)}: {policy})"
        if self.status not in ("graded",):
            text += f"; {self.status}" + (f": {self.detail}" if self.detail else "")
        return text + ". Details in your feedback file."


@dataclasses.dataclass
class ExportResult:
    """What an export wrote and which students it could not place."""

    path: pathlib.Path
    filled: list[str] = dataclasses.field(default_factory=list)
    without_submission: list[str] = dataclasses.field(default_factory=list)
    not_in_roster: list[str] = dataclasses.field(default_factory=list)
    locked: list[str] = dataclasses.field(default_factory=list)
    scale: float | None = None


def _fmt(x: float) -> str:
    return f"{round(float(x), 2):g}"


def grades(course_root: str | os.PathLike[str], assignment: str) -> dict[str, Grade]:
    """Every submission of ``assignment`` in the gradebook, with its status (``graded`` if no report says otherwise).

    Raises:
        ValueError: the assignment is not in the gradebook (never released or graded).
    """
    from nbgrader.api import Gradebook, MissingEntry

    from . import pipeline
    from .status import read_status

    root = pathlib.Path(course_root).resolve()
    cfg = pipeline.load_config(root)
    pipeline.venv_on_path()
    report = root / "reports" / f"{assignment}_status.csv"
    status = {st.student_id: st for st in read_status(report)} if report.exists() else {}
    out = {}
    with Gradebook(str(cfg.CourseDirectory.db_url), str(cfg.CourseDirectory.course_id)) as gb:
        try:
            a = gb.find_assignment(assignment)
        except MissingEntry:
            raise ValueError(f"assignment {assignment!r} is not in the gradebook: release and grade it first") from None
        for sub in a.submissions:
            st = status.get(sub.student_id)
            # nbgrader's submission score is the raw score; the penalty is taken off on export (as its own CSV export does)
            penalty = float(sub.late_submission_penalty or 0.0)
            raw = float(sub.score)
            out[sub.student_id] = Grade(sub.student_id, max(0.0, raw - penalty), float(sub.max_score), raw,
                                        penalty, st.status if st else "graded", st.detail if st else "")
    return out


def _scale(template_max: str | None, max_score: float) -> float | None:
    try:
        m = float(str(template_max).strip())
    except (TypeError, ValueError):
        return None
    return m / max_score if m > 0 and max_score > 0 and abs(m - max_score) > 1e-9 else None


def _check_missing(missing: str) -> None:
    if missing not in MISSING:
        raise ValueError(f"missing must be one of {', '.join(MISSING)}, got {missing!r}")


def export_canvas(
    course_root: str | os.PathLike[str], assignment: str, roster: str | os.PathLike[str], to: str | os.PathLike[str],
    *, column: str | None = None, missing: str = "blank",
) -> ExportResult:
    """Fill Canvas's gradebook CSV: the assignment's column gets each roster student's score.

    Args:
        roster: The gradebook CSV Canvas exported (``Student``, ``ID``, ``SIS User ID``, ...).
        column: The column to fill, by full header (``"PS 1 (4471)"``) or title (``"PS 1"``);
            default: the column titled like the assignment.
        missing: ``blank`` (leave empty) or ``zero`` for roster students without a submission.

    Raises:
        ValueError: no such column (the message lists the assignment columns), a bad ``missing``.
    """
    _check_missing(missing)
    t = read_canvas(roster)
    cols = canvas_columns(t)
    wanted = column or assignment
    header = wanted if wanted in t.columns else next((h for h, title in cols.items() if title == wanted), None)
    if header is None:
        raise ValueError(f"column {wanted!r} is not in {roster}; its assignment columns: {', '.join(cols) or 'none'} "
                         "(create the assignment in Canvas and export the gradebook again, or pass --column)")
    g = grades(course_root, assignment)
    points = next((r.get(header) for r in t.meta_rows if "Points Possible" in (r.get("Student") or "")), None)
    return _fill(t, g, to, missing, lambda row: header, lambda row: points, None)


def export_moodle(
    course_root: str | os.PathLike[str], assignment: str, roster: str | os.PathLike[str], to: str | os.PathLike[str],
    *, missing: str = "blank",
) -> ExportResult:
    """Fill Moodle's grading worksheet: ``Grade`` and a one-line ``Feedback comments`` per student.

    Rows whose "Grade can be changed" is ``No`` are left alone and reported in ``locked``.

    Raises:
        ValueError: the file is not a grading worksheet, a bad ``missing``.
    """
    from . import late, pipeline

    _check_missing(missing)
    t = read_moodle(roster)
    policy = late.policy_text(pipeline.load_config(pathlib.Path(course_root).resolve()))
    g = grades(course_root, assignment)

    def comment(row: dict[str, str], grade: Grade | None) -> None:
        if "Feedback comments" in t.columns:
            row["Feedback comments"] = grade.summary(assignment, policy) if grade else f"{assignment}: no submission."

    return _fill(t, g, to, missing, lambda row: "Grade", lambda row: row.get("Maximum Grade"), comment)


def _fill(t: Template, g: dict[str, Grade], to, missing: str, column_of, max_of, comment) -> ExportResult:
    result = ExportResult(pathlib.Path(to))
    roster_ids = set(t.ids())
    for row, sid in zip(t.rows, t.ids()):
        if t.kind == "moodle" and (row.get("Grade can be changed") or "Yes").strip().lower() == "no":
            result.locked.append(sid)
            continue
        grade = g.get(sid)
        col = column_of(row)
        if grade is None:
            row[col] = "0" if missing == "zero" else ""
            result.without_submission.append(sid)
        else:
            scale = _scale(max_of(row), grade.max_score)
            result.scale = scale or result.scale
            value = grade.score * (scale or 1.0)
            row[col] = f"{value:.2f}" if t.kind == "moodle" else _fmt(value)
            result.filled.append(sid)
        if comment is not None:
            comment(row, grade)
    result.not_in_roster = sorted(set(g) - roster_ids)
    write_template(t, to)
    return result


def export_long(course_root: str | os.PathLike[str], to: str | os.PathLike[str], assignments: list[str] | None = None,
                roster: str | os.PathLike[str] | None = None) -> ExportResult:
    """nbgrader's long CSV (one row per student x assignment) plus ``status``, ``detail`` and ``late_policy``.

    Unlike nbgrader's own export it quotes fields (names with commas survive), orders
    rows by assignment then student id (the same file on every run), and can be
    limited to some assignments. Students without a submission get score 0 and
    status ``not_submitted``.

    ``collect`` from an LMS download knows only ids, so the gradebook has no names:
    with ``roster`` (the Canvas gradebook CSV or Moodle grading worksheet) the name and
    e-mail columns are filled from it for students the gradebook has no name (or no e-mail) for.

    Raises:
        ValueError: an assignment that is not in the gradebook.
    """
    from nbgrader.api import Gradebook, MissingEntry

    from . import late, pipeline

    root = pathlib.Path(course_root).resolve()
    cfg = pipeline.load_config(root)
    policy = late.policy_text(cfg)
    target = pathlib.Path(to)
    people = read_roster(roster).people() if roster is not None else {}
    rows = []
    with Gradebook(str(cfg.CourseDirectory.db_url), str(cfg.CourseDirectory.course_id)) as gb:
        names = assignments or sorted(a.name for a in gb.assignments)
        for name in names:
            try:
                a = gb.find_assignment(name)
            except MissingEntry:
                raise ValueError(f"assignment {name!r} is not in the gradebook: release and grade it first") from None
            g = grades(root, name)
            for student in sorted(gb.students, key=lambda s: s.id):
                try:
                    sub = gb.find_submission(name, student.id)
                except MissingEntry:
                    sub = None
                gr = g.get(student.id)
                # a name is taken whole from one source: the gradebook's if it has one, else the roster's
                named = student.last_name or student.first_name
                known = people.get(student.id) if not named else None
                rows.append({
                    "assignment": name, "duedate": a.duedate.isoformat() if a.duedate else "",
                    "timestamp": sub.timestamp.isoformat() if sub is not None and sub.timestamp else "",
                    "student_id": student.id,
                    "last_name": student.last_name or (known.last_name if known else ""),
                    "first_name": student.first_name or (known.first_name if known else ""),
                    "email": student.email or (people[student.id].email if student.id in people else ""),
                    "raw_score": _fmt(gr.raw_score) if gr else "0", "late_submission_penalty": _fmt(gr.late_penalty) if gr else "0",
                    "score": _fmt(gr.score) if gr else "0", "max_score": _fmt(a.max_score),
                    "status": gr.status if gr else "not_submitted", "detail": gr.detail if gr else "", "late_policy": policy,
                })
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=LONG_FIELDS, quoting=csv.QUOTE_MINIMAL)
        w.writeheader()
        w.writerows(rows)
    return ExportResult(target, filled=sorted({r["student_id"] for r in rows if r["status"] != "not_submitted"}))
