"""One student's grading job, as a worker process runs it: :func:`grade_one`.

A task (:class:`GradeTask`) names the course, the assignment, the student and where the
grades go; the worker runs nbgrader's own autograde (and, if asked, generate_feedback)
for that one student, with every kernel sandboxed by :class:`~.prewarm.PrewarmedExecute`,
and reports a :class:`GradeResult`. The same function runs in a local worker process,
on a Dask worker, and for the serial ``autograde`` command (one worker).

Also here: the worker's start-up (:func:`warm_worker`: its first kernel starts at once)
and the once-per-process sandbox check.
"""

from __future__ import annotations

import atexit
import dataclasses
import os
import pathlib
import shutil
import tempfile
import time
import warnings
from typing import Any

from .flags import sandbox_flags, with_flags
from .sandbox import JAIL_ROOT, UNSANDBOXED, Sandbox, check

__all__ = ["GradeTask", "GradeResult", "grade_one", "spares_left", "warm_worker", "quiet_nbgrader", "jail_parent", "FAILURE_DETAIL"]

#: Words for the statuses of students whose notebook did not run to the end (as ``autograde`` writes them).
FAILURE_DETAIL = {
    "kernel_died": "the kernel died before the notebook's first cell ran (e.g. a crash at start-up); no cell was graded",
    "timeout": "the kernel stopped answering after a cell hit the time limit",
}


@dataclasses.dataclass(frozen=True)
class GradeTask:
    """One student's grading job, sent to a worker (picklable, paths as strings).

    ``db_url`` None means "grade into the shard ``shard_db`` copied from ``base_db``".
    """

    course_root: str
    assignment: str
    student: str
    db_url: str | None
    base_db: str | None = None
    shard_db: str | None = None
    timeout: int | None = None
    prewarm: bool = True
    feedback: bool = False  # also generate the student's HTML feedback once graded
    sandbox: bool = True  # False: --no-sandbox (recorded in the student's status detail)
    # at most this many spare kernels are started ahead after this student (None: as configured):
    # the coordinator's share of the students still to come, so no worker ends the class with
    # spares nobody takes (each is a kernel start-up, about half a notebook's grading, wasted)
    spares_left: int | None = None


@dataclasses.dataclass(frozen=True)
class GradeResult:
    """What a worker reports back: ``kind`` is graded, timeout, kernel_died or error.

    ``scored``: the notebook ran (maybe up to a kernel death) and its cells were scored;
    False means nbgrader could not grade it and the coordinator records zeros.
    """

    student: str
    kind: str
    detail: str
    shard_db: str | None
    seconds: float
    worker: str = ""
    feedback: bool = False  # the worker generated the student's feedback
    scored: bool = False


def spares_left(remaining: int, workers: int | None) -> int | None:
    """Spare kernels worth starting after a task when ``remaining`` tasks follow it, shared by ``workers``.

    Tasks go out in order, so each worker gets about ``remaining / workers`` of the rest.
    None (keep the configured number) when the number of workers is not known (Dask).

    Shape:
        (tasks after this one, workers) -> a count, or None.
    """
    if workers is None:
        return None
    return -(-max(0, remaining) // max(1, workers))  # ceil


def _overrides(db_url: str, timeout: int | None, prewarm: bool, sandbox: bool = True,
               spares_left: int | None = None) -> dict[str, Any]:
    ahead: dict[str, Any] = {"ahead": bool(prewarm)}
    if spares_left is not None:
        ahead["spares_left"] = int(spares_left)  # PrewarmedExecute.depth caps the course's own spares by it
    over: dict[str, Any] = {"CourseDirectory": {"db_url": db_url}, "PrewarmedExecute": ahead,
                            # nbconvert validates the whole notebook after each of autograde's ~15 steps;
                            # once, after the last, is enough: a broken step still fails the notebook, and
                            # nbformat validates again on writing it (about 15 ms per submission)
                            "Exporter": {"optimistic_validation": True}}
    if timeout:
        over["Execute"] = {"timeout": int(timeout)}
    if not sandbox:
        over["Sandbox"] = {"enabled": False}
    return over


def grade_one(task: GradeTask) -> GradeResult:
    """Autograde one student with nbgrader (in a worker process); never raises for a bad notebook.

    Shard mode copies ``task.base_db`` to ``task.shard_db`` first and grades into it.
    A failed run is retried once unless the kernel died (a rerun would only die
    again), as the serial ``autograde`` command does.

    Shape:
        One task -> one result.
    """
    from . import pipeline

    t0 = time.perf_counter()
    quiet_nbgrader()  # a worker process of ours: its warning filters are ours too
    root = pathlib.Path(task.course_root)
    db_url = task.db_url
    if db_url is None:
        from .merge import copy_shard

        if task.base_db is None or task.shard_db is None:
            raise ValueError("task needs base_db and shard_db when db_url is None")
        db_url = "sqlite:///" + str(copy_shard(task.base_db, task.shard_db))
        _fast_shards()
    _reuse_engines()
    from .prewarm import enable, sandbox_notes

    # ONE grading path: every kernel of every command (autograde, grade, Dask) starts here,
    # sandboxed by PrewarmedExecute unless the course opted out
    cfg = pipeline.load_config(root)
    jail_parent()
    if task.sandbox:
        _worker_sandbox_ok(cfg)  # a Dask worker on another machine may lack bwrap: say so, never run unsandboxed
    overrides = enable(_overrides(db_url, task.timeout, task.prewarm, task.sandbox, task.spares_left), cfg)
    api = pipeline.make_api(root, **overrides)
    log = ""
    folders = [root / d / task.student / task.assignment for d in ("submitted", "autograded")]

    def flagged(detail: str) -> str:
        notes = [n for f in folders for n in sandbox_notes(f)]
        found = sandbox_flags(folders[1], notes) if folders[1].is_dir() else notes
        found = [f for f in found if f not in detail]  # a kernel's death reason is already in the detail
        return with_flags(detail if task.sandbox else with_flags(detail, [UNSANDBOXED]), found)

    for attempt in range(2):
        result = api.autograde(task.assignment, task.student, force=True, create=True)
        if result.get("success", False):
            kind, detail = pipeline.inspect_autograded(root, task.assignment, task.student)
            detail = flagged(detail)
            # feedback here, in parallel: the gradebook (or shard) holds this student's grades;
            # if it fails, the coordinator generates it after the merge
            fed = task.feedback and api.generate_feedback(task.assignment, task.student, force=True).get("success", False)
            return GradeResult(task.student, kind, detail, task.shard_db, time.perf_counter() - t0, _worker_name(), bool(fed), scored=True)
        log = result.get("log", "") + result.get("error", "")
        if pipeline.classify_log(log) == "kernel_died":
            break
    kind = pipeline.classify_log(log)
    detail = flagged(FAILURE_DETAIL.get(kind) or "nbgrader could not grade the notebook: " + pipeline.last_error_line(log))
    return GradeResult(task.student, kind, detail, task.shard_db, time.perf_counter() - t0, _worker_name())


_SANDBOX_CHECKED = False


def _worker_sandbox_ok(cfg: Any) -> None:
    """:func:`~.sandbox.check` once per worker process (raises SandboxUnavailable: the student is
    recorded as ``error`` with the cause, never graded without the sandbox)."""
    global _SANDBOX_CHECKED
    if not _SANDBOX_CHECKED:
        check(Sandbox(config=cfg))
        _SANDBOX_CHECKED = True


#: Prefix of a worker's own folder of jails (under the system's temporary folder), then its pid.
WORKER_JAILS = "regnorm-w"
STALE_SECONDS = 24 * 3600


def jail_parent() -> pathlib.Path:
    """The folder this worker's jails are made in (``$REGNORM_JAIL_ROOT``); made on first use.

    A local worker inherits the coordinator's folder (removed at the end of the run).
    A Dask worker has none: it makes its own, ``regnorm-w<pid>-...`` in the temporary
    folder, removed when the worker exits; and since a killed worker cannot clean up,
    each new one first removes the folders of workers no longer running and any
    grading folder older than a day (:func:`remove_stale_jails`).

    Shape:
        () -> the folder.
    """
    existing = os.environ.get(JAIL_ROOT)
    if existing and os.path.isdir(existing):
        return pathlib.Path(existing)
    remove_stale_jails()
    folder = tempfile.mkdtemp(prefix=f"{WORKER_JAILS}{os.getpid()}-")
    os.chmod(folder, 0o711)  # kernels' uids pass through to their own jail, never list
    os.environ[JAIL_ROOT] = folder
    atexit.register(shutil.rmtree, folder, True)
    return pathlib.Path(folder)


def remove_stale_jails(tmp: str | os.PathLike[str] | None = None, now: float | None = None) -> list[pathlib.Path]:
    """Remove jail folders left by killed workers: a worker's folder whose process is gone, and
    any grading folder (``regnorm-w*``, ``regnorm-sbx-*``, ``regnorm-grade-*``) older than a day.

    Shape:
        (the temporary folder, default the system's; the time, default now) -> the folders removed.
    """
    base = pathlib.Path(tmp or tempfile.gettempdir())
    now = time.time() if now is None else now
    removed = []
    for path in base.glob("regnorm-*"):
        try:
            if not path.is_dir() or path.is_symlink():
                continue
            old = now - path.stat().st_mtime > STALE_SECONDS
            pid = path.name[len(WORKER_JAILS):].split("-", 1)[0] if path.name.startswith(WORKER_JAILS) else ""
            dead = pid.isdigit() and not _running(int(pid))
            if (old and path.name.startswith(("regnorm-w", "regnorm-sbx-", "regnorm-grade-"))) or dead:
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
        except OSError:
            continue  # removed meanwhile by its owner
    return removed


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


_SHARD_HOOK = False


def _fast_shards() -> None:
    """No fsync and no journal file on shard gradebooks: nbgrader commits once per cell, and a shard
    is a throwaway copy (a crash loses only that student's shard, which is then graded again)."""
    global _SHARD_HOOK
    if _SHARD_HOOK:
        return
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    @event.listens_for(Engine, "connect")
    def _pragma(dbapi_connection: Any, _record: Any) -> None:
        import sqlite3

        if not isinstance(dbapi_connection, sqlite3.Connection):
            return
        files = [row[2] for row in dbapi_connection.execute("PRAGMA database_list")]
        if any(f and any(p.name.startswith(".grade-") for p in pathlib.Path(f).parents) for f in files):
            dbapi_connection.execute("PRAGMA synchronous = OFF")
            dbapi_connection.execute("PRAGMA journal_mode = MEMORY")  # no journal file created and deleted per commit

    _SHARD_HOOK = True


_ENGINES: "dict[str, Any]" = {}
#: Engines kept per worker process: the current student's gradebook and a few before it.
ENGINES_KEPT = 4


def _reuse_engines() -> None:
    """One SQLAlchemy engine per gradebook URL in this process, instead of one per ``Gradebook``.

    nbgrader opens a new ``Gradebook`` (a new engine: its schema checks and an empty
    cache of compiled SQL) about nine times in one student's autograde; reusing the
    engine keeps the compiled statements (about 25 ms per submission). ``Gradebook.close``
    still disposes of the engine's connections after each use, so no connection
    outlives its ``Gradebook``; the engine keeps only its pool object and caches.
    """
    import nbgrader.api as nbapi

    if getattr(nbapi.create_engine, "_regnorm_reuse", False):
        return
    create = nbapi.create_engine

    def create_engine(url: Any, *args: Any, **kwargs: Any) -> Any:
        key = repr((str(url), args, sorted(kwargs.items())))
        engine = _ENGINES.pop(key, None) or create(url, *args, **kwargs)
        _ENGINES[key] = engine  # most recent last
        while len(_ENGINES) > ENGINES_KEPT:
            _ENGINES.pop(next(iter(_ENGINES))).dispose()
        return engine

    create_engine._regnorm_reuse = True  # type: ignore[attr-defined]
    nbapi.create_engine = create_engine


def quiet_nbgrader() -> None:
    """Ignore the SQLAlchemy 2 autoflush warnings nbgrader's gradebook code raises on every
    new submission ("Object of type <SubmittedAssignment> not in session"): nbgrader adds
    the object right after, the rows are those of a serial run (tested), and a line per
    student would bury the progress bar."""
    warnings.filterwarnings("ignore", message=r"Object of type <Submitted\w+> not in session", module=r"nbgrader\.api")


def warm_worker(course_root: str, assignment: str) -> None:
    """Worker start-up (pool initializer): the first student's kernel starts now, in the
    background, while the worker imports nbgrader and prepares that student's notebook."""
    try:
        from . import pipeline, prewarm

        released = sorted((pathlib.Path(course_root) / "release" / assignment).glob("*.ipynb"))
        if released:
            prewarm.warm_up(released[0], pipeline.load_config(course_root))
    except Exception:  # noqa: BLE001 - without a warm kernel the first notebook starts one itself
        pass


def _worker_name() -> str:
    return f"{os.uname().nodename}:{os.getpid()}"
