"""Grades into Canvas's gradebook CSV, Moodle's grading worksheet and the long CSV, from a hand-built gradebook (fast)."""

from __future__ import annotations

import csv
import datetime as dt

import pytest

from regnorm_lab.course import export_formats as X
from regnorm_lab.course import pipeline
from regnorm_lab.course.status import StudentStatus, write_status

from . import harness as H

A = "ps01_penalties"


pytestmark = pytest.mark.slow  # one nbgrader gradebook (alembic migrations) for the module: ~15 s


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A course whose gradebook holds A (max 20: two cells of 10) and four submissions."""
    from nbgrader.api import Gradebook

    course = H.copy_course(tmp_path_factory.mktemp("export"), [A])
    cfg = pipeline.load_config(course)
    pipeline.venv_on_path()
    scores = {"1001": (10, 10), "1002": (10, 5), "1003": (0, 0), "9999": (4, 4)}
    with Gradebook(cfg.CourseDirectory.db_url, "regnorm-lab") as gb:
        gb.add_assignment(A, duedate=dt.datetime(2026, 10, 2, 22, 0))
        gb.add_notebook(A, A)
        for cell in ("c1", "c2"):
            gb.add_grade_cell(cell, A, A, max_score=10, cell_type="code")
        for sid, (s1, s2) in scores.items():
            gb.add_student(sid, last_name=f"Name, {sid}")
            sub = gb.add_submission(A, sid, timestamp=dt.datetime(2026, 10, 2, 23 if sid == "1002" else 20, 0))
            for g in sub.notebooks[0].grades:
                g.auto_score = s1 if g.name == "c1" else s2
            if sid == "1002":
                sub.notebooks[0].late_submission_penalty = 1.5
        gb.add_student("1004")  # in the roster, never submitted
        gb.db.commit()
    write_status(course / "reports" / f"{A}_status.csv", [StudentStatus("1003", "unreadable", 0.0, 20.0, "broken JSON")])
    return course


def _write(path, rows, bom=False):
    with open(path, "w", newline="", encoding="utf-8-sig" if bom else "utf-8") as f:
        csv.writer(f).writerows(rows)
    return path


def _read(path):
    with open(path, newline="", encoding="utf-8-sig") as f:
        return list(csv.reader(f))


def test_canvas_template_keeps_its_columns_and_gets_the_scores(course, tmp_path) -> None:
    roster = _write(tmp_path / "canvas.csv", [
        ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", f"{A} (501)", "PS 2 (502)"],
        ["    Points Possible", "", "", "", "", "20", "10"],
        ["Smith, John", "1001", "s1", "jsmith", "Sec 1", "", "7"],
        ["Lee, Gina", "1002", "s2", "glee", "Sec 1", "", ""],
        ["Bo, Ann", "1003", "s3", "abo", "Sec 2", "", ""],
        ["Doe, Jane", "1004", "s4", "jdoe", "Sec 2", "3", ""],
    ])
    res = X.export_canvas(course, A, roster, tmp_path / "out.csv", missing="zero")
    rows = _read(tmp_path / "out.csv")
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", f"{A} (501)", "PS 2 (502)"]
    assert rows[1][5] == "20"
    got = {r[1]: (r[5], r[6]) for r in rows[2:]}
    # 1002: 15 of 20 minus the 1.5 late penalty; 1003 unreadable -> 0; 1004 no submission -> 0 (missing="zero")
    assert got == {"1001": ("20", "7"), "1002": ("13.5", ""), "1003": ("0", ""), "1004": ("0", "")}
    assert res.not_in_roster == ["9999"] and res.without_submission == ["1004"] and res.scale is None


def test_canvas_column_by_title_scaling_and_clear_errors(course, tmp_path) -> None:
    roster = _write(tmp_path / "canvas.csv", [
        ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Penalties (77)"],
        ["    Points Possible", "", "", "", "", "100"],
        ["Smith, John", "1001", "", "", "", ""],
        ["Doe, Jane", "1004", "", "", "", "55"],
    ])
    res = X.export_canvas(course, A, roster, tmp_path / "out.csv", column="Penalties")
    got = {r[1]: r[5] for r in _read(tmp_path / "out.csv")[2:]}
    assert got == {"1001": "100", "1004": ""} and res.scale == pytest.approx(5.0)
    with pytest.raises(ValueError, match=r"Penalties \(77\)"):
        X.export_canvas(course, A, roster, tmp_path / "o.csv")
    with pytest.raises(ValueError, match="missing"):
        X.export_canvas(course, A, roster, tmp_path / "o.csv", column="Penalties", missing="drop")
    with pytest.raises(ValueError, match="not a Canvas gradebook"):
        X.export_canvas(course, A, _write(tmp_path / "bad.csv", [["Name", "Grade"]]), tmp_path / "o.csv")


def test_moodle_worksheet_gets_grade_and_a_feedback_line(course, tmp_path) -> None:
    header = ["Identifier", "Full name", "Email address", "Status", "Grade", "Maximum Grade", "Grade can be changed",
              "Last modified (submission)", "Last modified (grade)", "Feedback comments"]
    roster = _write(tmp_path / "ws.csv", [
        header,
        ["Participant 1001", "John Smith", "j@x.org", "Submitted for grading", "", "20.00", "Yes", "Friday, 2 October 2026, 8:00 PM", "-", ""],
        ["Participant 1002", "Gina Lee", "g@x.org", "Submitted for grading", "", "20.00", "Yes", "Friday, 2 October 2026, 11:00 PM", "-", ""],
        ["Participant 1003", "Ann Bo", "a@x.org", "Submitted for grading", "", "20.00", "No", "-", "-", "kept"],
        ["Participant 1004", "Jane Doe", "d@x.org", "No submission", "", "20.00", "Yes", "-", "-", ""],
    ], bom=True)
    res = X.export_moodle(course, A, roster, tmp_path / "out.csv")
    assert (tmp_path / "out.csv").read_bytes().startswith(b"\xef\xbb\xbf")  # Moodle's own encoding kept
    rows = {r[0]: dict(zip(header, r)) for r in _read(tmp_path / "out.csv")[1:]}
    assert rows["Participant 1001"]["Grade"] == "20.00"
    assert rows["Participant 1002"]["Grade"] == "13.50"
    assert "late penalty -1.5" in rows["Participant 1002"]["Feedback comments"]
    assert rows["Participant 1003"]["Grade"] == "" and rows["Participant 1003"]["Feedback comments"] == "kept"
    assert rows["Participant 1004"]["Grade"] == "" and "no submission" in rows["Participant 1004"]["Feedback comments"]
    assert res.locked == ["1003"] and res.not_in_roster == ["9999"]


def test_long_csv_is_quoted_stable_and_for_one_assignment(course, tmp_path) -> None:
    X.export_long(course, tmp_path / "a.csv", [A])
    X.export_long(course, tmp_path / "b.csv", [A])
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    with open(tmp_path / "a.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["student_id"] for r in rows] == ["1001", "1002", "1003", "1004", "9999"]
    by = {r["student_id"]: r for r in rows}
    assert by["1001"]["last_name"] == "Name, 1001"  # a comma inside a quoted field
    assert (by["1002"]["raw_score"], by["1002"]["late_submission_penalty"], by["1002"]["score"]) == ("15", "1.5", "13.5")
    assert by["1003"]["status"] == "unreadable" and by["1004"]["status"] == "not_submitted"
    assert '"Name, 1001"' in (tmp_path / "a.csv").read_text()
    with pytest.raises(ValueError, match="ps09_nope"):
        X.export_long(course, tmp_path / "c.csv", ["ps09_nope"])


def test_long_csv_takes_names_the_gradebook_lacks_from_a_roster(course, tmp_path) -> None:
    canvas = _write(tmp_path / "canvas.csv", [
        ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", f"{A} (501)"],
        ["    Points Possible", "", "", "", "", "20"],
        ["Smith, John", "1001", "s1", "jsmith@uni.edu", "Sec 1", ""],
        ["Doe, Jane", "1004", "s4", "jdoe", "Sec 2", ""],
    ])
    X.export_long(course, tmp_path / "c.csv", [A], roster=canvas)
    with open(tmp_path / "c.csv", newline="") as f:
        by = {r["student_id"]: r for r in csv.DictReader(f)}
    # the gradebook's own name wins; 1004 had none and gets the roster's (no address: its login is not one)
    assert (by["1001"]["last_name"], by["1001"]["first_name"]) == ("Name, 1001", "")
    assert (by["1004"]["last_name"], by["1004"]["first_name"], by["1004"]["email"]) == ("Doe", "Jane", "")
    assert by["9999"]["first_name"] == "" and by["9999"]["last_name"] == "Name, 9999"  # not in the roster: unchanged

    moodle = _write(tmp_path / "ws.csv", [
        ["Identifier", "Full name", "Email address", "Status", "Grade"],
        ["Participant 1004", "Mary Ann Doe", "d@x.org", "No submission", ""],
    ], bom=True)
    X.export_long(course, tmp_path / "m.csv", [A], roster=moodle)
    with open(tmp_path / "m.csv", newline="") as f:
        by = {r["student_id"]: r for r in csv.DictReader(f)}
    assert (by["1004"]["last_name"], by["1004"]["first_name"], by["1004"]["email"]) == ("Doe", "Mary Ann", "d@x.org")
    with pytest.raises(ValueError, match="neither a Canvas gradebook CSV"):
        X.export_long(course, tmp_path / "x.csv", [A], roster=_write(tmp_path / "bad.csv", [["Name", "Grade"]]))
