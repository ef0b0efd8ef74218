"""Every assignment's source notebook follows the course template and matches its authoring description (fast)."""

from __future__ import annotations

import json
import pathlib
import re

import nbformat
import pytest

import regnorm_lab
from regnorm_lab.course import authoring, cases
from regnorm_lab.course.clock import speed_cells
from regnorm_lab.course.prewarm import preload_modules
from regnorm_lab.course.sandbox import probe_only
from regnorm_lab.course.preprocessors import behaviour_of, split_hidden

from . import harness as H

SPECS = sorted(p.stem for p in (H.EXERCISES / "authoring").glob("ps*.py"))
CONTRACT = (pathlib.Path("/work/shared/exercise-api.md"), H.REPO / "docs" / "exercise-api.md")


def _nb(assignment: str):
    return nbformat.read(str(H.EXERCISES / "source" / assignment / f"{assignment}.ipynb"), as_version=4)


def test_the_three_first_assignments_exist() -> None:
    assert {"ps01_penalties", "ps02_dropout", "ps03_feature_scaling"} <= set(SPECS)


@pytest.mark.parametrize("assignment", SPECS)
def test_source_notebook_is_the_built_description(assignment: str) -> None:
    built = authoring.build_notebook(authoring.load_spec(H.EXERCISES, assignment).CELLS)
    on_disk = _nb(assignment)
    assert json.loads(nbformat.writes(built)) == json.loads(nbformat.writes(on_disk)), (
        f"exercises/source/{assignment} is stale: run python -m regnorm_lab.course build-sources {assignment}"
    )


@pytest.mark.parametrize("assignment", SPECS)
def test_notebook_follows_the_template(assignment: str) -> None:
    nb = _nb(assignment)
    nbformat.validate(nb)
    meta = [c.metadata.get("nbgrader") for c in nb.cells]
    # a link to the book chapter in the first markdown cell
    assert nb.cells[0].cell_type == "markdown" and re.search(r"book/\d\d_\w+\.md", nb.cells[0].source)
    # a locked setup cell importing numpy and the course's probe, and no other course code
    setup = [c for c, m in zip(nb.cells, meta) if m and m["grade_id"] == "setup"]
    assert len(setup) == 1 and setup[0].metadata["nbgrader"]["locked"]
    assert cases.converted(assignment)
    assert f'P = probe.session("{assignment}")' in setup[0].source
    assert probe_only(preload_modules(nb)), f"{assignment}'s locked cells import course code besides the probe"
    answers = [c for c, m in zip(nb.cells, meta) if m and m["solution"] and c.cell_type == "code"]
    tests = [c for c, m in zip(nb.cells, meta) if m and m["grade"] and not m["solution"]]
    names = [c.metadata["nbgrader"]["grade_id"] for c in answers]
    # one answer cell per contract function, named exactly like the reference
    assert len(names) == len(set(names)) and all(n in regnorm_lab.__all__ for n in names)
    for cell in answers:
        assert "### BEGIN SOLUTION" in cell.source and "### END SOLUTION" in cell.source
    hidden = 0
    for cell in tests:
        m = cell.metadata["nbgrader"]
        assert m["locked"] and m["points"] > 0 and m["grade_id"].startswith("test_")
        assert behaviour_of(cell.source) != "an unnamed behaviour", f"{m['grade_id']} has no '# Test:' line"
        # the cell runs its own checks (the grader knows them by the cell's grade_id); P.speed: a speed cell
        fn = re.search(r"P\.(?:run|speed)\('(\w+)', (\w+)", cell.source)
        assert fn and fn.group(1) == m["grade_id"] and fn.group(2) in names, f"{m['grade_id']} does not run its checks"
        assert "regnorm_lab" not in cell.source and "G." not in cell.source
        assert ("P.speed(" in cell.source) == (m["grade_id"] in speed_cells(assignment))
        hidden += bool(split_hidden(cell.source)[1])
    # every function has tests, and some behaviours are also checked by hidden tests
    assert {re.search(r"P\.(?:run|speed)\('\w+', (\w+)", c.source).group(1) for c in tests} == set(names)
    assert hidden >= len(names)


def test_written_and_free_cells() -> None:
    nb = authoring.build_notebook([
        authoring.written("written_answer", 3, "### BEGIN SOLUTION\nThey add up.\n### END SOLUTION"),
        authoring.free("x = 1"),
    ])
    w, f = nb.cells
    assert w.cell_type == "markdown" and w.metadata["nbgrader"]["grade"] and w.metadata["nbgrader"]["solution"]
    assert w.metadata["nbgrader"]["points"] == 3.0 and not w.metadata["nbgrader"]["locked"]
    assert f.cell_type == "code" and "nbgrader" not in f.metadata


def test_probe_cells_are_written_from_the_cases() -> None:
    cell = authoring.probe_test("test_batchnorm_backward_dx", "dx is right", 4, function="batchnorm_backward", assignment="ps04_batch_norm")
    assert cell.source.split("\n") == [
        "# Test: dx is right",
        "P.run('test_batchnorm_backward_dx', batchnorm_backward, batchnorm_forward)",
        "### BEGIN HIDDEN TESTS",
        "P.run('test_batchnorm_backward_dx', batchnorm_backward, batchnorm_forward, hidden=True)",
        "### END HIDDEN TESTS",
    ]
    with pytest.raises(ValueError, match="has no checks"):
        authoring.probe_test("test_nothing", "x", 1, function="l1_penalty", assignment="ps01_penalties")
    assert 'P = probe.session("ps01_penalties")' in authoring.probe_setup("ps01_penalties").source


def test_speed_cells_call_the_grader_timed_probe() -> None:
    cell = authoring.probe_test("test_rms_norm_speed", "fast", 2, function="rms_norm", assignment="ps07_gpu_timing")
    assert cell.source.split("\n") == ["# Test: fast", "P.speed('test_rms_norm_speed', rms_norm)"]


def test_builder_rejects_bad_cells() -> None:
    with pytest.raises(ValueError, match="grade_id"):
        authoring.probe_test("l1", "x", 1, function="l1_penalty", assignment="ps01_penalties")
    with pytest.raises(ValueError, match="points"):
        authoring.probe_test("test_l1_penalty_forward", "x", 0, function="l1_penalty", assignment="ps01_penalties")
    with pytest.raises(ValueError, match="used twice"):
        authoring.build_notebook([authoring.setup("import numpy"), authoring.setup("import numpy")])
    assert not hasattr(authoring, "test") and not hasattr(authoring, "SETUP_CODE")  # the in-kernel checks are gone
