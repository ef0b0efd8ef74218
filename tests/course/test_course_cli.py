"""The instructor CLI end to end on a copy of the course: collect an LMS zip, autograde, feedback, export, validate."""

from __future__ import annotations

import csv
import zipfile

import nbformat
import pytest

from regnorm_lab.course import cli, pipeline

from . import harness as H

A = "ps01_penalties"


def test_help_lists_every_command(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for command in ("build-sources", "release", "collect", "autograde", "feedback", "export", "validate"):
        assert command in out


def test_unknown_assignment_is_a_clear_error(tmp_path, capsys) -> None:
    course = H.copy_course(tmp_path, [A])
    assert cli.main(["--course", str(course), "release", "ps99_nothing"]) == 2
    assert "ps99_nothing" in capsys.readouterr().err


def test_unknown_assignment_is_an_error_for_every_command(tmp_path, capsys) -> None:
    course = H.copy_course(tmp_path, [A])
    for argv in (["autograde", "ps09_nope"], ["feedback", "ps09_nope"], ["grade", "ps09_nope"], ["report", "ps09_nope"],
                 ["collect", str(tmp_path), "ps09_nope"], ["export", "--assignment", "ps09_nope"], ["manual", "ps09_nope"],
                 ["build-sources", "ps09_nope"]):
        assert cli.main(["--course", str(course), *argv]) == 2, argv
        assert "ps09_nope" in capsys.readouterr().err, argv
    assert not (course / "reports").exists() and not (course / "gradebook.db").exists()


def test_course_is_accepted_after_the_command(tmp_path, capsys) -> None:
    course = H.copy_course(tmp_path, [A])
    assert cli.main(["autograde", "ps09_nope", "--course", str(course)]) == 2
    assert str(course) in capsys.readouterr().err  # the folder given after the command was used
    args = cli.build_parser().parse_args(["--course", "/x", "export"])
    assert args.course == "/x"  # and one given before it is not reset by the subcommand
    args = cli.build_parser().parse_args(["export", "--course", "/y", "--format", "canvas"])
    assert args.course == "/y" and args.format == "canvas"


def test_validate_without_nbgrader_says_what_to_install(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setitem(__import__("sys").modules, "nbgrader", None)  # as on Colab: import nbgrader fails
    assert cli.main(["validate", str(tmp_path / "ps01_penalties.ipynb")]) == 2
    err = capsys.readouterr().err
    assert "nbgrader" in err and 'pip install "regnorm-lab[student]"' in err and "Traceback" not in err


def test_config_paths_follow_the_course_folder(tmp_path, monkeypatch) -> None:
    course = H.copy_course(tmp_path, [A])
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("REGNORM_DB_URL", raising=False)
    cfg = pipeline.load_config(course)
    assert cfg.CourseDirectory.root == str(course)
    assert cfg.CourseDirectory.db_url == f"sqlite:///{course}/gradebook.db"
    assert cfg.CourseDirectory.course_id == "regnorm-lab"
    assert cfg.Exchange.root == str(course / "exchange")
    assert cfg.Execute.timeout == 60 and cfg.Execute.kernel_name == "python3"
    monkeypatch.setenv("REGNORM_EXCHANGE", str(tmp_path / "xchg"))
    monkeypatch.setenv("REGNORM_CELL_TIMEOUT", "7")
    monkeypatch.setenv("REGNORM_DB_URL", "postgresql://grader@db.example.org/regnorm")
    cfg = pipeline.load_config(course)
    assert cfg.Exchange.root == str(tmp_path / "xchg") and cfg.Execute.timeout == 7
    assert cfg.CourseDirectory.db_url == "postgresql://grader@db.example.org/regnorm"


@pytest.mark.slow
def test_collect_autograde_feedback_export_validate(tmp_path, capsys) -> None:
    course = H.copy_course(tmp_path, [A])
    assert cli.main(["--course", str(course), "release", A]) == 0
    release_nb = course / "release" / A / f"{A}.ipynb"
    solution = nbformat.read(str(release_nb), as_version=4)
    answers = H.solution_answers(course, A)
    for cell in solution.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in answers:
            cell.source = answers[gid]
    archive = tmp_path / "lms_download.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr(f"alice/{A}.ipynb", nbformat.writes(solution))
        z.writestr(f"bob/{A}.ipynb", release_nb.read_text())
        z.writestr(f"carol/{A}.ipynb", "{ not a notebook")
    assert cli.main(["--course", str(course), "collect", str(archive), A]) == 0
    for student in ("alice", "bob", "carol"):
        assert (course / "submitted" / student / A / f"{A}.ipynb").exists(), student
    assert cli.main(["--course", str(course), "autograde", A, "--force", "--timeout", "30"]) == 0
    out = capsys.readouterr().out
    assert "1 unreadable" in out and "2 graded" in out
    assert cli.main(["--course", str(course), "feedback", A]) == 0
    assert (course / "feedback" / "alice" / A / f"{A}.html").exists()
    target = tmp_path / "grades.csv"
    assert cli.main(["--course", str(course), "export", "--to", str(target)]) == 0
    with open(target, newline="") as f:
        rows = {r["student_id"]: r for r in csv.DictReader(f)}
    assert float(rows["alice"]["score"]) == 25.0 and rows["alice"]["status"] == "graded"
    assert float(rows["bob"]["score"]) == 0.0 and rows["bob"]["status"] == "graded"
    assert float(rows["carol"]["score"]) == 0.0 and rows["carol"]["status"] == "unreadable"
    # validate, as a student runs it (no course folder): exit code 1 and a clear message on the untouched release
    student_home = tmp_path / "student"
    student_home.mkdir()
    assert cli.main(["--course", str(student_home), "validate", str(release_nb)]) == 1
    assert "NotImplementedError" in capsys.readouterr().out
