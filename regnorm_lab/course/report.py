"""The instructor's item analysis: which behaviours the class got wrong (``python -m regnorm_lab.course report A``).

From the gradebook, per assignment:

- ``reports/<a>_items.csv``: one row per test cell (grade id) in notebook order:
  the behaviour it checks (its ``# Test:`` line), its points, how many graded
  students failed it (score below the cell's maximum) and that share;
- ``reports/<a>_not_graded.csv``: students whose notebook could not be graded
  (unreadable, missing, kernel died, error; from ``reports/<a>_status.csv``),
  listed apart: they are not counted as failing anything, and not as zeros in
  the histogram;
- ``reports/<a>_report.png``: the score histogram of the graded students and the
  share failing each behaviour, e.g. "40% failed: running_var uses the unbiased variance".

With ``leave_out_blank`` (``report A --leave-out-blank``), submissions in which no
answer cell differs from the released notebook (a student who handed in the
untouched release) are left out of the shares and the histogram too, and listed
apart with status ``blank``: they say nothing about which behaviours are hard.
"""

from __future__ import annotations

import csv
import dataclasses
import os
import pathlib
import textwrap

import nbformat

__all__ = ["ItemRow", "item_table", "item_analysis", "blank_submissions"]

#: Statuses whose scores come from running the tests (see :mod:`.status`). A kernel that died
#: mid-notebook is left out too: its later cells score 0 because of the death, not the answers,
#: and would make those items look harder than they are (the report lists such students apart).
GRADED = ("graded", "timeout")


@dataclasses.dataclass(frozen=True)
class ItemRow:
    """One test cell of an assignment and how the graded students did on it."""

    notebook: str
    grade_id: str
    behaviour: str
    points: float
    students: int
    failed: int

    @property
    def share_failed(self) -> float:
        """Failed / graded students (0 when nobody was graded)."""
        return self.failed / self.students if self.students else 0.0


def _cell_order(root: pathlib.Path, assignment: str, notebook: str) -> list[str]:
    path = root / "source" / assignment / f"{notebook}.ipynb"
    if not path.exists():
        return []
    nb = nbformat.read(str(path), as_version=4)
    return [c.metadata["nbgrader"]["grade_id"] for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id")]


def _statuses(root: pathlib.Path, assignment: str) -> dict[str, object]:
    from .status import read_status

    path = root / "reports" / f"{assignment}_status.csv"
    return {st.student_id: st for st in read_status(path)} if path.exists() else {}


def _answers(path: pathlib.Path) -> dict[str, str]:
    nb = nbformat.read(str(path), as_version=4)
    return {c.metadata["nbgrader"]["grade_id"]: c.source.strip() for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")}


def blank_submissions(course_root: str | os.PathLike[str], assignment: str) -> set[str]:
    """Students whose submitted notebooks have every answer cell as released (nothing attempted).

    A notebook that cannot be read is not blank (its status says what it is).
    """
    root = pathlib.Path(course_root).resolve()
    released = {p.name: _answers(p) for p in (root / "release" / assignment).glob("*.ipynb")}
    blank = set()
    for folder in sorted(root.glob(f"submitted/*/{assignment}")):
        same = []
        for name, answers in released.items():
            path = folder / name
            try:
                same.append(path.exists() and _answers(path) == answers)
            except Exception:  # noqa: BLE001 - unreadable: not blank, the status report covers it
                same.append(False)
        if released and all(same):
            blank.add(folder.parent.name)
    return blank


def item_table(
    course_root: str | os.PathLike[str], assignment: str, *, leave_out_blank: bool = False,
) -> tuple[list[ItemRow], dict[str, float], list[object]]:
    """Item analysis data from the course's gradebook.

    ``leave_out_blank`` leaves untouched-release submissions out (listed in not_graded as ``blank``).

    Returns:
        (rows, totals, not_graded): one :class:`ItemRow` per test cell in notebook
        order; each graded student's total score; the :class:`~.status.StudentStatus`
        of every student whose notebook could not be graded.

    Shape:
        A course folder and assignment name -> (list of rows, {student: score}, list of statuses).
    """
    from nbgrader.api import Gradebook

    from . import pipeline
    from .preprocessors import behaviour_of

    root = pathlib.Path(course_root).resolve()
    cfg = pipeline.load_config(root)
    pipeline.venv_on_path()
    status = _statuses(root, assignment)
    blank = blank_submissions(root, assignment) if leave_out_blank else set()
    rows: list[ItemRow] = []
    totals: dict[str, float] = {}
    with Gradebook(str(cfg.CourseDirectory.db_url), str(cfg.CourseDirectory.course_id)) as gb:
        a = gb.find_assignment(assignment)
        graded = [s for s in a.submissions if (s.student_id not in status or status[s.student_id].status in GRADED)
                  and s.student_id not in blank]
        for s in graded:
            totals[s.student_id] = float(s.score)
        for nb in sorted(a.notebooks, key=lambda n: n.name):
            answers = {c.name for c in nb.solution_cells}
            sources = {c.name: c.source or "" for c in nb.source_cells}
            order = _cell_order(root, assignment, nb.name)
            cells = [c for c in nb.grade_cells if c.name not in answers]  # test cells, not graded answers
            cells.sort(key=lambda c: (order.index(c.name) if c.name in order else len(order), c.name))
            failed = {c.name: 0 for c in cells}
            for s in graded:
                for g in gb.find_submission_notebook(nb.name, assignment, s.student_id).grades:
                    if g.name in failed and float(g.score) < float(g.max_score):
                        failed[g.name] += 1
            for c in cells:
                rows.append(ItemRow(nb.name, c.name, behaviour_of(sources.get(c.name, "")), float(c.max_score), len(graded), failed[c.name]))
    not_graded = [st for sid, st in sorted(status.items()) if st.status not in GRADED]
    # StudentStatus has no "blank" status (it is a grading outcome, not a reason): a plain record instead
    not_graded += [_Apart(sid, "blank", "no answer cell changed from the release") for sid in sorted(blank)]
    return rows, totals, not_graded


@dataclasses.dataclass(frozen=True)
class _Apart:
    """A student listed apart from the statistics without a grading failure (a blank submission)."""

    student_id: str
    status: str
    detail: str


def item_analysis(course_root: str | os.PathLike[str], assignment: str, *, leave_out_blank: bool = False) -> dict[str, pathlib.Path]:
    """Write the items CSV, the not-graded CSV and the figure in ``reports/``; return their paths.

    ``leave_out_blank``: see :func:`item_table`.

    Shape:
        A course folder and assignment name -> {"items", "not_graded", "figure"}: paths.
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    root = pathlib.Path(course_root).resolve()
    rows, totals, not_graded = item_table(root, assignment, leave_out_blank=leave_out_blank)
    out = root / "reports"
    out.mkdir(parents=True, exist_ok=True)
    items_csv = out / f"{assignment}_items.csv"
    with open(items_csv, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["notebook", "grade_id", "behaviour", "points", "students", "failed", "share_failed"])
        for r in rows:
            w.writerow([r.notebook, r.grade_id, r.behaviour, f"{r.points:g}", r.students, r.failed, f"{r.share_failed:.4f}"])
    apart_csv = out / f"{assignment}_not_graded.csv"
    with open(apart_csv, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["student_id", "status", "detail"])
        for st in not_graded:
            w.writerow([st.student_id, st.status, st.detail])

    max_total = sum(r.points for r in rows) or 1.0
    fig = Figure(figsize=(12, 1.6 + 0.32 * max(len(rows), 6)), layout="constrained")
    ax_hist, ax_items = fig.subplots(1, 2, width_ratios=[1, 2])
    scores = list(totals.values())
    ax_hist.hist(scores, bins=min(25, max(5, int(max_total))), range=(0, max_total), color="#4c72b0", edgecolor="white")
    ax_hist.set_xlabel(f"score (out of {max_total:g})")
    ax_hist.set_ylabel("students")
    ax_hist.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax_hist.set_title(f"{len(scores)} graded submissions")
    labels = [textwrap.shorten(f"{r.grade_id}: {r.behaviour}", 70) for r in rows]
    shares = [100 * r.share_failed for r in rows]
    y = list(range(len(rows)))
    ax_items.barh(y, shares, color=["#c44e52" if s >= 40 else "#dd8452" if s > 0 else "#55a868" for s in shares])
    ax_items.set_yticks(y, labels, fontsize=8)
    ax_items.invert_yaxis()
    ax_items.set_xlim(0, 100)
    ax_items.set_xlabel("share of graded students who failed the test (%)")
    for yi, s, r in zip(y, shares, rows):
        ax_items.text(min(s + 1, 88), yi, f"{s:.0f}% ({r.failed}/{r.students})", va="center", fontsize=8)
    apart = ", ".join(f"{st.student_id} ({st.status})" for st in not_graded)
    fig.suptitle(f"{assignment}: item analysis" + (f"; not graded, listed apart: {textwrap.shorten(apart, 110)}" if apart else ""))
    figure = out / f"{assignment}_report.png"
    fig.savefig(figure, dpi=110)
    return {"items": items_csv, "not_graded": apart_csv, "figure": figure}
