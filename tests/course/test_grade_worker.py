"""A grading worker's own folders: jails go under one parent per worker, and what killed workers left is removed."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

from regnorm_lab.course import grade_worker
from regnorm_lab.course.sandbox import JAIL_ROOT


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid  # reaped: no process has it (until the pid counter wraps)


def test_stale_jails_are_removed_and_live_ones_kept(tmp_path: pathlib.Path) -> None:
    day = grade_worker.STALE_SECONDS
    live = tmp_path / f"regnorm-w{os.getpid()}-abc"
    dead = tmp_path / f"regnorm-w{_dead_pid()}-def"
    old_run = tmp_path / "regnorm-grade-old"
    fresh_run = tmp_path / "regnorm-grade-fresh"
    other = tmp_path / "regnorm-pg-old"  # not a jail folder: never touched
    for d in (live, dead, old_run, fresh_run, other):
        (d / "sbx-1" / "work").mkdir(parents=True)
    now = os.stat(live).st_mtime
    for d in (old_run, other):
        os.utime(d, (now - day - 60, now - day - 60))
    removed = grade_worker.remove_stale_jails(tmp_path, now=now)
    assert sorted(removed) == sorted([dead, old_run])
    assert live.is_dir() and fresh_run.is_dir() and other.is_dir() and not dead.exists() and not old_run.exists()


def test_a_worker_without_a_coordinator_folder_makes_its_own(monkeypatch, tmp_path: pathlib.Path) -> None:
    monkeypatch.delenv(JAIL_ROOT, raising=False)
    monkeypatch.setattr(grade_worker.tempfile, "tempdir", str(tmp_path))
    folder = grade_worker.jail_parent()
    try:
        assert folder.parent == tmp_path and folder.name.startswith(f"regnorm-w{os.getpid()}-")
        assert os.environ[JAIL_ROOT] == str(folder) and oct(folder.stat().st_mode & 0o777) == "0o711"
        assert grade_worker.jail_parent() == folder  # once per worker
    finally:
        os.environ.pop(JAIL_ROOT, None)


def test_spares_left_is_each_workers_share_of_the_students_still_to_come() -> None:
    # 40 students, 2 workers: the last two tasks start 1 and 0 spares; early ones are capped later
    assert [grade_worker.spares_left(r, 2) for r in (0, 1, 2, 3, 4, 39)] == [0, 1, 1, 2, 2, 20]
    assert grade_worker.spares_left(5, 1) == 5 and grade_worker.spares_left(-1, 3) == 0
    assert grade_worker.spares_left(7, None) is None  # Dask: the number of workers is not known


@pytest.mark.slow
def test_a_worker_starts_no_spare_kernel_nobody_will_take(tmp_path: pathlib.Path) -> None:
    # grade_one in this process, as a worker runs it: after a task with one student left for this
    # worker one spare waits; after the last one, none (the configured number is 2)
    from regnorm_lab.course import pipeline
    from regnorm_lab.course.prewarm import PrewarmedExecute
    from regnorm_lab.course.spares import _SPARE
    from . import harness as H

    assert PrewarmedExecute.class_traits()["spares"].default() == 2
    a = "ps01_penalties"
    course = H.copy_course(tmp_path, [a])
    H.release(course, a)
    for s in ("s1", "s2"):
        H.plant(course, s, a, H.solution_answers(course, a))
    db = pipeline.make_api(course).coursedir.db_url
    left = []
    try:
        for s, spares in (("s1", 1), ("s2", 0)):
            res = grade_worker.grade_one(grade_worker.GradeTask(str(course), a, s, db, spares_left=spares))
            assert res.kind == "graded", res.detail
            left.append(len(_SPARE.queue))
    finally:
        _SPARE.close()
    assert left == [1, 0]
    assert H.total(H.cell_scores(course, a, "s2"))[0] == H.total(H.cell_scores(course, a, "s2"))[1] > 0


def test_the_cap_on_spares_never_raises_the_courses_own_setting() -> None:
    # the task's cap goes into the kernel step's config; the step caps the course's own c.PrewarmedExecute.spares
    from traitlets.config import Config

    from regnorm_lab.course.prewarm import PrewarmedExecute

    def depth(left, course=None) -> int:
        cfg = Config(course or {})
        cfg.merge(Config(grade_worker._overrides("sqlite://", None, True, True, left)))
        return PrewarmedExecute(config=cfg).depth

    one = {"PrewarmedExecute": {"spares": 1}}
    assert depth(5, one) == 1  # the course asked for one spare: never more
    assert depth(1) == 1 and depth(9) == 2  # default 2, capped
    assert depth(0, one) == 0 and depth(None) == 2 and depth(None, one) == 1  # none left / Dask: as configured
    no_prewarm = Config(grade_worker._overrides("sqlite://", None, False, True, 9))
    assert PrewarmedExecute(config=no_prewarm).depth == 0  # grade --no-prewarm
