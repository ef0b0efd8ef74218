"""Parallel class grading (``grade``) on the default SQLite gradebook, against serial nbgrader.

One planted ps01 class (solution, blank, a single mistake, a notebook that kills its
kernel in its 4th answer cell and keeps the points of the cells before, invalid JSON, a missing notebook) is graded twice in two copies of the
course: serially by the ``autograde`` command (one ``nbgrader autograde`` call) and
by ``grade --workers 2``. The gradebooks must hold the same rows; then the
parallel course checks resumability and a notebook that kills its grading worker.
"""

from __future__ import annotations

import csv
import pathlib

import pytest

from regnorm_lab.course import parallel, pipeline
from regnorm_lab.course.merge import dump_submissions

from . import harness as H

pytestmark = pytest.mark.slow
A = "ps01_penalties"
SPEC = H.spec(H.EXERCISES, A)
SOLUTION = H.solution_answers(H.EXERCISES, A)
OWNER = H.test_cells_of(H.EXERCISES, A)  # test cell -> function it checks
MISTAKE = "l2_penalty"
TIMEOUT = 20

CLASS = {
    "solution": {"answers": SOLUTION},
    "blank": {},
    "mistake_l2": {"answers": {**SOLUTION, MISTAKE: SPEC.MISTAKES[MISTAKE][0]}},
    "os_exit": {"answers": {**SOLUTION, "l1_grad": "import os\nos._exit(1)"}},
    "loop": {"answers": {**SOLUTION, "l1_penalty": "while True:\n    pass"}},  # interrupted at the cell time limit
    "invalid_json": {"raw_text": '{"cells": [ not json'},
    "missing": {"notebook": False},
}
EXPECTED_STATUS = {
    "solution": "graded", "blank": "graded", "mistake_l2": "graded", "os_exit": "kernel_died", "loop": "timeout",
    "invalid_json": "unreadable", "missing": "missing",
}
SCORED = ("graded", "timeout", "kernel_died")  # statuses whose cells were scored (and get feedback)
# kills the grading worker process that runs it (serial nbgrader would die with it): the
# nearest ancestor that is a multiprocessing worker. In the sandbox it finds none (its own
# PID namespace); without it (--no-sandbox) it succeeds, which the recovery path must survive
KILLER = {"answers": {**SOLUTION, "l1_penalty": """
import os, signal
pid = os.getppid()
while pid > 1:
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        if b"spawn_main" in f.read():
            os.kill(pid, signal.SIGKILL)
            break
    with open(f"/proc/{pid}/stat") as f:
        pid = int(f.read().rsplit(")", 1)[1].split()[1])
"""}}


def expected_cells(student: str) -> set[str]:
    """Test cells the planted student must FAIL, from the planted mistakes (not from a grading run)."""
    if student == "solution":
        return set()
    if student == "mistake_l2":
        return set(SPEC.MISTAKES[MISTAKE][1])
    if student == "loop":
        return {cell for cell, fn in OWNER.items() if fn == "l1_penalty"}  # only the function that hung
    if student == "os_exit":  # the kernel died in the l1_grad answer cell: it and every later cell score 0
        functions = H.functions_of(H.EXERCISES, A)
        return {cell for cell, fn in OWNER.items() if functions.index(fn) >= functions.index("l1_grad")}
    return set(OWNER)  # blank, and every submission that could not be graded


def plant_class(tmp: pathlib.Path, db_url: str | None = None, students: dict[str, dict] | None = None) -> pathlib.Path:
    """A private course copy (optionally with its gradebook at ``db_url``), ps01 released, the class planted."""
    course = H.copy_course(tmp, [A])
    if db_url is not None:
        with open(course / "nbgrader_config.py", "a") as f:
            f.write(f"\nc.CourseDirectory.db_url = {db_url!r}\n")
    H.release(course, A)
    for student, kwargs in (students or CLASS).items():
        H.plant(course, student, A, **kwargs)
    return course


def check_scores(course: pathlib.Path, statuses: dict[str, object]) -> None:
    """Every planted student has exactly the expected failing cells and status."""
    for student, status in EXPECTED_STATUS.items():
        assert statuses[student].status == status, f"{student}: {statuses[student]}"
        cells = H.cell_scores(course, A, student)
        assert set(cells) == set(OWNER), f"{student}: cells {sorted(cells)}"
        failing = {k for k, (s, m) in cells.items() if s < m}
        assert failing == expected_cells(student), f"{student}: failing {sorted(failing)}"


def db_url_of(course: pathlib.Path) -> str:
    return str(pipeline.load_config(course).CourseDirectory.db_url)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict:
    serial = plant_class(tmp_path_factory.mktemp("serial"))
    serial_statuses = pipeline.autograde(serial, A, force=True, timeout=TIMEOUT)
    pipeline.feedback(serial, A)
    par = plant_class(tmp_path_factory.mktemp("parallel"))
    result = parallel.grade_class(par, A, workers=2, timeout=TIMEOUT, progress=False)
    return {"serial": serial, "serial_statuses": serial_statuses, "parallel": par, "result": result}


def test_parallel_gradebook_equals_serial_nbgrader(runs: dict) -> None:
    serial = dump_submissions(db_url_of(runs["serial"]), A)
    par = dump_submissions(db_url_of(runs["parallel"]), A)
    assert set(serial) == set(CLASS)
    assert par.keys() == serial.keys()
    for student in serial:
        assert par[student] == serial[student], f"{student}: parallel gradebook differs from serial"
    # and the content is right, not just equal
    check_scores(runs["parallel"], {s.student_id: s for s in runs["result"].statuses})


def test_status_csv_and_export_match_serial(runs: dict) -> None:
    def rows(course):
        with open(course / "reports" / f"{A}_status.csv", newline="") as f:
            return {r["student_id"]: (r["status"], r["score"], r["max_score"]) for r in csv.DictReader(f)}

    assert rows(runs["parallel"]) == rows(runs["serial"])
    with open(runs["result"].files["grades"], newline="") as f:
        exported = {r["student_id"]: r for r in csv.DictReader(f) if r["assignment"] == A}
    assert exported["invalid_json"]["status"] == "unreadable" and float(exported["invalid_json"]["score"]) == 0
    assert exported["blank"]["status"] == "graded" and float(exported["solution"]["score"]) == 25


def test_feedback_for_every_graded_student(runs: dict) -> None:
    course = runs["parallel"]
    for student, status in EXPECTED_STATUS.items():
        files = list((course / "feedback" / student / A).glob("*.html"))
        assert bool(files) == (status in SCORED), f"{student}: feedback {files}"
    text = H.text_of_feedback(course / "feedback" / "mistake_l2" / A / f"{A}.html")
    assert "hidden test: l2_penalty returns" in text
    # the workers generate feedback from their shard: the same as nbgrader's from the whole gradebook
    for student, status in EXPECTED_STATUS.items():
        if status in SCORED:
            ours, serial = (H.text_of_feedback(c / "feedback" / student / A / f"{A}.html") for c in (course, runs["serial"]))
            assert ours.replace(str(course), "COURSE") == serial.replace(str(runs["serial"]), "COURSE"), student
    # ... generated there, in parallel, not afterwards one by one
    assert runs["result"].worker_feedback == sorted(s for s, st in EXPECTED_STATUS.items() if st in SCORED)
    # no work folder or shard left in the course
    assert not list(course.glob(".grade-*"))


def _mtimes(course: pathlib.Path) -> dict[str, float]:
    return {p.parent.parent.name: p.stat().st_mtime_ns for p in course.glob(f"autograded/*/{A}/{A}.ipynb")}


def test_resume_grades_only_new_or_changed_unless_forced(runs: dict) -> None:
    course = runs["parallel"]
    before = _mtimes(course)
    again = parallel.grade_class(course, A, workers=2, timeout=TIMEOUT, progress=False, report=False)
    assert again.graded == [] and sorted(again.skipped) == sorted(CLASS)
    assert _mtimes(course) == before
    assert [(s.student_id, s.status, s.score) for s in again.statuses] == [(s.student_id, s.status, s.score) for s in runs["result"].statuses]

    # the blank student submits a solution: only they are regraded, and now score full marks
    H.plant(course, "blank", A, SOLUTION)
    changed = parallel.grade_class(course, A, workers=2, timeout=TIMEOUT, progress=False, report=False)
    assert changed.graded == ["blank"]
    after = _mtimes(course)
    assert after["blank"] != before["blank"]
    assert {k: v for k, v in after.items() if k != "blank"} == {k: v for k, v in before.items() if k != "blank"}
    assert H.total(H.cell_scores(course, A, "blank")) == (25.0, 25.0)

    forced = parallel.grade_class(course, A, workers=2, timeout=TIMEOUT, progress=False, report=False, feedback=False, force=True)
    assert sorted(forced.graded) == sorted(s for s, st in EXPECTED_STATUS.items() if st not in ("unreadable", "missing"))
    assert {s.student_id: s.score for s in forced.statuses}["os_exit"] == 12.0  # the 3 functions before the dying cell
    assert all(_mtimes(course)[s] != after[s] for s in ("solution", "mistake_l2", "loop"))


def test_a_notebook_that_kills_its_worker_costs_only_that_student(runs: dict) -> None:
    course = runs["parallel"]
    H.plant(course, "killer", A, **KILLER)
    # in the sandbox the grading worker is out of reach: the killer is graded like anyone
    # (its l1_penalty cell defines no function: those tests fail)
    result = parallel.grade_class(course, A, workers=2, timeout=TIMEOUT, progress=False, report=False, feedback=False)
    st = {s.student_id: s for s in result.statuses}
    assert result.graded == ["killer"] and st["killer"].status == "graded", st["killer"]
    lost = sum(m for cell, (_, m) in H.cell_scores(course, A, "killer").items() if OWNER[cell] == "l1_penalty")
    assert st["killer"].score == 25.0 - lost and lost > 0

    # without the sandbox it kills its worker; a changed innocent submission is graded at the
    # same time, by the other worker
    H.plant(course, "killer", A, **{"answers": {**KILLER["answers"], "l2_penalty": "# resubmitted"}})
    H.plant(course, "mistake_l2", A, SOLUTION)
    result = parallel.grade_class(course, A, workers=2, timeout=TIMEOUT, progress=False, report=False, sandbox=False)
    st = {s.student_id: s for s in result.statuses}
    assert sorted(result.graded) == ["killer", "mistake_l2"]
    assert st["killer"].status == "error" and "worker process died" in st["killer"].detail
    assert st["killer"].score == 0.0 and H.total(H.cell_scores(course, A, "killer")) == (0.0, 25.0)
    assert st["mistake_l2"].status == "graded" and H.total(H.cell_scores(course, A, "mistake_l2")) == (25.0, 25.0)
    assert st["solution"].status == "graded" and st["solution"].score == 25.0
