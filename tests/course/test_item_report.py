"""The instructor's item analysis after ONE command: ``python -m regnorm_lab.course grade``.

A planted class whose mistakes are known runs through the real CLI (subprocess,
two workers, SQLite gradebook). The share of students failing each test cell is
computed here from the planted mistakes alone (each mistake's failing cells are
declared in the assignment's authoring spec), never from a grading run.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys

import pytest

from . import harness as H
from .test_parallel_grading import A, OWNER, SOLUTION, SPEC

pytestmark = pytest.mark.slow

# student -> the functions they got wrong (each replaced by the spec's single mistake)
MISTAKES = {"l2_a": ["l2_penalty"], "l2_b": ["l2_penalty"], "both": ["l2_penalty", "soft_threshold"], "grad": ["l2_grad"]}
NOT_GRADED = {"invalid_json": "unreadable", "missing": "missing"}


def expected_failed() -> dict[str, int]:
    counts = {cell: 0 for cell in OWNER}
    for fns in MISTAKES.values():
        for cell in set().union(*(SPEC.MISTAKES[fn][1] for fn in fns)):
            counts[cell] += 1
    return counts


@pytest.fixture(scope="module")
def graded_course(tmp_path_factory):
    course = H.copy_course(tmp_path_factory.mktemp("report"), [A])
    H.release(course, A)
    for student, fns in MISTAKES.items():
        H.plant(course, student, A, {**SOLUTION, **{fn: SPEC.MISTAKES[fn][0] for fn in fns}})
    H.plant(course, "invalid_json", A, raw_text="{ nope")
    H.plant(course, "missing", A, notebook=False)
    env = {**os.environ, "REGNORM_CELL_TIMEOUT": "20"}
    proc = subprocess.run(
        [sys.executable, "-m", "regnorm_lab.course", "--course", str(course), "grade", A, "--workers", "2", "--no-feedback"],
        capture_output=True, text=True, env=env, timeout=900,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return course, proc.stdout


def test_one_command_grades_and_reports(graded_course) -> None:
    course, out = graded_course
    for name in ("status", "grades", "items", "not_graded", "figure"):
        assert f"{name}: " in out, out
    assert f"{A}: 4 graded, 1 unreadable, 1 missing;" in out, out


def test_share_failing_each_test_cell_matches_the_planted_mistakes(graded_course) -> None:
    course, _ = graded_course
    with open(course / "reports" / f"{A}_items.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["grade_id"] for r in rows] == list(OWNER), "one row per test cell, in notebook order"
    expected = expected_failed()
    n = len(MISTAKES)
    assert expected["test_l2_penalty_forward"] == 3  # the planted class really has a common mistake
    for r in rows:
        assert int(r["students"]) == n, r
        assert int(r["failed"]) == expected[r["grade_id"]], r
        assert float(r["share_failed"]) == pytest.approx(expected[r["grade_id"]] / n, abs=1e-4), r
    behaviours = {r["grade_id"]: r["behaviour"] for r in rows}
    assert behaviours["test_l2_penalty_forward"] == "l2_penalty returns lam * sum(w**2) as a float"


def test_unreadable_students_are_listed_apart_not_as_zeros(graded_course) -> None:
    course, _ = graded_course
    with open(course / "reports" / f"{A}_not_graded.csv", newline="") as f:
        apart = {r["student_id"]: r["status"] for r in csv.DictReader(f)}
    assert apart == NOT_GRADED
    png = (course / "reports" / f"{A}_report.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
