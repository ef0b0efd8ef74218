"""Grading as an ordinary, unprivileged user: the instructor's ``grade`` command with every kernel sandboxed.

Everything else in ``tests/course`` runs the grader as root (CI's user), where each
kernel gets its own host uid. A real instructor is not root: bwrap then makes a user
namespace per kernel, every kernel is the instructor's own uid on the host, and the
limits must still hold per kernel. Here the grader CLI runs as such a user
(``setpriv`` to uid 65534 when the test runs as root; directly when it does not) on a
private course copy owned by that user, and the test reads the gradebook (sqlite)
itself:

* ps01: the solution gets full marks, the blank release zero, a single mistake
  exactly its cells; an attacker (the same mistake plus, in another answer cell, a
  sqlite UPDATE of the class's gradebook, a write into the course folder, 6 GiB and a
  loop that grabs every process slot it can for a while) scores no more than the
  mistake, hits its own limits, writes nothing; the honest students graded by the
  other worker meanwhile are untouched (with the process limit on bwrap instead of
  inside the sandbox, the loop used up the uid's shared budget and they died at start-up);
* ps07: the grader's clock (two sandboxed kernels, frozen by process tree since no
  uid of their own exists) gives the solution every point and a row-by-row loop
  loses exactly the speed cell.

The run must work: a missing ``setpriv``/``unshare`` or a broken run fails the test.
"""

from __future__ import annotations

import csv
import os
import pathlib
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
from typing import Iterator

import pytest

from . import harness as H
from . import ps07_planted as P7

pytestmark = pytest.mark.slow
UID = 65534  # nobody: an existing unprivileged uid, so nothing is left on the machine
PS01 = "ps01_penalties"
SPEC01 = H.spec(H.EXERCISES, PS01)
SOLUTION01 = H.solution_answers(H.EXERCISES, PS01)
MISTAKE = "l2_penalty"
BASE01 = {**SOLUTION01, MISTAKE: SPEC01.MISTAKES[MISTAKE][0]}


def _attack(course: pathlib.Path) -> str:
    """Appended to the base's l1_grad answer: each part reports what it got, the function stays defined."""
    return f"""
import os as _os, sqlite3 as _sq, time as _time
try:
    _c = _sq.connect({str(course / 'gradebook.db')!r}); _c.execute("UPDATE grade SET extra_credit = 5"); _c.commit(); print("UPDATED")
except Exception as _e:
    print("sqlite:", type(_e).__name__, _e)
for _p in [{str(course / 'pwned.txt')!r}, "../../../pwned.txt"]:
    try:
        open(_p, "w").write("pwned"); print("WROTE", _p)
    except Exception as _e:
        print("write:", type(_e).__name__, _e)
try:
    import numpy as _np
    _big = _np.ones(6 * 2**30 // 8); print("ALLOCATED")
except MemoryError as _e:
    print("memory:", type(_e).__name__)
_n, _err, _end = 0, None, _time.time() + 12
while _time.time() < _end:  # grab every process slot that frees up, while the other worker grades
    try:
        if _os.fork() == 0:
            _time.sleep(3600)
            _os._exit(0)
        _n += 1
    except OSError as _e:
        _err = _err or _e
        _time.sleep(0.005)
print("FORKED", _n, type(_err).__name__, _err)
"""


# ---- running the grader as the unprivileged user -----------------------------------------

def _blocked(paths: list[str], uid: int) -> dict[str, set[str]]:
    """Folders ``uid`` cannot pass through on the way to ``paths`` -> the child names needed in each.

    E.g. a Python under ``/root/.pyenv`` with ``/root`` at 0700: ``{"/root": {".pyenv"}}``.
    """
    out: dict[str, set[str]] = {}
    for p in paths:
        path = pathlib.PurePosixPath(p)
        for parent, child in zip(reversed(path.parents), list(reversed(path.parents))[1:] + [path]):
            st = os.stat(parent)
            if st.st_uid != uid and not stat.S_IMODE(st.st_mode) & 0o001:
                out.setdefault(str(parent), set()).add(child.name)
                break
    return out


def _as_user(tmp: pathlib.Path, argv: list[str]) -> list[str]:
    """``argv`` run as uid ``UID`` (from root), with a minimal environment of an instructor's shell.

    When the interpreter or the repository lies below a folder that user cannot enter
    (this machine's Python is under /root), a private mount namespace shows just the
    needed subfolders there (a 0755 tmpfs over the folder): nothing changes on the
    machine, and the grader then runs as an instructor whose Python is their own.
    """
    env = ["env", "-i", "PATH=/usr/local/bin:/usr/bin:/bin", f"HOME={tmp / 'home'}", "LANG=C.UTF-8", f"TMPDIR={tmp / 'tmp'}"]
    if os.geteuid() != 0:
        return env + argv
    for tool in ("setpriv", "unshare", "mount"):
        assert shutil.which(tool), f"{tool} (util-linux) is needed to run the grader as an unprivileged user"
    drop = ["setpriv", f"--reuid={UID}", f"--regid={UID}", "--clear-groups"]
    blocked = _blocked([os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix), str(H.REPO)], UID)
    if not blocked:
        return drop + env + argv
    script = ["set -e"]
    for i, (folder, children) in enumerate(sorted(blocked.items())):
        stash = tmp / f".stash{i}"  # root-only (0700): the original folder stays reachable for the binds
        stash.mkdir(mode=0o700)
        script += [f'mount --bind "{folder}" "{stash}"', f'mount -t tmpfs -o mode=0755,size=1m regnorm-nonroot "{folder}"']
        for child in sorted(children):
            script += [f'mkdir "{folder}/{child}"', f'mount --bind "{stash}/{child}" "{folder}/{child}"']
    script.append('exec "$@"')
    return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", "\n".join(script), "sh"] + drop + env + argv


def _grade_as_user(tmp: pathlib.Path, course: pathlib.Path, assignment: str, timeout: int) -> subprocess.CompletedProcess:
    """Hand the course copy to the user, run ``grade ASSIGNMENT --workers 2`` as that user; fail on a broken run."""
    for d in ("home", "tmp"):
        (tmp / d).mkdir(exist_ok=True)
    if os.geteuid() == 0:
        for p in [tmp, *tmp.rglob("*")]:
            os.lchown(p, UID, UID)
        os.chmod(tmp, 0o755)
    argv = [sys.executable, "-m", "regnorm_lab.course", "--course", str(course), "grade", assignment,
            "--workers", "2", "--timeout", str(timeout)]
    proc = subprocess.run(_as_user(tmp, argv), cwd=tmp, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"grade as uid {UID} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def _scores(course: pathlib.Path, assignment: str) -> dict[str, dict[str, tuple[float, float]]]:
    """student -> {grade cell: (score, max)}, read from the gradebook by the test (not the grader's printout)."""
    sql = """
        SELECT sa.student_id, bc.name, COALESCE(g.manual_score, g.auto_score, 0) + COALESCE(g.extra_credit, 0), gc.max_score
        FROM grade g JOIN base_cell bc ON g.cell_id = bc.id JOIN grade_cells gc ON gc.id = bc.id
        JOIN submitted_notebook sn ON g.notebook_id = sn.id JOIN submitted_assignment sa ON sn.assignment_id = sa.id
        JOIN assignment a ON sa.assignment_id = a.id WHERE a.name = ?"""
    out: dict[str, dict[str, tuple[float, float]]] = {}
    with sqlite3.connect(course / "gradebook.db") as con:
        for student, cell, score, max_score in con.execute(sql, (assignment,)):
            out.setdefault(student, {})[cell] = (float(score), float(max_score))
    return out


def _outputs(course: pathlib.Path, assignment: str, student: str) -> str:
    import nbformat

    nb = nbformat.read(str(course / "autograded" / student / assignment / f"{assignment}.ipynb"), as_version=4)
    return "\n".join(str(o.get("text", "")) + str(o.get("evalue", "")) for c in nb.cells for o in c.get("outputs", []))


@pytest.fixture
def tmp() -> Iterator[pathlib.Path]:
    """A folder the unprivileged user can reach (pytest's own tmp_path is under a root-only folder)."""
    folder = pathlib.Path(tempfile.mkdtemp(prefix="regnorm-nonroot-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _failing(cells: dict[str, tuple[float, float]]) -> set[str]:
    return {k for k, (s, m) in cells.items() if s < m}


def test_ps01_graded_by_an_unprivileged_user(tmp: pathlib.Path) -> None:
    course = H.copy_course(tmp, [PS01])
    H.release(course, PS01)
    H.plant(course, "a_attack", PS01, {**BASE01, "l1_grad": BASE01["l1_grad"] + "\n\n" + _attack(course)})
    H.plant(course, "blank", PS01)
    H.plant(course, "mistake", PS01, BASE01)
    H.plant(course, "solution", PS01, SOLUTION01)
    _grade_as_user(tmp, course, PS01, timeout=40)

    scores = _scores(course, PS01)
    assert set(scores) == {"a_attack", "blank", "mistake", "solution"}
    total = {s: H.total(c) for s, c in scores.items()}
    assert total["solution"] == (25.0, 25.0)
    assert total["blank"] == (0.0, 25.0)
    assert _failing(scores["mistake"]) == set(SPEC01.MISTAKES[MISTAKE][1]) and 0 < total["mistake"][0] < 25

    # every kernel ran sandboxed (the status report), and the grader really ran as that user (its files)
    with open(course / "reports" / f"{PS01}_status.csv") as f:
        status = {row["student_id"]: row for row in csv.DictReader(f)}
    assert all(row["status"] == "graded" and "UNSANDBOXED" not in row["detail"] for row in status.values()), status
    assert "process limit hit" in status["a_attack"]["detail"] and "memory limit hit" in status["a_attack"]["detail"]
    if os.geteuid() == 0:
        assert (course / "autograded" / "solution" / PS01 / f"{PS01}.ipynb").stat().st_uid == UID

    # the attacker: no more than the same answers without the attack; its own limits held; nothing written
    out = _outputs(course, PS01, "a_attack")
    assert "FORKED" in out and "sqlite:" in out and "memory: MemoryError" in out, out[-2000:]  # every part ran
    assert total["a_attack"][0] <= total["mistake"][0], total
    forked = int(out.split("FORKED", 1)[1].split()[0])
    assert 0 < forked < 256, f"the kernel's process limit (256) did not hold: {forked} processes"
    # (the relative path lands in the kernel's own scratch /tmp, where the jail's folders are mounted: allowed)
    assert "UPDATED" not in out and f"WROTE {course / 'pwned.txt'}" not in out and "ALLOCATED" not in out
    with sqlite3.connect(course / "gradebook.db") as con:
        assert con.execute("SELECT COUNT(*) FROM grade WHERE COALESCE(extra_credit, 0) != 0").fetchone() == (0,)
    assert not list(tmp.rglob("pwned*"))


def test_ps07_clock_graded_by_an_unprivileged_user(tmp: pathlib.Path) -> None:
    course = H.copy_course(tmp, [P7.A])
    with open(course / "nbgrader_config.py", "a") as f:
        f.write(P7.PRODUCTION)
    H.release(course, P7.A)
    for student in ("solution", "loop_layer_norm"):
        H.plant(course, student, P7.A, **P7.VARIANTS[student])
    _grade_as_user(tmp, course, P7.A, timeout=120)

    scores = {s: {k: v for k, v in c.items() if k.startswith("test_")} for s, c in _scores(course, P7.A).items()}
    assert H.total(scores["solution"]) == (P7.MAX, P7.MAX)
    # a correct row-by-row loop loses the speed points of layer_norm and nothing else
    assert _failing(scores["loop_layer_norm"]) == {"test_layer_norm_speed"}
    assert "the reference's time" in _outputs(course, P7.A, "loop_layer_norm")
