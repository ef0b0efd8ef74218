"""ps07_gpu_timing through the real nbgrader pipeline: planted submissions, autograde, feedback.

Besides the standard variants (solution, blank, one mistake per function, the
delegating shortcuts) this plants the answers that show ps07's own rules:

* ``loop``: both functions correct but written as a Python loop over the rows:
  they lose the speed points and nothing else (speed is a ratio to the reference
  measured in the same cell, so this holds on any machine);
* ``slips``, planted in the same notebooks as the other function's standard mistake
  (one notebook less to execute per pair): a layer norm that only handles matrices
  (``dim=1``) and an RMS norm that builds a tensor on the CPU whatever ``x.device``
  is; each loses exactly one behaviour (any leading shape; the result on x's
  device, caught on PyTorch's meta device).

The executed notebook must also say which device it ran on.
"""

from __future__ import annotations

import pathlib

import nbformat
import pytest
import torch

from . import harness as H

pytestmark = pytest.mark.slow
A = "ps07_gpu_timing"
SPEC = H.spec(H.EXERCISES, A)
SOLUTION = {k: v for k, v in H.solution_answers(H.EXERCISES, A).items() if k in ("layer_norm", "rms_norm")}
OWNER = H.test_cells_of(H.EXERCISES, A)
MAX = sum(c.points for c in SPEC.CELLS if c.kind == "test")
SPEED = {"test_layer_norm_speed", "test_rms_norm_speed"}

# Correct results, one row at a time: 8192 trips through the interpreter per call.
LOOP = {
    "layer_norm": '''
def layer_norm(x, weight, bias, eps=1e-5):
    rows = x.reshape(-1, x.shape[-1])
    out = torch.empty_like(rows)
    for i in range(rows.shape[0]):
        row = rows[i]
        mean = row.mean()
        var = ((row - mean) ** 2).mean()
        out[i] = (row - mean) / torch.sqrt(var + eps) * weight + bias
    return out.reshape(x.shape)
''',
    "rms_norm": '''
def rms_norm(x, weight, eps=1e-6):
    rows = x.reshape(-1, x.shape[-1])
    out = torch.empty_like(rows)
    for i in range(rows.shape[0]):
        row = rows[i]
        out[i] = row / torch.sqrt((row * row).mean() + eps) * weight
    return out.reshape(x.shape)
''',
}
SLIPS = {
    "layer_norm": '''
def layer_norm(x, weight, bias, eps=1e-5):
    mean = x.mean(dim=1, keepdim=True)  # dimension 1 is the last one only for a matrix
    var = ((x - mean) ** 2).mean(dim=1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * weight + bias
''',
    "rms_norm": '''
def rms_norm(x, weight, eps=1e-6):
    ms = torch.zeros(x.shape[:-1] + (1,), dtype=x.dtype)  # on the CPU, whatever x.device is
    ms += (x * x).mean(dim=-1, keepdim=True)
    return x / torch.sqrt(ms + eps) * weight
''',
}

# The slip of one function rides along with the standard mistake of the other.
SLIP_CELLS = {"layer_norm": {"test_layer_norm_shapes"}, "rms_norm": {"test_rms_norm_device"}}
OTHER = {"layer_norm": "rms_norm", "rms_norm": "layer_norm"}
STUDENT_ANSWER = "Memory traffic limits it: my layer_norm reached 2 % of the copy's GB/s on the CPU."
VARIANTS = {
    **H.standard_variants(SPEC, SOLUTION),
    "loop": {"answers": LOOP},
}
VARIANTS["solution"]["answers"]["written_answer"] = STUDENT_ANSWER
for _fn in SPEC.MISTAKES:
    VARIANTS[f"mistake_{_fn}"]["answers"][OTHER[_fn]] = SLIPS[OTHER[_fn]]


def cells(g: H.Graded, student: str) -> dict[str, tuple[float, float]]:
    """The autograded test cells' (score, max) of one student (a hand-graded written answer left out)."""
    return {k: v for k, v in g.cells(student).items() if k.startswith("test_")}


def failing(g: H.Graded, student: str) -> set[str]:
    return {k for k, (s, m) in cells(g, student).items() if s < m}


def autograded_nb(g: H.Graded, student: str):
    return nbformat.read(str(g.course / "autograded" / student / A / f"{A}.ipynb"), as_version=4)


def cell_source(nb, grade_id: str) -> str:
    (cell,) = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id]
    return cell.source


def cell_text(nb, grade_id: str) -> str:
    """All text and plain-text outputs of the cell with ``grade_id``."""
    (cell,) = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id]
    parts = []
    for out in cell.get("outputs", []):
        parts.append(str(out.get("text", "")))
        parts.append(str(out.get("data", {}).get("text/plain", "")))
        parts.append(str(out.get("evalue", "")))
    return "\n".join(parts)


def test_variants_are_what_they_claim() -> None:
    """The planted answers compute what their names say (checked here against torch, fast)."""
    import torch.nn.functional as F

    g = torch.Generator().manual_seed(0)
    x = 5.0 * torch.randn(2, 3, 16, generator=g)
    w, b = torch.rand(16, generator=g), torch.randn(16, generator=g)
    ns: dict = {"torch": torch}
    for code in LOOP.values():
        exec(code, ns)  # noqa: S102 - our own planted source
    torch.testing.assert_close(ns["layer_norm"](x, w, b), F.layer_norm(x, (16,), w, b, 1e-5))
    torch.testing.assert_close(ns["rms_norm"](x, w), F.rms_norm(x, (16,), w, 1e-6))
    for code in SLIPS.values():
        exec(code, ns)  # noqa: S102
    x2 = x[0]
    torch.testing.assert_close(ns["layer_norm"](x2, w, b), F.layer_norm(x2, (16,), w, b, 1e-5))  # right on a matrix
    assert not torch.allclose(ns["layer_norm"](x, w, b), F.layer_norm(x, (16,), w, b, 1e-5))  # wrong on 3-D
    torch.testing.assert_close(ns["rms_norm"](x, w), F.rms_norm(x, (16,), w, 1e-6))  # right on the CPU
    with pytest.raises(RuntimeError):
        ns["rms_norm"](torch.empty(3, 8, device="meta"), torch.ones(8, device="meta"))


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> H.Graded:
    # a Python loop over 8192 rows takes seconds per call on a loaded machine: a generous cell limit
    return H.grade_variants(tmp_path_factory.mktemp("ps07"), A, VARIANTS, timeout=120)


def test_solution_full_marks_and_blank_zero(graded: H.Graded) -> None:
    sol = cells(graded, "solution")
    assert {k for k, (s, m) in sol.items() if s < m} == set(), f"solution lost points: {sol}"
    assert sum(s for s, _ in sol.values()) == MAX == 23.0
    blank = cells(graded, "blank")
    assert sum(s for s, _ in blank.values()) == 0.0 and sum(m for _, m in blank.values()) == MAX
    assert all(graded.statuses[s].status == "graded" for s in VARIANTS), {s: graded.statuses[s].status for s in VARIANTS}
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
    assert STUDENT_ANSWER in cell_source(autograded_nb(graded, "solution"), "written_answer")


@pytest.mark.parametrize("fn", sorted(SPEC.MISTAKES))
def test_a_single_mistake_loses_only_that_behaviour(graded: H.Graded, fn: str) -> None:
    student = f"mistake_{fn}"
    score = sum(s for s, _ in cells(graded, student).values())
    assert 0 < score < MAX
    lost = failing(graded, student)
    assert {c for c in lost if OWNER[c] == fn} == SPEC.MISTAKES[fn][1]
    # the other function's slip loses exactly its own behaviour
    assert {c for c in lost if OWNER[c] != fn} == SLIP_CELLS[OTHER[fn]]


def test_a_python_loop_over_rows_loses_only_the_speed_points(graded: H.Graded) -> None:
    assert failing(graded, "loop") == SPEED
    text = graded.feedback_text("loop")
    for fn in ("layer_norm", "rms_norm"):
        assert f"{fn} took" in text and "the reference's time on the same inputs" in text and "not row by row in Python" in text


def test_slips_are_explained_in_the_feedback(graded: H.Graded) -> None:
    assert "rms_norm failed on tensors of the 'meta' device" in graded.feedback_text("mistake_layer_norm")
    assert "each row of the LAST dimension is normalised" in graded.feedback_text("mistake_rms_norm")


def test_delegating_answers_earn_nothing_and_feedback_says_why(graded: H.Graded) -> None:
    sc = cells(graded, "shortcuts")
    assert sum(s for s, _ in sc.values()) == 0.0
    H.check_shortcuts(graded, SPEC.SHORTCUTS, OWNER)
    text = graded.feedback_text("shortcuts")
    assert "layer_norm calls torch.nn.functional.layer_norm: write it yourself" in text
    assert "rms_norm calls torch.rms_norm: write it yourself" in text


def test_speed_is_graded_as_a_ratio_and_shown(graded: H.Graded) -> None:
    text = cell_text(autograded_nb(graded, "solution"), "test_layer_norm_speed")
    assert "layer_norm took" in text and "x the reference's time on cpu (the limit is 3x)" in text
    ratio = float(text.split("layer_norm took", 1)[1].split("x", 1)[0])
    assert 0.0 < ratio <= 3.0


def test_notebook_names_the_device_it_ran_on(graded: H.Graded) -> None:
    text = cell_text(autograded_nb(graded, "solution"), "setup")
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


def test_report_times_the_students_functions_against_fused_and_copy(graded: H.Graded) -> None:
    nb = autograded_nb(graded, "solution")
    text = cell_text(nb, "timing_report")
    lines = text.splitlines()
    for op in ("layer_norm", "rms_norm"):
        for impl in ("student", "reference", "fused", "copy"):
            assert any(ln.startswith(f"{op:<11} {impl:<9} 8192x256") for ln in lines), f"no {op} {impl} row in the report"
    (cell,) = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "timing_report"]
    assert any("image/png" in out.get("data", {}) for out in cell.outputs), "the bandwidth figure is missing"
    assert "Write layer_norm and rms_norm first" in cell_text(autograded_nb(graded, "blank"), "timing_report")


def test_hidden_tests_stay_hidden(graded: H.Graded) -> None:
    H.check_no_hidden_leak(graded)
    # a failing cell that holds hidden checks shows its behaviour and our worded message, no code, no traceback
    text = graded.feedback_text("mistake_layer_norm")
    marker = "(hidden test: layer_norm normalises each row with its mean and biased variance, as F.layer_norm)"
    assert marker in text
    after = text.split(marker, 1)[1][:800]
    assert "layer_norm(x, ones, zeros) on a 2 x 4 float64 example: 8 of 8 values differ" in after
    assert "Traceback" not in after and "_xr" not in after
