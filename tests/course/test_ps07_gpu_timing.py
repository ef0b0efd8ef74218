"""ps07_gpu_timing through the real nbgrader pipeline: planted submissions, autograde, feedback.

Besides the standard variants (solution, blank, one mistake per function, the
delegating shortcuts) this plants the answers that show ps07's own rules:

* ``loop``: both functions correct but written as a Python loop over the rows:
  they lose the speed points and nothing else. Speed is a ratio to the reference
  measured by the GRADER's clock in two fresh sandboxed kernels (course/clock.py),
  so this holds on any machine, and nothing in the notebook's kernel can change it;
* ``slips``, planted in the same notebooks as the other function's standard mistake
  (one notebook less to execute per pair): a layer norm that only handles matrices
  (``dim=1``) and an RMS norm that builds a tensor on the CPU whatever ``x.device``
  is; each loses exactly one behaviour (any leading shape; the result on x's
  device, caught on PyTorch's meta device).

The executed notebook must also say which device it ran on. The variants (and the attacks
of ``test_ps07_attacks.py``) are graded once per session (``ps07_planted.py``).
"""

from __future__ import annotations

import pathlib
import re

import nbformat
import pytest
import torch

from . import harness as H
from . import ps07_planted as P7

pytestmark = pytest.mark.slow
A, SPEC, MAX, OWNER = P7.A, P7.SPEC, P7.MAX, P7.OWNER


def test_variants_are_what_they_claim() -> None:
    """The planted answers compute what their names say (checked here against torch, fast)."""
    import torch.nn.functional as F

    g = torch.Generator().manual_seed(0)
    x = 5.0 * torch.randn(2, 3, 16, generator=g)
    w, b = torch.rand(16, generator=g), torch.randn(16, generator=g)
    ns: dict = {"torch": torch}
    for code in P7.LOOP.values():
        exec(code, ns)  # noqa: S102 - our own planted source
    torch.testing.assert_close(ns["layer_norm"](x, w, b), F.layer_norm(x, (16,), w, b, 1e-5))
    torch.testing.assert_close(ns["rms_norm"](x, w), F.rms_norm(x, (16,), w, 1e-6))
    for code in P7.SLIPS.values():
        exec(code, ns)  # noqa: S102
    x2 = x[0]
    torch.testing.assert_close(ns["layer_norm"](x2, w, b), F.layer_norm(x2, (16,), w, b, 1e-5))  # right on a matrix
    assert not torch.allclose(ns["layer_norm"](x, w, b), F.layer_norm(x, (16,), w, b, 1e-5))  # wrong on 3-D
    torch.testing.assert_close(ns["rms_norm"](x, w), F.rms_norm(x, (16,), w, 1e-6))  # right on the CPU
    with pytest.raises(RuntimeError):
        ns["rms_norm"](torch.empty(3, 8, device="meta"), torch.ones(8, device="meta"))


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> H.Graded:
    return P7.graded(tmp_path_factory)


def test_solution_full_marks_and_blank_zero(graded: H.Graded) -> None:
    sol = P7.cells(graded, "solution")
    assert {k for k, (s, m) in sol.items() if s < m} == set(), f"solution lost points: {sol}"
    assert sum(s for s, _ in sol.values()) == MAX == 23.0
    blank = P7.cells(graded, "blank")
    assert sum(s for s, _ in blank.values()) == 0.0 and sum(m for _, m in blank.values()) == MAX
    assert all(graded.statuses[s].status == "graded" for s in P7.VARIANTS), {s: graded.statuses[s].status for s in P7.VARIANTS}
    # the written answer counts towards the maximum, and waits for the instructor
    assert graded.statuses["solution"].max_score == MAX + 3.0


def test_written_answer_is_released_empty_and_graded_by_hand(graded: H.Graded) -> None:
    from nbgrader.api import Gradebook

    from regnorm_lab.course import pipeline

    nb = nbformat.read(str(graded.course / "release" / A / f"{A}.ipynb"), as_version=4)
    (cell,) = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "written_answer"]
    meta = cell.metadata["nbgrader"]
    assert cell.cell_type == "markdown" and meta["grade"] and meta["solution"] and meta["points"] == 3.0
    assert cell.source.strip() == "YOUR ANSWER HERE"
    released = H.text_of_notebook(graded.course / "release" / A / f"{A}.ipynb")
    model_lines = [ln.strip() for ln in SPEC.WRITTEN_ANSWER.splitlines() if len(ln.strip()) > 20]
    assert model_lines and not [ln for ln in model_lines if ln in released]  # the model answer stays home
    with Gradebook(pipeline.load_config(graded.course).CourseDirectory.db_url, "regnorm-lab") as gb:
        grade = gb.find_grade("written_answer", A, A, "solution")
        assert grade.needs_manual_grade and grade.max_score == 3.0 and grade.auto_score is None
    (answer,) = [c for c in P7.autograded_nb(graded, "solution").cells if c.metadata.get("nbgrader", {}).get("grade_id") == "written_answer"]
    assert P7.STUDENT_ANSWER in answer.source


@pytest.mark.parametrize("fn", sorted(SPEC.MISTAKES))
def test_a_single_mistake_loses_only_that_behaviour(graded: H.Graded, fn: str) -> None:
    student = f"mistake_{fn}"
    score = sum(s for s, _ in P7.cells(graded, student).values())
    assert 0 < score < MAX
    lost = P7.failing(graded, student)
    assert {c for c in lost if OWNER[c] == fn} == SPEC.MISTAKES[fn][1]
    # the other function's slip loses exactly its own behaviour
    assert {c for c in lost if OWNER[c] != fn} == P7.SLIP_CELLS[P7.OTHER[fn]]


def _ratio(text: str, fn: str) -> float:
    m = re.search(rf"{fn} took (\d+(?:\.\d+)?)x the reference's time on the CPU \(limit 3x\)", text)
    assert m, f"no ratio for {fn} in {text!r}"
    return float(m.group(1))


def test_a_python_loop_over_rows_loses_only_the_speed_points(graded: H.Graded) -> None:
    assert P7.failing(graded, "loop") == P7.SPEED
    text = graded.feedback_text("loop")
    for fn in ("layer_norm", "rms_norm"):
        # a clear margin: a per-row loop is an order of magnitude slower than the vectorised reference
        assert _ratio(text, fn) > 6.0
        assert "not row by row in Python" in text


def test_speed_is_the_graders_ratio_and_shown(graded: H.Graded) -> None:
    nb = P7.autograded_nb(graded, "solution")
    for fn in ("layer_norm", "rms_norm"):
        text = P7.cell_text(nb, f"test_{fn}_speed")
        # the same code as the reference: about 1x, far from the limit
        assert 0.2 < _ratio(text, fn) < 2.0


def test_slips_are_explained_in_the_feedback(graded: H.Graded) -> None:
    assert "rms_norm failed on tensors of the 'meta' device" in graded.feedback_text("mistake_layer_norm")
    assert "each row of the LAST dimension is normalised" in graded.feedback_text("mistake_rms_norm")


def test_delegating_answers_earn_nothing_and_feedback_says_why(graded: H.Graded) -> None:
    sc = P7.cells(graded, "shortcuts")
    assert sum(s for s, _ in sc.values()) == 0.0
    H.check_shortcuts(graded, SPEC.SHORTCUTS, OWNER)
    text = graded.feedback_text("shortcuts")
    assert "layer_norm calls torch.nn.functional.layer_norm: write it yourself" in text
    assert "rms_norm calls torch.rms_norm: write it yourself" in text


def test_notebook_names_the_device_it_ran_on(graded: H.Graded) -> None:
    text = P7.cell_text(P7.autograded_nb(graded, "solution"), "setup")
    if torch.cuda.is_available():
        assert "Running on the GPU: " + torch.cuda.get_device_name() in text
    else:
        model = next(
            (ln.split(":", 1)[1].strip() for ln in pathlib.Path("/proc/cpuinfo").read_text().splitlines() if ln.lower().startswith("model name")),
            None,
        )
        assert model, "this machine's /proc/cpuinfo names no CPU model"
        assert f"Running on the CPU: {model}" in text and "no CUDA device found" in text
        assert "device: cpu" in text and f"torch_version: {torch.__version__}" in text


def test_the_grading_kernel_has_no_reference_and_skips_the_report(graded: H.Graded) -> None:
    # the setup imports only the probe: the sandbox hides the package, so the ungraded report says so
    text = P7.cell_text(P7.autograded_nb(graded, "solution"), "timing_report")
    assert "The timing report needs the course package regnorm_lab (not installed here)." in text


def test_hidden_tests_stay_hidden(graded: H.Graded) -> None:
    H.check_no_hidden_leak(graded)
    # a failing cell that holds hidden checks shows its behaviour and our worded message, no code, no traceback
    text = graded.feedback_text("mistake_layer_norm")
    marker = "(hidden test: layer_norm normalises each row with its mean and biased variance, as F.layer_norm)"
    assert marker in text
    after = text.split(marker, 1)[1][:800]
    assert "layer_norm(x, ones, zeros) on a 2 x 4 float64 example: 8 of 8 values differ" in after
    assert "Traceback" not in after and "_xr" not in after
