"""A kernel that dies mid-notebook zeroes only what it broke (issue 14, item 3).

- :class:`~regnorm_lab.course.prewarm.PrewarmedExecute` keeps the outputs of the
  cells that ran before the death, marks the dying cell and every later code cell
  with an error output, and records the dying cell in the notebook's metadata
  (a record the submission itself carries is dropped);
- graded as a class (the real ``autograde`` command, one worker, student order):
  a ps01 submission whose 3rd answer cell calls ``os._exit(1)`` gets exactly the
  points of the test cells before that answer cell, one that sleeps past the
  sandbox's wall clock in that cell the same; the status report says ``kernel_died``
  and names the cell; the honest students graded after them get full marks.
"""

from __future__ import annotations

import pathlib

import pytest
from nbformat.v4 import new_code_cell, new_notebook

from regnorm_lab.course import kernel_death, pipeline, prewarm

from . import harness as H

A = "ps01_penalties"


def _notebook(cells: list[str]):
    nb = new_notebook(cells=[new_code_cell(src) for src in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


@pytest.mark.slow
def test_the_cells_before_a_kernel_death_keep_their_outputs(tmp_path: pathlib.Path) -> None:
    nb = _notebook(["print('one')", "x = 2\nx * 21", "import os\nprint('dying', flush=True)\nos._exit(1)", "print('never')", "", "x"])
    nb.metadata[kernel_death.KEY] = {"cell": "forged", "reason": "forged", "not_run": 0}  # a student's own record
    try:
        out, _ = prewarm.PrewarmedExecute(ahead=False).preprocess(nb, {"metadata": {"path": str(tmp_path)}})
    finally:
        prewarm._SPARE.close()
    cells = out.cells
    assert cells[0].outputs[0]["text"] == "one\n"
    assert cells[1].outputs[0]["data"]["text/plain"] == "42"
    died = [o for o in cells[2].outputs if o["output_type"] == "error"]
    assert len(died) == 1 and died[0]["ename"] == kernel_death.ENAME and "exited with code 1" in died[0]["evalue"]
    assert cells[2].execution_count is None and cells[1].execution_count == 2
    for c in (cells[3], cells[5]):  # later code cells: not run, an error output each
        assert [o["ename"] for o in c.outputs] == [kernel_death.ENAME] and "not run: the kernel died in cell 3" in c.outputs[0]["evalue"]
    assert cells[4].outputs == []  # an empty cell runs nothing either way
    assert kernel_death.recorded(out) == {"cell": "cell 3", "reason": "kernel exited with code 1", "not_run": 2}


def test_a_living_kernel_leaves_no_record(tmp_path: pathlib.Path) -> None:
    nb = _notebook(["1 + 1"])
    nb.metadata[kernel_death.KEY] = {"cell": "forged", "reason": "forged", "not_run": 0}
    try:
        out, _ = prewarm.PrewarmedExecute(ahead=False).preprocess(nb, {"metadata": {"path": str(tmp_path)}})
    finally:
        prewarm._SPARE.close()
    assert kernel_death.recorded(out) is None and out.cells[0].outputs[0]["data"]["text/plain"] == "2"


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> dict:
    course = H.copy_course(tmp_path_factory.mktemp("deaths"), [A])
    with open(course / "nbgrader_config.py", "a") as f:
        f.write("\nc.Sandbox.wall_seconds = 15\n")  # the sleeper is killed by the wall clock, not the cell timeout
    H.release(course, A)
    solution = H.solution_answers(H.EXERCISES, A)
    answers = H.functions_of(H.EXERCISES, A)
    third = answers[2]
    students = {
        "aa_honest": solution,
        "exit3": {**solution, third: "import os\nos._exit(1)"},
        "sleep3": {**solution, third: "import time\ntime.sleep(120)"},
        "zz_honest": solution,
    }
    for s, a in students.items():
        H.plant(course, s, A, a)
    statuses = {st.student_id: st for st in pipeline.autograde(course, A, timeout=60)}
    return {"course": course, "statuses": statuses, "third": third, "answers": answers}


def _before(third: str, answers: list[str]) -> set[str]:
    """Test cells of the functions whose answer cells come before ``third`` (their points survive)."""
    earlier = set(answers[: answers.index(third)])
    return {cell for cell, fn in H.test_cells_of(H.EXERCISES, A).items() if fn in earlier}


@pytest.mark.slow
@pytest.mark.parametrize("student", ["exit3", "sleep3"])
def test_a_dying_kernel_costs_exactly_the_cells_from_the_dying_one_on(graded: dict, student: str) -> None:
    st = graded["statuses"][student]
    cells = H.cell_scores(graded["course"], A, student)
    kept = _before(graded["third"], graded["answers"])
    assert kept and len(kept) < len(cells)
    for cell, (score, max_score) in cells.items():
        assert score == (max_score if cell in kept else 0.0), (cell, score, max_score)
    expected = sum(m for c, (_, m) in cells.items() if c in kept)
    assert st.status == "kernel_died" and st.score == expected and 0 < expected < 25, st
    assert f"the kernel died in {graded['third']}" in st.detail, st.detail
    why = "exited with code 1" if student == "exit3" else "wall-clock limit"
    assert why in st.detail and st.detail.count(why) == 1, st.detail  # said once, not again as a sandbox flag


@pytest.mark.slow
def test_the_rest_of_the_class_is_unaffected(graded: dict) -> None:
    for s in ("aa_honest", "zz_honest"):
        st = graded["statuses"][s]
        assert st.status == "graded" and st.score == 25.0 == H.total(H.cell_scores(graded["course"], A, s))[0], st


@pytest.mark.slow
def test_a_regraded_dying_kernel_still_gets_its_feedback(graded: dict) -> None:
    """``regrade`` (an appeal) makes feedback for a mid-notebook death too: the student must learn where it died."""
    from regnorm_lab.course import manual

    course = graded["course"]
    (st,) = manual.regrade(course, A, ["exit3"], timeout=60)
    assert st.status == "kernel_died" and st.score == graded["statuses"]["exit3"].score
    pages = list((course / "feedback" / "exit3" / A).glob("*.html"))
    assert len(pages) == 1 and "kernel died" in pages[0].read_text().lower()
