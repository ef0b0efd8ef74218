"""Item analysis can leave blank submissions (the untouched release) out: which submissions are blank (fast, no grading)."""

from __future__ import annotations

import shutil

import nbformat

from regnorm_lab.course import cli
from regnorm_lab.course.report import blank_submissions

from . import harness as H

A = "ps01_penalties"


def test_blank_means_no_answer_cell_changed_from_the_release(tmp_path) -> None:
    course = H.copy_course(tmp_path, [A])
    (course / "release" / A).mkdir(parents=True)
    released = course / "release" / A / f"{A}.ipynb"
    shutil.copy(course / "source" / A / f"{A}.ipynb", released)  # stands in for the release: only answer cells are compared
    nb = nbformat.read(str(released), as_version=4)
    answers = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")]
    assert answers

    def submit(student: str, notebook=None, text: str | None = None) -> None:
        folder = course / "submitted" / student / A
        folder.mkdir(parents=True)
        if text is not None:
            (folder / f"{A}.ipynb").write_text(text)
        else:
            nbformat.write(notebook, str(folder / f"{A}.ipynb"))

    submit("untouched", nb)
    rerun = nbformat.read(str(released), as_version=4)
    rerun.cells[0].source += "\n(ran all cells)"  # a changed non-answer cell is still blank
    submit("ran_it", rerun)
    tried = nbformat.read(str(released), as_version=4)
    next(c for c in tried.cells if c.metadata.get("nbgrader", {}).get("solution")).source += "\n# my attempt"
    submit("tried", tried)
    submit("broken", text="{ not json")
    assert blank_submissions(course, A) == {"untouched", "ran_it"}


def test_report_takes_leave_out_blank() -> None:
    args = cli.build_parser().parse_args(["report", A, "--leave-out-blank"])
    assert args.leave_out_blank is True and args.func.__name__ == "cmd_report"
