"""ps06_combining through the real nbgrader pipeline: planted submissions, autograde, feedback.

The autograded part (r2_score, weight_penalty, build_model) is checked like every
assignment: the solution gets every autograded point, the blank release none, a
single mistake loses only its behaviour, delegating to scikit-learn or ``regnorm_lab``
earns nothing. The training experiment runs inside the per-cell time limit on the
student's own functions, and the written answer is left to the instructor: it is
graded by hand, so the model answer must never reach a student.
"""

from __future__ import annotations

import nbformat
import pytest

from . import harness as H

pytestmark = pytest.mark.slow
A = "ps06_combining"
SPEC = H.spec(H.EXERCISES, A)
SOLUTION = H.solution_answers(H.EXERCISES, A)
OWNER = H.test_cells_of(H.EXERCISES, A)  # autograded test cell -> function
AUTO_MAX = sum(c.points for c in SPEC.CELLS if c.kind == "test")
WRITTEN = [c for c in SPEC.CELLS if c.kind == "written"]  # the hand-graded answer (when the builder has the kind)
MODEL_ANSWER_LINE = "They do not cancel: they act through different mechanisms, and their effects add up."
# the contract functions only: a written cell is also an nbgrader solution cell
FUNCTIONS = {fn: code for fn, code in SOLUTION.items() if fn in set(OWNER.values())}
VARIANTS = H.standard_variants(SPEC, FUNCTIONS)
if WRITTEN:  # the solution student also writes an answer (a student's own words, not the model answer)
    VARIANTS["solution"]["answers"] = {**FUNCTIONS, WRITTEN[0].grade_id: "They did not cancel: in my runs both together scored best."}


def _outputs(graded: H.Graded, student: str, grade_id: str) -> list[dict]:
    nb = nbformat.read(str(graded.course / "autograded" / student / A / f"{A}.ipynb"), as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id or (grade_id == "experiment" and "results[(l1, l2, p)]" in cell.source):
            return cell.get("outputs", [])
    raise AssertionError(f"{grade_id} not found in {student}'s autograded notebook")


def test_the_assignment_covers_the_contract() -> None:
    assert H.functions_of(H.EXERCISES, A)[:3] == ["r2_score", "weight_penalty", "build_model"]
    assert sorted(SPEC.MISTAKES) == ["build_model", "r2_score", "weight_penalty"]
    assert set(OWNER.values()) == {"r2_score", "weight_penalty", "build_model"}
    assert AUTO_MAX == 22.0
    # the seed-003 experiment and the written question are in the student's notebook
    nb = nbformat.read(str(H.EXERCISES / "source" / A / f"{A}.ipynb"), as_version=4)
    text = "\n".join(c.source for c in nb.cells)
    assert "def fit_and_score(" in text and "make_regression_task(" in text
    assert "do L1/L2 and dropout cancel each other" in text and "what did your own runs show?" in text
    # self-contained: the locked setup imports numpy, torch and the probe, so the kernel gets no reference
    from regnorm_lab.course.prewarm import preload_modules
    from regnorm_lab.course.sandbox import probe_only

    modules = preload_modules(nb)
    assert probe_only(modules), modules
    assert "regnorm_lab.studies" not in text and "regnorm_lab.dropout" not in text


class TestPs06(H.standard_suite(A, max_points=22.0, variants=VARIANTS, timeout=60)):
    """The standard tests (H.standard_suite: autograded cells only; the written answer waits for a person) and ps06's own."""

    def test_the_written_answer_is_left_for_the_instructor(self, graded: H.Graded) -> None:
        from nbgrader.api import Gradebook

        from regnorm_lab.course import pipeline

        released = H.text_of_notebook(graded.course / "release" / A / f"{A}.ipynb")
        assert MODEL_ANSWER_LINE not in released
        for f in sorted((graded.course / "feedback").glob(f"*/{A}/*.html")):
            assert MODEL_ANSWER_LINE not in H.text_of_feedback(f)
        if not WRITTEN:  # the builder has no hand-graded kind yet: the prompt is plain markdown
            assert "graded by hand" in released
            return
        gid = WRITTEN[0].grade_id
        assert graded.cells("solution")[gid] == (0.0, WRITTEN[0].points)  # until the instructor grades it
        cfg = pipeline.load_config(graded.course)
        with Gradebook(cfg.CourseDirectory.db_url, "regnorm-lab") as gb:
            answered = gb.find_grade(gid, A, A, "solution")
            assert answered.needs_manual_grade and answered.auto_score is None
            # nbgrader scores an untouched "YOUR ANSWER HERE" 0 by itself: nothing to grade by hand
            untouched = gb.find_grade(gid, A, A, "blank")
            assert not untouched.needs_manual_grade and untouched.auto_score == 0

    def test_delegating_answers_earn_nothing_and_feedback_says_why(self, graded: H.Graded) -> None:
        super().test_delegating_answers_earn_nothing_and_feedback_says_why(graded)
        text = graded.feedback_text("shortcuts")
        assert "r2_score calls sklearn.metrics: write it yourself" in text
        assert "build_model calls regnorm_lab.build_model: write it yourself" in text

    def test_the_experiment_trains_the_students_model_within_the_time_limit(self, graded: H.Graded) -> None:
        for student in ("solution", "mistake_build_model"):
            outs = _outputs(graded, student, "experiment")
            assert not [o for o in outs if o.get("output_type") == "error"], f"{student}: the experiment failed"
            lines = [ln for o in outs for ln in o.get("text", "").splitlines() if "validation R2=" in ln]
            assert len(lines) == 4, lines
            val = [float(ln.rsplit("=", 1)[1]) for ln in lines]
            assert all(-1.0 < v <= 1.0 for v in val) and max(val) > 0.3  # the model learns something
        # without the student's functions there is nothing to train: an error in that cell, not a crash
        assert any(o.get("output_type") == "error" for o in _outputs(graded, "blank", "experiment"))
