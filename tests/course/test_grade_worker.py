"""A grading worker's own folders: jails go under one parent per worker, and what killed workers left is removed."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

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
