"""ps01_penalties through the real nbgrader pipeline: planted submissions, autograde, feedback.

Also the course-wide robustness rules, shown on this assignment: warnings are not
failures, tampering gains nothing, broken notebooks are recorded and never stop
the class, hidden tests stay hidden, and ``validate`` tells a student the truth.
"""

from __future__ import annotations

import csv

import nbformat
import pytest

from regnorm_lab.course import pipeline

from . import harness as H

pytestmark = pytest.mark.slow
A = "ps01_penalties"
SPEC = H.spec(H.EXERCISES, A)
SOLUTION = H.solution_answers(H.EXERCISES, A)
OWNER = H.test_cells_of(H.EXERCISES, A)


def _tamper_cells(nb) -> None:
    """Edit one locked test, delete another, strip the nbgrader metadata of a third."""
    kept = []
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid == "test_l2_penalty_forward":
            cell.source = "# Test: nothing to see\npass"
        elif gid == "test_soft_threshold_forward":
            continue
        elif gid == "test_elastic_net_penalty_errors":
            del cell.metadata["nbgrader"]
            cell.source = "pass"
        kept.append(cell)
    nb.cells = kept


# The tamper variant makes the l1, l2, elastic-net and soft-threshold mistakes and then
# cheats on exactly the cells those mistakes fail: rebinding numpy/math closeness
# (l1), editing a locked test (l2), stripping a test's metadata (elastic net) and
# deleting a test (soft threshold). It must not score more than the honest mistakes.
TAMPERED = ("l1_penalty", "l2_penalty", "elastic_net_penalty", "soft_threshold")
TAMPER_L1 = """
import math
np.allclose = lambda *a, **k: True
np.isclose = lambda a, b, *r, **k: np.ones(np.shape(a), dtype=bool)
np.testing.assert_allclose = lambda *a, **k: None
math.isclose = lambda *a, **k: True
""" + SPEC.MISTAKES["l1_penalty"][0]
WARNS = SOLUTION["l1_penalty"].replace(
    "    if lam < 0:",
    "    import sys, warnings\n    warnings.warn('l1_penalty: just a warning', UserWarning)\n    print('l1_penalty: a note on stderr', file=sys.stderr)\n    if lam < 0:",
    1,
)
WARNS_THEN_FAILS = """
import warnings
def l2_penalty(w, lam):
    warnings.warn('l2_penalty: warning before an error', RuntimeWarning)
    raise RuntimeError('l2_penalty is broken')
"""

VARIANTS = {
    **H.standard_variants(SPEC, SOLUTION),
    "tampered": {
        "answers": {**SOLUTION, **{fn: SPEC.MISTAKES[fn][0] for fn in TAMPERED}, "l1_penalty": TAMPER_L1},
        "edit": _tamper_cells,
    },
    # warnings are not failures; an error still is
    "warnings": {"answers": {**SOLUTION, "l1_penalty": WARNS, "l2_penalty": WARNS_THEN_FAILS}},
    # broken submissions: recorded, never stopping the class
    "invalid_json": {"raw_text": '{"cells": [ this is not json'},
    "missing": {"notebook": False},
    "loop_and_exit": {"answers": {**SOLUTION, "l1_penalty": "while True:\n    pass", "l2_penalty": "import sys\nsys.exit(3)"}},
    "os_exit": {"answers": {**SOLUTION, "l1_grad": "import os\nos._exit(1)"}},
}


class TestPs01(H.standard_suite(A, max_points=25.0, variants=VARIANTS, timeout=20)):
    """The standard tests (H.standard_suite) and the course-wide robustness rules, shown on ps01."""

    def test_delegating_answers_earn_nothing_and_feedback_says_why(self, graded: H.Graded) -> None:
        super().test_delegating_answers_earn_nothing_and_feedback_says_why(graded)
        assert "l1_penalty calls regnorm_lab.l1_penalty: write it yourself" in graded.feedback_text("shortcuts")

    def test_tampering_gains_nothing(self, graded: H.Graded) -> None:
        solution_total = graded.score("solution")[0]
        honest = solution_total - sum(25.0 - graded.score(f"mistake_{fn}")[0] for fn in TAMPERED)
        tampered = graded.score("tampered")
        assert tampered[1] == 25.0, "a deleted or stripped test cell must still count towards the maximum"
        assert tampered[0] <= honest < solution_total
        # it gains nothing, and the status report points the instructor at it
        assert "answer cell l1_penalty rebinds grading or comparison functions" in graded.statuses["tampered"].detail
        assert graded.statuses["solution"].detail == ""
        cells = graded.cells("tampered")
        for cell in ("test_l1_penalty_forward", "test_l2_penalty_forward", "test_elastic_net_penalty_errors", "test_soft_threshold_forward"):
            assert cells[cell][0] == 0.0, f"{cell} was passed by tampering"

    def test_deleted_test_cell_is_put_back_and_run(self, graded: H.Graded) -> None:
        nb = nbformat.read(str(graded.course / "autograded" / "tampered" / A / f"{A}.ipynb"), as_version=4)
        ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]
        for gid in ("test_soft_threshold_forward", "test_elastic_net_penalty_errors"):
            assert ids.count(gid) == 1, f"{gid} was not put back exactly once"
            cell = nb.cells[ids.index(gid)]
            assert any(o.get("output_type") == "error" for o in cell.outputs), f"the re-inserted {gid} was not run"

    def test_warnings_are_not_failures_but_errors_are(self, graded: H.Graded) -> None:
        cells = graded.cells("warnings")
        for cell, fn in OWNER.items():
            s, m = cells[cell]
            if fn == "l2_penalty":
                assert s == 0, f"{cell}: an answer that raises must not pass"
            else:
                assert s == m, f"{cell} lost points for a warning"
        text = graded.feedback_text("warnings")
        assert "l1_penalty: just a warning" in text and "a warning, not an error" in text

    def test_broken_submissions_are_recorded_and_the_class_is_graded(self, graded: H.Graded) -> None:
        st = graded.statuses
        assert set(st) == set(VARIANTS)
        assert st["invalid_json"].status == "unreadable" and "not a readable notebook" in st["invalid_json"].detail
        assert st["missing"].status == "missing"
        assert st["os_exit"].status == "kernel_died"
        loop = st["loop_and_exit"]
        assert loop.status == "timeout" and "l1_penalty hit the time limit" in loop.detail and "SystemExit in cell l2_penalty" in loop.detail
        # the infinite loop and sys.exit() cost only the functions they broke
        cells = graded.cells("loop_and_exit")
        for cell, owner in OWNER.items():
            s, m = cells[cell]
            assert (s == 0) if owner in ("l1_penalty", "l2_penalty") else (s == m), f"loop_and_exit: {cell} scored {s}/{m}"
        # the unreadable and missing ones are zeros in a consistent gradebook, told apart by status
        for student in ("invalid_json", "missing"):
            assert graded.score(student) == (0.0, 25.0)
            assert st[student].score == 0.0 and st[student].max_score == 25.0
        # a kernel killed in l1_grad's answer cell: the cells before it keep their points, that cell's
        # function and every later one score 0 (only what it broke)
        order = H.functions_of(H.EXERCISES, A)
        before = set(order[:order.index("l1_grad")])
        cells = graded.cells("os_exit")
        for cell, fn in OWNER.items():
            s, m = cells[cell]
            assert (s == m) if fn in before else (s == 0), f"os_exit: {cell} ({fn}) scored {s}/{m}"
        died = graded.score("os_exit")
        assert 0 < died[0] < 25.0 and st["os_exit"].score == died[0] and st["os_exit"].max_score == 25.0
        for student in ("solution", "blank", "shortcuts", "warnings"):
            assert st[student].status == "graded"
        with open(graded.course / "reports" / f"{A}_status.csv", newline="") as f:
            rows = {r["student_id"]: r for r in csv.DictReader(f)}
        assert rows["invalid_json"]["status"] == "unreadable" and rows["blank"]["status"] == "graded"
        assert rows["blank"]["score"] == rows["invalid_json"]["score"] == "0"

    def test_export_marks_each_students_status(self, graded: H.Graded) -> None:
        out = pipeline.export(graded.course, graded.course / "grades.csv")
        with open(out, newline="") as f:
            rows = {r["student_id"]: r for r in csv.DictReader(f) if r["assignment"] == A}
        assert rows["solution"]["status"] == "graded" and float(rows["solution"]["score"]) == 25.0
        assert rows["invalid_json"]["status"] == "unreadable" and float(rows["invalid_json"]["score"]) == 0.0
        assert rows["blank"]["status"] == "graded" and float(rows["blank"]["score"]) == 0.0
        assert rows["os_exit"]["status"] == "kernel_died"

    def test_hidden_tests_stay_hidden(self, graded: H.Graded) -> None:
        super().test_hidden_tests_stay_hidden(graded)
        # a failed hidden check is named in words, with our message only
        text = graded.feedback_text("mistake_l2_penalty")
        assert "(hidden test: l2_penalty returns lam * sum(w**2) as a float)" in text
        assert "Traceback" not in text.split("hidden test: l2_penalty returns")[1][:400]

    def test_validate_passes_the_solution_and_fails_the_release(self, graded: H.Graded) -> None:
        ok, report = pipeline.validate(graded.course / "source" / A / f"{A}.ipynb", graded.course)
        assert ok, report
        assert "Success" in report
        ok, report = pipeline.validate(graded.course / "release" / A / f"{A}.ipynb", graded.course)
        assert not ok
        assert "VALIDATION FAILED" in report and "NotImplementedError" in report
