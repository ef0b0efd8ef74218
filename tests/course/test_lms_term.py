"""An instructor's term end to end, through the command line: Canvas and Moodle downloads in, grades and feedback out.

Each platform's zip is built as the platform names its files, with a resubmission,
a late file and a stray non-notebook file. The real commands run in a subprocess,
in the order of ``book/for_instructors.md``: collect -> grade -> export -> feedback --zip
(Canvas also: a second, newer download and a regrade of the changed student only).
Expected scores come from the assignment's authoring spec (points of the cells a
planted mistake fails) and the late policy's arithmetic, never from a grading run.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import subprocess
import sys
import zipfile

import nbformat
import pytest

from . import harness as H

pytestmark = pytest.mark.slow
A = "ps01_penalties"
SPEC = H.spec(H.EXERCISES, A)
SOLUTION = H.solution_answers(H.EXERCISES, A)
MISTAKE = "l2_penalty"
POINTS = {c.grade_id: c.points for c in SPEC.CELLS if c.kind == "test"}
FULL = sum(POINTS.values())
WITH_MISTAKE = FULL - sum(POINTS[c] for c in SPEC.MISTAKES[MISTAKE][1])
DUE = dt.datetime(2026, 10, 2, 22, 0)  # UTC, set in the course copy's nbgrader_config.py
PER_DAY = 0.10  # the course's policy: 10 % of the score per started day late (after 15 min of grace)


def _course(tmp_path):
    course = H.copy_course(tmp_path, [A])
    with open(course / "nbgrader_config.py", "a") as f:
        f.write(f'\nc.DueDates.dates = {{"{A}": "{DUE:%Y-%m-%d %H:%M}"}}\n')
    _run(course, "release", A)
    return course


def _run(course, *argv, ok=(0,)) -> str:
    env = {**os.environ, "REGNORM_CELL_TIMEOUT": "20"}
    proc = subprocess.run([sys.executable, "-m", "regnorm_lab.course", *argv, "--course", str(course)],
                          capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode in ok, f"{argv}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout + proc.stderr


def _notebook(course, answers: dict[str, str]) -> str:
    nb = nbformat.read(str(course / "release" / A / f"{A}.ipynb"), as_version=4)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in answers:
            cell.source = answers[gid]
    return nbformat.writes(nb)


def _zip(path, files: dict[str, tuple[str, dt.datetime]]) -> None:
    with zipfile.ZipFile(path, "w") as z:
        for name, (text, when) in files.items():
            z.writestr(zipfile.ZipInfo(name, when.timetuple()[:6]), text)


def _csv(path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


def test_a_canvas_term(tmp_path) -> None:
    course = _course(tmp_path)
    solution, blank, mistake = (_notebook(course, a) for a in (SOLUTION, {}, {**SOLUTION, MISTAKE: SPEC.MISTAKES[MISTAKE][0]}))
    before = DUE - dt.timedelta(hours=3)
    download = tmp_path / "submissions.zip"
    _zip(download, {
        f"smithjohn_1001_50001_{A}.ipynb": (blank, before),                          # first upload...
        f"smithjohn_1001_50002_{A}-1.ipynb": (solution, before + dt.timedelta(hours=1)),  # ...and the resubmission wins
        f"leegina_LATE_1002_50003_{A}.ipynb": (solution, DUE + dt.timedelta(hours=5)),   # late: one started day
        f"moehank_1008_50004_{A}.ipynb": (mistake, before),
        f"ghostcasper_1999_50006_{A}.ipynb": (solution, before),                      # dropped the course: not in the roster
        "smithjohn_1001_50005_notes.txt": ("my notes", before),                      # stray file
    })
    out = _run(course, "collect", str(download), A, ok=(1,))
    assert "smithjohn_1001_50005_notes.txt: not a notebook (.txt)" in out and "--accept-skips" in out
    assert (course / "downloaded" / A / "archive" / "1001").is_dir()  # the first upload is kept
    out = _run(course, "collect", str(download), A, "--accept-skips")
    assert "new 0, updated 0, unchanged 4" in out  # collecting the same download again changes nothing
    assert sorted(p.name for p in (course / "submitted").iterdir()) == ["1001", "1002", "1008", "1999"]

    out = _run(course, "grade", A, "--workers", "2")
    assert f"{A}: 4 graded" in out
    # the status report says who was late, by how much and what the policy takes off (the score stays raw)
    status = {r["student_id"]: r for r in _csv(course / "reports" / f"{A}_status.csv")}
    assert status["1002"]["detail"].startswith("late 5 h 0 min: -") and "10% of the score per started day" in status["1002"]["detail"]
    assert float(status["1002"]["detail"].split(": -")[1].split()[0]) == pytest.approx(FULL * PER_DAY)
    assert float(status["1002"]["score"]) == FULL
    assert "late" not in status["1001"]["detail"]

    roster = tmp_path / "canvas_gradebook.csv"
    with open(roster, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section", f"{A} (7001)", "ps02_dropout (7002)"])
        w.writerow(["    Points Possible", "", "", "", "", f"{FULL:g}", "10"])
        for name, uid in (("Smith, John", "1001"), ("Lee, Gina", "1002"), ("Moe, Hank", "1008"), ("Doe, Jane", "1010")):
            w.writerow([name, uid, f"S{uid}", name.split(",")[0].lower(), "Section 1", "", "8"])
    filled = tmp_path / "canvas_import.csv"
    out = _run(course, "export", "--format", "canvas", "--assignment", A, "--roster", str(roster), "--to", str(filled), ok=(1,))
    assert "1999" in out and "roster" in out
    _run(course, "export", "--format", "canvas", "--assignment", A, "--roster", str(roster), "--to", str(filled), "--accept-unmatched")
    rows = _csv(filled)
    assert list(rows[0]) == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", f"{A} (7001)", "ps02_dropout (7002)"]
    scores = {r["ID"]: r[f"{A} (7001)"] for r in rows[1:]}
    assert {k: float(v) if v else None for k, v in scores.items()} == {
        "1001": FULL, "1002": pytest.approx(FULL * (1 - PER_DAY)), "1008": WITH_MISTAKE, "1010": None}
    assert all(r["ps02_dropout (7002)"] == "8" for r in rows[1:])  # other assignments untouched

    feedback = tmp_path / "canvas_feedback.zip"
    _run(course, "feedback", A, "--zip", str(feedback))
    with zipfile.ZipFile(feedback) as z:
        names = sorted(z.namelist())
    assert names == sorted([f"smithjohn_1001_50002_{A}-1.html", f"leegina_LATE_1002_50003_{A}.html",
                            f"moehank_1008_50004_{A}.html", f"ghostcasper_1999_50006_{A}.html"])

    # a week later: Hank resubmits; the new download also holds everyone's old files
    newer = tmp_path / "submissions2.zip"
    _zip(newer, {
        f"smithjohn_1001_50002_{A}-1.ipynb": (solution, before + dt.timedelta(hours=1)),
        f"leegina_LATE_1002_50003_{A}.ipynb": (solution, DUE + dt.timedelta(hours=5)),
        f"moehank_1008_50004_{A}.ipynb": (mistake, before),
        f"moehank_1008_50007_{A}-1.ipynb": (solution, DUE - dt.timedelta(hours=1)),
    })
    out = _run(course, "collect", str(newer), A)
    assert "new 0, updated 1, unchanged 2" in out and "updated (regrade these): 1008" in out
    out = _run(course, "grade", A, "--workers", "1")
    assert "graded 1, unchanged 3" in out  # only the changed student ran
    _run(course, "export", "--format", "canvas", "--assignment", A, "--roster", str(roster), "--to", str(filled), "--accept-unmatched")
    assert float({r["ID"]: r[f"{A} (7001)"] for r in _csv(filled)[1:]}["1008"]) == FULL

    # an appeal: one test cell of Gina's overridden by hand, then given back to the autograder
    cell = next(iter(POINTS))
    _run(course, "override", A, "1002", cell, "--score", "0", "--comment", "copied from a classmate")
    _run(course, "export", "--assignment", A, "--to", str(tmp_path / "long.csv"))
    long = {r["student_id"]: r for r in _csv(tmp_path / "long.csv")}
    assert float(long["1002"]["raw_score"]) == FULL - POINTS[cell]
    assert float(long["1002"]["score"]) == pytest.approx((FULL - POINTS[cell]) * (1 - PER_DAY))
    assert long["1002"]["timestamp"].startswith("2026-10-03T03:00") and long["1002"]["late_policy"].startswith("10% of the score")
    _run(course, "override", A, "1002", cell, "--clear")
    out = _run(course, "regrade", A, "1002")
    assert "1002" in out and "graded" in out
    _run(course, "export", "--assignment", A, "--to", str(tmp_path / "long.csv"))
    assert float({r["student_id"]: r for r in _csv(tmp_path / "long.csv")}["1002"]["raw_score"]) == FULL


def test_a_moodle_term(tmp_path) -> None:
    course = _course(tmp_path)
    solution, mistake = (_notebook(course, a) for a in (SOLUTION, {**SOLUTION, MISTAKE: SPEC.MISTAKES[MISTAKE][0]}))
    zip_time = dt.datetime(2026, 10, 5, 9, 0)  # Moodle's zip times are download times: the worksheet has the real ones
    download = tmp_path / "moodle.zip"
    _zip(download, {
        f"Gina Lee_2001_assignsubmission_file_/{A}.ipynb": (solution, zip_time),
        f"Hank Moe_2002_assignsubmission_file_/{A}.ipynb": (solution, zip_time),
        f"Ann Bo_2003_assignsubmission_file_/{A}.ipynb": (mistake, zip_time),
        "Ann Bo_2003_assignsubmission_file_/scratch.py": ("x = 1", zip_time),
        "Ann Bo_2003_assignsubmission_onlinetext_/onlinetext.html": ("<p>see file</p>", zip_time),
    })
    header = ["Identifier", "Full name", "Email address", "Status", "Grade", "Maximum Grade", "Grade can be changed",
              "Last modified (submission)", "Last modified (grade)", "Feedback comments"]
    worksheet = tmp_path / "grading_worksheet.csv"
    with open(worksheet, "w", newline="", encoding="utf-8-sig") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerow(["Participant 2001", "Gina Lee", "gina@uni.example", "Submitted for grading", "", f"{FULL:.2f}", "Yes",
                    "Friday, 2 October 2026, 9:00 PM", "-", ""])
        w.writerow(["Participant 2002", "Hank Moe", "hank@uni.example", "Submitted for grading", "", f"{FULL:.2f}", "Yes",
                    "Sunday, 4 October 2026, 11:00 PM", "-", ""])  # 2 days 1 hour late: three started days
        w.writerow(["Participant 2003", "Ann Bo", "ann@uni.example", "Submitted for grading", "", f"{FULL:.2f}", "Yes",
                    "Friday, 2 October 2026, 8:00 PM", "-", ""])
        w.writerow(["Participant 2004", "Jo Park", "jo@uni.example", "No submission", "", f"{FULL:.2f}", "Yes", "-", "-", ""])
    out = _run(course, "collect", str(download), A, "--worksheet", str(worksheet), ok=(1,))
    assert "scratch.py: not a notebook (.py)" in out and "onlinetext" in out
    out = _run(course, "collect", str(download), A, "--worksheet", str(worksheet), "--accept-skips")
    out = _run(course, "grade", A, "--workers", "2")
    assert f"{A}: 3 graded" in out

    filled = tmp_path / "moodle_upload.csv"
    _run(course, "export", "--format", "moodle", "--assignment", A, "--roster", str(worksheet), "--to", str(filled))
    rows = {r["Identifier"]: r for r in _csv(filled)}
    assert list(_csv(filled)[0]) == header
    assert {k: r["Grade"] for k, r in rows.items()} == {
        "Participant 2001": f"{FULL:.2f}", "Participant 2002": f"{FULL * (1 - 3 * PER_DAY):.2f}",
        "Participant 2003": f"{WITH_MISTAKE:.2f}", "Participant 2004": ""}
    assert "late penalty" in rows["Participant 2002"]["Feedback comments"]
    assert rows["Participant 2001"]["Feedback comments"].startswith(f"{A}: {FULL:g}/{FULL:g}")

    feedback = tmp_path / "moodle_feedback.zip"
    _run(course, "feedback", A, "--zip", str(feedback))
    with zipfile.ZipFile(feedback) as z:
        names = sorted(z.namelist())
    assert names == [f"Ann Bo_2003_assignsubmission_file_/{A}.html", f"Gina Lee_2001_assignsubmission_file_/{A}.html",
                     f"Hank Moe_2002_assignsubmission_file_/{A}.html"]


P6 = "ps06_combining"


def test_ps06_written_answer_is_graded_by_hand(tmp_path) -> None:
    from regnorm_lab.course import cli, manual

    course = H.copy_course(tmp_path, [P6])
    H.release(course, P6)
    # code answers untouched (every autograded cell scores 0), the written answer written
    H.plant(course, "3001", P6, {"written_answer": "L1 and L2 shrink the weights; dropout adds noise to the units."})
    H.autograde(course, P6, force=True, timeout=60)
    waiting = {(c.student_id, c.cell) for c in manual.pending(course, P6)}
    assert ("3001", "written_answer") in waiting
    written = next(c for c in H.spec(course, P6).CELLS if c.grade_id == "written_answer")
    assert cli.main(["manual", P6, "3001", "written_answer", "--score", str(written.points + 1), "--course", str(course)]) == 2
    comment = "Right about the scale of the penalty; say why dropout's noise matters."
    assert cli.main(["manual", P6, "3001", "written_answer", "--score", "2", "--comment", comment, "--course", str(course)]) == 0
    assert ("3001", "written_answer") not in {(c.student_id, c.cell) for c in manual.pending(course, P6)}
    assert cli.main(["export", "--assignment", P6, "--to", str(tmp_path / "g.csv"), "--course", str(course)]) == 0
    assert float(_csv(tmp_path / "g.csv")[0]["score"]) == 2.0
    H.feedback(course, P6)
    assert comment in H.text_of_feedback(course / "feedback" / "3001" / P6 / f"{P6}.html")
