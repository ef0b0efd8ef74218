"""A hostile class graded by the real ``autograde`` command: every attack is blocked or costs only its author.

Each attacker submits the same answers as the honest ``base`` student (the
solution with one planted mistake, so that a raised score would show) plus one
attack in another answer cell. Honest students are graded before and after
them (one worker grades in student order). Afterwards: no attacker scores more
than ``base``; the honest students score exactly their own scores; the gradebook
holds no row a student's code wrote; nothing was written in the course folder;
the test's loopback server saw no connection; no secret of the grader's
environment and no solution reached an output.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import threading

import pytest

from regnorm_lab.course import cli

from . import harness as H

pytestmark = pytest.mark.slow
A = "ps01_penalties"
SPEC = H.spec(H.EXERCISES, A)
SOLUTION = H.solution_answers(H.EXERCISES, A)
MISTAKE = "l2_penalty"
BASE = {**SOLUTION, MISTAKE: SPEC.MISTAKES[MISTAKE][0]}
SECRET = "s3cr3t-grader-token-4711"


def attack(code: str, cell: str = "l1_grad") -> dict:
    """The base answers with ``code`` run at the end of answer cell ``cell`` (its function still defined)."""
    return {"answers": {**BASE, cell: BASE[cell] + "\n\n" + code.strip("\n") + "\n"}}


def attacks(course: str, port: int) -> dict[str, dict]:
    db = os.path.join(course, "gradebook.db")
    return {
        # (i) rewrite every grade of the class through sqlite, by absolute and relative path
        "atk_sql_grades": attack(f"""
import sqlite3
for _p in [{db!r}, "../../../gradebook.db", "../../gradebook.db"]:
    try:
        _c = sqlite3.connect(_p); _c.execute("UPDATE grade SET extra_credit = 5"); _c.commit(); print("UPDATED", _p)
    except Exception as _e:
        print("sqlite:", type(_e).__name__, _e)
"""),
        # (ii) poison the stored test cells so later autogrades run no hidden tests
        "atk_sql_cells": attack(f"""
import sqlite3
_c = sqlite3.connect({db!r})
_c.execute("UPDATE source_cell SET source = 'pass'"); _c.commit()
"""),
        # (iii) read the instructor's source notebook (solutions, hidden tests), list the course
        "atk_read_source": attack(f"""
import glob, os
for _p in glob.glob({course!r} + "/source/*/*.ipynb") + glob.glob("../../../source/*/*.ipynb"):
    print(open(_p).read())
for _d in [{course!r}, "..", "../..", "../../.."]:
    try:
        print("LISTING", _d, os.listdir(_d))
    except Exception as _e:
        print("list:", type(_e).__name__, _e)
"""),
        # (iv) write into the course folder, another student's submission and outside its own folder
        "atk_write": attack(f"""
for _p in [{course!r} + "/pwned.txt", {course!r} + "/submitted/zz_honest/{A}/{A}.ipynb", "../pwned.txt", "/tmp/../pwned.txt"]:
    try:
        open(_p, "w").write("pwned"); print("WROTE", _p)
    except Exception as _e:
        print("write:", type(_e).__name__, _e)
"""),
        # (v) a service on the grading machine's loopback
        "atk_socket": attack(f"""
import socket
_s = socket.create_connection(("127.0.0.1", {port}), timeout=3)
_s.sendall(b"pwned")
"""),
        # (vi) 6 GiB
        "atk_memory": attack("""
import numpy as _np
_big = _np.ones(6 * 2**30 // 8)
"""),
        # (vii) fork many processes (kept alive), then kill every process it may signal
        "atk_fork": attack("""
import os, time
_n = 0
try:
    for _ in range(2000):
        if os.fork() == 0:
            time.sleep(3600)
            os._exit(0)
        _n += 1
except OSError as _e:
    print("fork stopped after", _n, type(_e).__name__, _e)
"""),
        # (vii) kill the grader: the nearest multiprocessing worker among its ancestors, then its parent
        "atk_kill_parent": attack("""
import os, signal
_pid = os.getppid()
while _pid > 1:
    try:
        with open(f"/proc/{_pid}/cmdline", "rb") as _f:
            if b"spawn_main" in _f.read():
                os.kill(_pid, signal.SIGKILL)
        with open(f"/proc/{_pid}/stat") as _f:
            _pid = int(_f.read().rsplit(")", 1)[1].split()[1])
    except Exception as _e:
        print("kill:", type(_e).__name__, _e)
        break
try:
    os.kill(os.getppid(), signal.SIGKILL)
except Exception as _e:
    print("kill parent:", type(_e).__name__, _e)
"""),
        # (viii) the grader's environment: database URL, secrets
        "atk_env": attack("""
import os
print(dict(os.environ))
"""),
    }


class _Server:
    """A loopback TCP service of the grading machine; records every connection it accepts."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.hits: list[bytes] = []
        self.stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            conn.settimeout(1)
            try:
                self.hits.append(conn.recv(100) or b"(connected)")
            except OSError:
                self.hits.append(b"(connected)")
            conn.close()

    def close(self) -> None:
        self.stop = True
        self.thread.join()
        self.sock.close()


def _rows(db: str, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as con:
        return sorted(con.execute(sql).fetchall())


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> dict:
    course = H.copy_course(tmp_path_factory.mktemp("hostile"), [A])
    H.release(course, A)
    db = str(course / "gradebook.db")
    cells_before = _rows(db, "SELECT name, source, checksum FROM source_cell")
    server = _Server()
    os.environ["REGNORM_TEST_SECRET"] = SECRET  # the workers inherit the grader's environment
    try:
        honest = {"aa_honest": {"answers": SOLUTION}, "ref_base": {"answers": BASE}, "zz_honest": {"answers": SOLUTION},
                  "zz_mistake": {"answers": {**SOLUTION, "soft_threshold": SPEC.MISTAKES["soft_threshold"][0]}}}
        class_ = {**honest, **attacks(str(course), server.port)}
        for student, kwargs in class_.items():
            H.plant(course, student, A, **kwargs)
        code = cli.main(["--course", str(course), "autograde", A, "--timeout", "20"])
    finally:
        os.environ.pop("REGNORM_TEST_SECRET", None)
        server.close()
    from regnorm_lab.course.status import read_status

    statuses = {s.student_id: s for s in read_status(course / "reports" / f"{A}_status.csv")}
    return {"course": course, "code": code, "statuses": statuses, "server": server, "class": class_,
            "cells_before": cells_before, "db": db}


def _score(g: dict, student: str) -> float:
    return H.total(H.cell_scores(g["course"], A, student))[0]


def _answer_outputs(g: dict, student: str) -> str:
    """The text of every output of the student's autograded notebook (not the cell sources)."""
    import nbformat

    nb = nbformat.read(str(g["course"] / "autograded" / student / A / f"{A}.ipynb"), as_version=4)
    parts = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            parts.append(str(o.get("text", "")) + str(o.get("evalue", "")) + str(o.get("data", "")))
    return "\n".join(parts)


def test_the_class_is_graded_and_honest_students_get_exactly_their_scores(graded: dict) -> None:
    assert graded["code"] == 0
    st = graded["statuses"]
    assert set(st) == set(graded["class"])
    for s in ("aa_honest", "zz_honest"):
        assert st[s].status == "graded" and st[s].score == 25.0 == _score(graded, s), st[s]
    base = _score(graded, "ref_base")
    failing = {k for k, (s, m) in H.cell_scores(graded["course"], A, "ref_base").items() if s < m}
    assert failing == set(SPEC.MISTAKES[MISTAKE][1]) and base < 25
    mistake = {k for k, (s, m) in H.cell_scores(graded["course"], A, "zz_mistake").items() if s < m}
    assert mistake == set(SPEC.MISTAKES["soft_threshold"][1])


@pytest.mark.parametrize("student", ["atk_sql_grades", "atk_sql_cells", "atk_read_source", "atk_write", "atk_socket",
                                     "atk_memory", "atk_fork", "atk_kill_parent", "atk_env"])
def test_no_attack_scores_more_than_the_same_submission_without_it(graded: dict, student: str) -> None:
    st = graded["statuses"][student]
    assert st.status in ("graded", "kernel_died"), st  # never an error that hides the student
    assert st.score <= _score(graded, "ref_base"), st


def test_the_gradebook_has_no_row_a_student_wrote(graded: dict) -> None:
    db = graded["db"]
    assert _rows(db, "SELECT COUNT(*) FROM grade WHERE extra_credit IS NOT NULL AND extra_credit != 0") == [(0,)]
    assert _rows(db, "SELECT name, source, checksum FROM source_cell") == graded["cells_before"]


def test_nothing_was_written_in_the_course_folder(graded: dict) -> None:
    course = graded["course"]
    assert not list(course.rglob("pwned*")) and not (course.parent / "pwned.txt").exists()
    honest = (course / "submitted" / "zz_honest" / A / f"{A}.ipynb").read_text()
    assert "pwned" not in honest and honest.lstrip().startswith("{")
    assert "WROTE" not in _answer_outputs(graded, "atk_write")


def test_no_connection_reached_the_loopback_service(graded: dict) -> None:
    assert graded["server"].hits == []
    assert "network denied" in graded["statuses"]["atk_socket"].detail


def test_no_solution_listing_or_secret_reached_an_output(graded: dict) -> None:
    text = _answer_outputs(graded, "atk_read_source")
    assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text
    listings = [line for line in text.splitlines() if line.startswith("LISTING")]
    assert listings  # the attack ran: it listed what it could see (its own sandbox)...
    course = str(graded["course"])
    assert not any(line.startswith(f"LISTING {course}") for line in listings)  # ...never the course folder
    for word in ("gradebook.db", "'source'", "'submitted'", "'release'", "nbgrader_config.py"):
        assert not any(word in line for line in listings), (word, listings)
    env = _answer_outputs(graded, "atk_env")
    assert "'PATH'" in env  # the attack ran and printed its environment...
    assert SECRET not in env and "REGNORM" not in env and "sqlite:" not in env  # ...which holds nothing of the grader's
    assert "UPDATED" not in _answer_outputs(graded, "atk_sql_grades")


def test_limits_and_denials_are_flagged_for_a_human(graded: dict) -> None:
    st = graded["statuses"]
    assert "memory limit hit" in st["atk_memory"].detail
    assert "process limit hit" in st["atk_fork"].detail
    assert "file access denied" in st["atk_write"].detail or "path outside the sandbox" in st["atk_write"].detail
    assert "sandbox:" not in st["aa_honest"].detail and "sandbox:" not in st["zz_honest"].detail
