"""LMS downloads parsed as Canvas, Moodle and plain folders name them (no grading: fast)."""

from __future__ import annotations

import datetime as dt
import zipfile

import pytest

from regnorm_lab.course.late import PerDayPenalty, parse_time, resolve_submitted_at
from regnorm_lab.course.lms import canvas, moodle, plain
from regnorm_lab.course.lms.collect import detect, newest, read_download
from regnorm_lab.course.lms.records import Entry

NB = ["ps01_penalties"]
UTC = dt.timezone.utc


def _entry(member: str, hour: int = 12) -> Entry:
    return Entry(member, dt.datetime(2026, 10, 2, hour, 0, tzinfo=UTC), lambda: b"{}")


def test_canvas_names_give_user_id_late_marker_and_resubmission_number() -> None:
    files, skipped = canvas.parse([
        _entry("smithjohn_1001_90001_ps01_penalties.ipynb"),
        _entry("leegina_LATE_1002_90002_ps01_penalties-2.ipynb"),
        _entry("hank_m_1008_90008_ps01_penalties-1.ipynb"),
        _entry("smithjohn_1001_90003_notes.txt"),
        _entry("README.txt"),
    ], NB)
    got = {(f.student_id, f.file, f.late, f.attempt, f.feedback_key) for f in files}
    assert got == {
        ("1001", "ps01_penalties.ipynb", False, 0, "smithjohn_1001_90001"),
        ("1002", "ps01_penalties.ipynb", True, 2, "leegina_LATE_1002_90002"),
        ("1008", "ps01_penalties.ipynb", False, 1, "hank_m_1008_90008"),
    }
    reasons = {s.member: s.reason for s in skipped}
    assert set(reasons) == {"smithjohn_1001_90003_notes.txt", "README.txt"}
    assert "not a notebook (.txt)" in reasons["smithjohn_1001_90003_notes.txt"] and "1001" in reasons["smithjohn_1001_90003_notes.txt"]
    assert "Canvas" in reasons["README.txt"]


def test_a_dash_number_that_is_part_of_a_name_is_not_a_resubmission() -> None:
    assert canvas.split_resubmission("week-2.ipynb", NB) == ("week-2.ipynb", 0)
    assert canvas.split_resubmission("ps01_penalties-12.ipynb", NB) == ("ps01_penalties.ipynb", 12)


def test_moodle_folders_and_flat_names_give_participant_ids() -> None:
    files, skipped = moodle.parse([
        _entry("Gina Lee_2001_assignsubmission_file_/ps01_penalties.ipynb"),
        _entry("Hank M_Smith_2002_assignsubmission_file_ps01_penalties.ipynb"),
        _entry("Ann Bo_2003_assignsubmission_onlinetext_/onlinetext.html"),
        _entry("Ann Bo_2003_assignsubmission_file_/plot.png"),
        _entry("__MACOSX/._x"),
    ], NB)
    got = {(f.student_id, f.name, f.feedback_key) for f in files}
    assert got == {
        ("2001", "Gina Lee", "Gina Lee_2001_assignsubmission_file_"),
        ("2002", "Hank M_Smith", "Hank M_Smith_2002_assignsubmission_file_"),
    }
    reasons = {s.member: s.reason for s in skipped}
    assert "onlinetext" in reasons["Ann Bo_2003_assignsubmission_onlinetext_/onlinetext.html"]
    assert "not a notebook (.png)" in reasons["Ann Bo_2003_assignsubmission_file_/plot.png"]
    assert "metadata" in reasons["__MACOSX/._x"]


def test_plain_ids_are_never_cut_at_the_first_underscore() -> None:
    files, skipped = plain.parse([
        _entry("alice/ps01_penalties.ipynb"),
        _entry("bob/ps01_penalties/ps01_penalties.ipynb"),
        _entry("hank_m_1008_ps01_penalties.ipynb"),
        _entry("stray.ipynb"),
    ], NB, "ps01_penalties")
    assert sorted(f.student_id for f in files) == ["alice", "bob", "hank_m_1008"]
    assert [s.member for s in skipped] == ["stray.ipynb"]


def test_detect_and_newest_wins() -> None:
    assert detect(["Gina Lee_2001_assignsubmission_file_/a.ipynb", "x"]) == "moodle"
    assert detect(["smithjohn_1001_90001_ps01_penalties.ipynb"]) == "canvas"
    assert detect(["alice/ps01_penalties.ipynb"]) == "plain"
    files, _ = canvas.parse([
        _entry("smithjohn_1001_90001_ps01_penalties.ipynb", hour=9),
        _entry("smithjohn_1001_90001_ps01_penalties-1.ipynb", hour=11),
        _entry("smithjohn_1001_90001_ps01_penalties-2.ipynb", hour=10),
    ], NB)
    best, older = newest(files)
    assert best[("1001", "ps01_penalties.ipynb")].member.endswith("-1.ipynb")  # the latest time, not the largest suffix
    assert sorted(f.attempt for f in older) == [0, 2]


def test_zip_entry_times_are_read_in_the_given_zone(tmp_path) -> None:
    archive = tmp_path / "d.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr(zipfile.ZipInfo("smithjohn_1001_90001_ps01_penalties.ipynb", (2026, 10, 2, 23, 30, 0)), "{}")
    kind, files, skipped, _ = read_download(archive, NB, "ps01_penalties", zip_timezone=dt.timezone(dt.timedelta(hours=2)))
    assert kind == "canvas" and not skipped
    assert files[0].submitted_at == dt.datetime(2026, 10, 2, 21, 30, tzinfo=UTC)
    with pytest.raises(ValueError, match="lms"):
        read_download(archive, NB, "ps01_penalties", lms="blackboard")


def test_the_canvas_late_marker_decides_lateness() -> None:
    due = dt.datetime(2026, 10, 2, 12, 0, tzinfo=UTC)
    early, late_ = due - dt.timedelta(hours=1), due + dt.timedelta(hours=3)
    assert resolve_submitted_at(late_, True, due) == (late_, "")
    at, note = resolve_submitted_at(early, True, due)
    assert at > due and "LATE" in note
    at, note = resolve_submitted_at(late_, False, due)
    assert at == due and "extension" in note
    assert resolve_submitted_at(late_, None, due) == (late_, "")  # Moodle: the time alone decides


def test_per_day_penalty_counts_started_days_after_the_grace() -> None:
    p = PerDayPenalty(percent_per_day=10, grace_minutes=15, max_percent=50)
    assert p.late_submission_penalty("s", 20.0, 10 * 60) == 0.0
    assert p.late_submission_penalty("s", 20.0, 3600) == pytest.approx(2.0)       # day 1: 10 %
    assert p.late_submission_penalty("s", 20.0, 86400 + 1) == pytest.approx(4.0)  # day 2: 20 %
    assert p.late_submission_penalty("s", 20.0, 30 * 86400) == pytest.approx(10.0)  # capped at 50 %


def test_moodle_worksheet_times_parse_in_the_course_zone() -> None:
    assert parse_time("Friday, 2 October 2026, 3:04 PM", "Europe/Berlin") == dt.datetime(2026, 10, 2, 13, 4, tzinfo=UTC)
    with pytest.raises(ValueError, match="timezone"):
        parse_time("2026-10-02", "Mars/Olympus")


def test_feedback_names_carry_what_each_lms_reads_back() -> None:
    from regnorm_lab.course.feedback_zip import feedback_name

    canvas_files, _ = canvas.parse([_entry("leegina_LATE_1002_50003_ps01_penalties-2.ipynb"),
                                    _entry("smithjohn_1001_50001_ps01_penalties.ipynb")], NB)
    for f in canvas_files:
        name = feedback_name({"lms": "canvas", "member": f.member, "feedback_key": f.feedback_key}, f.student_id, "ps01_penalties.html")
        assert name.endswith(".html") and "/" not in name
        # Canvas's re-upload takes the first two all-digit parts of the name as user id and submission (file) id
        numbers = [p for p in name[: -len(".html")].split("_") if p.isdigit()]
        assert numbers[:2] == [f.student_id, f.member.split("_")[-3]]
    assert feedback_name({"lms": "canvas", "member": "leegina_LATE_1002_50003_ps01_penalties-2.ipynb"}, "1002",
                         "ps01_penalties.html") == "leegina_LATE_1002_50003_ps01_penalties-2.html"
    moodle_files, _ = moodle.parse([_entry("Gina Lee_2001_assignsubmission_file_/ps01_penalties.ipynb")], NB)
    rec = {"lms": "moodle", "member": moodle_files[0].member, "feedback_key": moodle_files[0].feedback_key}
    name = feedback_name(rec, "2001", "ps01_penalties.html")
    # Moodle's feedback import splits a folder name at "_" into fullname, participant id, plugin type, plugin name
    folder = name.split("/")[0]
    assert folder.split("_", 4)[1:4] == ["2001", "assignsubmission", "file"]
    assert feedback_name(None, "alice", "ps01_penalties.html") == "alice/ps01_penalties.html"
