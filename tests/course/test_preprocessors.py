"""Unit tests of the course's nbgrader preprocessors and the status CSV (fast, no kernels)."""

from __future__ import annotations

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_output
from nbgrader import utils

from regnorm_lab.course.preprocessors import HideHiddenTests, StderrToStdout, behaviour_of, split_hidden
from regnorm_lab.course.status import StudentStatus, read_status, write_status


def _grade_cell(source: str, outputs: list) -> nbformat.NotebookNode:
    cell = new_code_cell(source)
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True, "points": 2.0, "grade_id": "test_x", "schema_version": 3}
    cell.outputs = outputs
    return cell


def test_stderr_becomes_a_visible_warning_and_the_cell_keeps_its_points() -> None:
    cell = _grade_cell("# Test: x\nf()", [new_output("stream", name="stderr", text="UserWarning: careful\n")])
    assert utils.determine_grade(cell) == (0, 2.0)  # nbgrader alone: a warning costs the points
    cell, _ = StderrToStdout().preprocess_cell(cell, {}, 0)
    assert utils.determine_grade(cell) == (2.0, 2.0)
    assert cell.outputs[0].name == "stdout" and "UserWarning: careful" in cell.outputs[0].text and "warning" in cell.outputs[0].text


def test_errors_still_fail_and_results_are_not_partial_credit() -> None:
    err = new_output("error", ename="CheckFailed", evalue="wrong", traceback=["CheckFailed: wrong"])
    cell, _ = StderrToStdout().preprocess_cell(_grade_cell("f()", [new_output("stream", name="stderr", text="w\n"), err]), {}, 0)
    assert utils.determine_grade(cell) == (0, 2.0)
    # a value on the last line would be nbgrader partial credit (and crash above the points)
    res = new_output("execute_result", data={"text/plain": "7.5"}, execution_count=1)
    cell, _ = StderrToStdout().preprocess_cell(_grade_cell("f()", [res]), {}, 0)
    assert utils.determine_grade(cell) == (2.0, 2.0)


def test_answer_cells_are_left_alone() -> None:
    cell = new_code_cell("def f(): pass")
    cell.metadata["nbgrader"] = {"grade": False, "solution": True, "locked": False, "grade_id": "f", "schema_version": 3}
    cell.outputs = [new_output("stream", name="stderr", text="x")]
    cell, _ = StderrToStdout().preprocess_cell(cell, {}, 0)
    assert cell.outputs[0].name == "stderr"


SOURCE = """# Test: l1_penalty matches the reference
G.assert_own_work(l1_penalty, 'l1_penalty')
G.check_close(l1_penalty(np.ones(2), 1.0), 2.0, "visible")
### BEGIN HIDDEN TESTS
_secret_w = np.arange(12.0).reshape(3, 4) - 5.5
G.check_close(l1_penalty(_secret_w, 0.25), 9.0, "hidden case")
### END HIDDEN TESTS"""


def test_hidden_test_source_and_traceback_are_replaced_by_the_behaviour_and_our_message() -> None:
    ours = new_output("error", ename="CheckFailed", evalue="hidden case: expected 9, got 8", traceback=["...", "_secret_w = np.arange(12.0)", "CheckFailed: hidden case"])
    cell, _ = HideHiddenTests().preprocess_cell(_grade_cell(SOURCE, [ours]), {}, 0)
    assert "_secret_w" not in cell.source and "(hidden test: l1_penalty matches the reference)" in cell.source
    assert 'G.check_close(l1_penalty(np.ones(2), 1.0), 2.0, "visible")' in cell.source  # the visible part stays
    (out,) = cell.outputs
    assert out.evalue == "hidden case: expected 9, got 8"
    assert all("_secret_w" not in t for t in out.traceback)


def test_other_errors_and_forged_messages_reveal_nothing() -> None:
    forged = new_output("error", ename="CheckFailed", evalue='leak: G.check_close(l1_penalty(_secret_w, 0.25), 9.0, "hidden case")', traceback=[])
    printed = new_output("stream", name="stdout", text="_secret_w = np.arange(12.0).reshape(3, 4) - 5.5\nharmless\n")
    other = new_output("error", ename="NameError", evalue="name '_secret_w' is not defined", traceback=["_secret_w"])
    cell, _ = HideHiddenTests().preprocess_cell(_grade_cell(SOURCE, [printed, forged, other]), {}, 0)
    text = repr(cell.outputs)
    assert "_secret_w" not in text and "9.0" not in text
    assert "harmless" in text and "NameError" in text


def test_behaviour_and_split_helpers() -> None:
    assert behaviour_of(SOURCE) == "l1_penalty matches the reference"
    assert behaviour_of("pass") == "an unnamed behaviour"
    visible, hidden = split_hidden(SOURCE)
    assert "_secret_w" not in visible and len(hidden) == 2


def test_status_csv_roundtrip_and_validation(tmp_path) -> None:
    rows = [StudentStatus("ann", "graded", 25.0, 25.0, ""), StudentStatus("bob", "unreadable", 0.0, 25.0, "bad JSON, with a comma")]
    path = write_status(tmp_path / "reports" / "ps01_status.csv", rows)
    assert read_status(path) == rows
    assert path.read_text().splitlines()[0] == "student_id,status,score,max_score,detail"
    with pytest.raises(ValueError, match="status"):
        StudentStatus("x", "lost", None, None)


def test_feedback_says_hidden_only_when_the_hidden_part_failed() -> None:
    source = "# Test: f works\nP.run('test_x', f)\n### BEGIN HIDDEN TESTS\nP.run('test_x', f, hidden=True)\n### END HIDDEN TESTS"
    visible = new_output("error", ename="Test failed", evalue="f(1): expected 2, got 3", traceback=["Test failed: f(1): expected 2, got 3"])
    cell, _ = HideHiddenTests().preprocess_cell(_grade_cell(source, [visible]), {}, 0)
    assert cell.outputs[0].ename == "Test failed" and "Hidden" not in cell.outputs[0].traceback[0]
    hidden = new_output("error", ename="Hidden test failed", evalue="f on a (3, 4) array: expected 1, got 0", traceback=["x"])
    cell, _ = HideHiddenTests().preprocess_cell(_grade_cell(source, [hidden]), {}, 0)
    assert cell.outputs[0].ename == "Hidden test failed (f works)"
    assert cell.outputs[0].traceback == ["Hidden test failed (f works): f on a (3, 4) array: expected 1, got 0"]
    assert "hidden=True" not in cell.source


def test_a_failed_check_is_its_whole_message_without_helper_frames() -> None:
    long = "l1_penalty modified its argument 1 in place; work on a copy (inputs are never modified) " * 2
    frames = ["---------", "Cell In[7], line 2", "File /work/main/regnorm_lab/course/probe.py:263, in Session.run", f"CheckFailed: {long}"]
    err = new_output("error", ename="CheckFailed", evalue=long, traceback=frames)
    cell, _ = StderrToStdout().preprocess_cell(_grade_cell("P.run('test_x', f)", [err]), {}, 0)
    lines = cell.outputs[0].traceback
    assert all(len(line) <= 80 for line in lines) and " ".join(lines) == f"CheckFailed: {' '.join(long.split())}"
    assert not any("probe.py" in line for line in lines)
