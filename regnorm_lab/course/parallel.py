"""Grade a whole class in parallel: ``python -m regnorm_lab.course grade ASSIGNMENT --workers N``.

nbgrader autogrades one submission after another. Here every student is one work
unit: a worker process runs nbgrader's own autograde and then generate_feedback
for that one student (:func:`grade_one`), and the coordinator (:func:`grade_class`)
collects the results, keeps the gradebook consistent, then exports the CSV and
draws the item analysis (:mod:`.report`).

Where grades are written depends on the course's ``CourseDirectory.db_url``:

- **SQLite** (the default ``gradebook.db``): SQLite takes one writer, so each
  worker grades into a private copy (a shard) of a snapshot of the gradebook and
  the coordinator merges the student's rows back in one transaction
  (:func:`.merge.merge_shard`): the gradebook ends up with the same rows as a
  serial ``nbgrader autograde``.
- **PostgreSQL** (or any server URL): workers write to the server concurrently.

Workers are local processes (``--workers N``) or a Dask distributed cluster
(``--scheduler tcp://host:8786``; the course folder must be on a file system every
worker sees, and the gradebook should be on PostgreSQL).

Safety and resumability:

- a student whose notebook kills its kernel, hangs (bounded by the per-cell
  timeout) or kills the grading worker itself costs only that student: a dead
  worker's students are retried once, each alone, and a student who kills the
  worker again is recorded as ``error``; the rest of the class is graded. On
  Dask the cluster does the retrying (its ``distributed.scheduler.allowed-failures``
  setting): a task it gives up on (``KilledWorker``) is recorded, not re-run;
- a fingerprint of every submission folder is kept in
  ``reports/<assignment>_grading_state.json``; re-running grades only new or
  changed submissions (and earlier ``error`` ones) unless ``force``.

The statuses are those of :mod:`.status` (the same CSV as ``autograde`` writes).
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures as cf
import dataclasses
import hashlib
import json
import multiprocessing
import os
import pathlib
import shutil
import tempfile
import time
import warnings
from typing import Any, Iterable

from .flags import sandbox_flags, with_flags
from .sandbox import JAIL_ROOT, UNSANDBOXED, Sandbox, check
from .status import STATUSES, StudentStatus, write_status
from . import late

__all__ = [
    "GradeTask",
    "GradeResult",
    "ClassGrading",
    "grade_one",
    "grade_class",
    "fingerprint",
    "add_commands",
]

#: Words for the statuses of students whose notebook did not run to the end (as ``autograde`` writes them).
FAILURE_DETAIL = {
    "kernel_died": "the kernel died while running the notebook (e.g. os._exit or a crash); no cell was graded",
    "timeout": "the kernel stopped answering after a cell hit the time limit",
}
WORKER_DIED = "the grading worker process died twice while grading this notebook (e.g. the notebook killed its parent process)"


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


@dataclasses.dataclass(frozen=True)
class GradeResult:
    """What a worker reports back: ``kind`` is graded, timeout, kernel_died or error."""

    student: str
    kind: str
    detail: str
    shard_db: str | None
    seconds: float
    worker: str = ""
    feedback: bool = False  # the worker generated the student's feedback


@dataclasses.dataclass
class ClassGrading:
    """The outcome of :func:`grade_class`."""

    statuses: list[StudentStatus]
    graded: list[str]  # students autograded in this run
    skipped: list[str]  # unchanged since their last grading
    seconds: float
    worker_seconds: dict[str, float]  # student -> seconds its worker spent (incl. a retry)
    worker_names: dict[str, str]  # student -> "host:pid" of the worker that graded it
    files: dict[str, pathlib.Path]
    worker_feedback: list[str] = dataclasses.field(default_factory=list)  # feedback made by the student's worker


# ---- the worker -----------------------------------------------------------------------------

def _overrides(db_url: str, timeout: int | None, prewarm: bool, sandbox: bool = True) -> dict[str, Any]:
    over: dict[str, Any] = {"CourseDirectory": {"db_url": db_url}, "PrewarmedExecute": {"ahead": bool(prewarm)}}
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
    _quiet_nbgrader()  # a worker process of ours: its warning filters are ours too
    root = pathlib.Path(task.course_root)
    db_url = task.db_url
    if db_url is None:
        from .merge import copy_shard

        if task.base_db is None or task.shard_db is None:
            raise ValueError("task needs base_db and shard_db when db_url is None")
        db_url = "sqlite:///" + str(copy_shard(task.base_db, task.shard_db))
        _fast_shards()
    from .prewarm import enable, sandbox_notes

    # ONE grading path: every kernel of every command (autograde, grade, Dask) starts here,
    # sandboxed by PrewarmedExecute unless the course opted out
    cfg = pipeline.load_config(root)
    if task.sandbox:
        _worker_sandbox_ok(cfg)  # a Dask worker on another machine may lack bwrap: say so, never run unsandboxed
    overrides = enable(_overrides(db_url, task.timeout, task.prewarm, task.sandbox), cfg)
    api = pipeline.make_api(root, **overrides)
    log = ""
    folders = [root / d / task.student / task.assignment for d in ("submitted", "autograded")]

    def flagged(detail: str) -> str:
        notes = [n for f in folders for n in sandbox_notes(f)]
        found = sandbox_flags(folders[1], notes) if folders[1].is_dir() else notes
        return with_flags(detail if task.sandbox else with_flags(detail, [UNSANDBOXED]), found)

    for attempt in range(2):
        result = api.autograde(task.assignment, task.student, force=True, create=True)
        if result.get("success", False):
            kind, detail = pipeline.inspect_autograded(root, task.assignment, task.student)
            detail = flagged(detail)
            # feedback here, in parallel: the gradebook (or shard) holds this student's grades;
            # if it fails, the coordinator generates it after the merge
            fed = task.feedback and kind in ("graded", "timeout") and api.generate_feedback(task.assignment, task.student, force=True).get("success", False)
            return GradeResult(task.student, kind, detail, task.shard_db, time.perf_counter() - t0, _worker_name(), bool(fed))
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


_SHARD_HOOK = False


def _fast_shards() -> None:
    """No fsync on shard gradebooks: nbgrader commits once per cell, and a shard is a throwaway copy
    (a crash loses only that student's shard, which is then graded again)."""
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

    _SHARD_HOOK = True


def _quiet_nbgrader() -> None:
    """Ignore the SQLAlchemy 2 autoflush warnings nbgrader's gradebook code raises on every
    new submission ("Object of type <SubmittedAssignment> not in session"): nbgrader adds
    the object right after, the rows are those of a serial run (tested), and a line per
    student would bury the progress bar."""
    warnings.filterwarnings("ignore", message=r"Object of type <Submitted\w+> not in session", module=r"nbgrader\.api")


def _warm_worker(course_root: str, assignment: str) -> None:
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


# ---- fingerprints and state -----------------------------------------------------------------

def fingerprint(folder: str | os.PathLike[str]) -> str:
    """sha256 over the relative paths and bytes of every file in a submission folder.

    Shape:
        A folder -> a 64-character hex string ("" for a missing folder).
    """
    folder = pathlib.Path(folder)
    if not folder.is_dir():
        return ""
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(folder)).encode() + b"\0")
        h.update(path.read_bytes())
        h.update(b"\0")
    return h.hexdigest()


def _state_path(root: pathlib.Path, assignment: str) -> pathlib.Path:
    return root / "reports" / f"{assignment}_grading_state.json"


def _load_state(root: pathlib.Path, assignment: str, db_url: str) -> dict[str, dict[str, Any]]:
    path = _state_path(root, assignment)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    # grades written to another gradebook do not count
    return data.get("students", {}) if data.get("db_url") == db_url else {}


def _save_state(root: pathlib.Path, assignment: str, db_url: str, entries: dict[str, dict[str, Any]]) -> None:
    path = _state_path(root, assignment)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"db_url": db_url, "students": entries}, indent=1, sort_keys=True))
    os.replace(tmp, path)  # atomic: an interrupted run leaves the old state, never half a file


# ---- backends: local processes or a Dask cluster ----------------------------------------------

class _LocalBackend:
    """A ``ProcessPoolExecutor`` that is rebuilt when a worker dies (BrokenProcessPool)."""

    def __init__(self, workers: int, warm: tuple[str, str] | None = None) -> None:
        self.workers = workers
        self.warm = warm  # (course root, assignment): start each worker's first kernel at once
        self.pool: cf.ProcessPoolExecutor | None = None
        # one task running and one queued per worker: a worker takes its next student at once
        # instead of idling while the coordinator merges the last one (0.1 s a submission).
        # When a worker dies, the pool fails every task in flight; each is retried alone,
        # so an innocent queued student costs time, never a grade
        self.limit = 2 * workers

    def submit(self, task: GradeTask) -> cf.Future:
        if self.pool is None:
            # spawn: a fresh interpreter per worker, nothing inherited from the coordinator's state
            self.pool = cf.ProcessPoolExecutor(max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
                                               initializer=_warm_worker if self.warm else None, initargs=self.warm or ())
        return self.pool.submit(grade_one, task)

    def wait(self, futures: Iterable[Any]) -> set:
        done, _ = cf.wait(list(futures), return_when=cf.FIRST_COMPLETED)
        return done

    def failed(self, err: BaseException) -> None:
        from concurrent.futures.process import BrokenProcessPool

        if isinstance(err, BrokenProcessPool) and self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = None

    def retried(self, err: BaseException) -> bool:
        """Whether the engine already ran the task again after its worker died (never here)."""
        return False

    def single(self) -> "_LocalBackend":
        self.close()
        return _LocalBackend(1, self.warm)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None


class _DaskBackend:
    """Tasks on a Dask distributed cluster (``distributed.Client(scheduler)``)."""

    def __init__(self, scheduler: str) -> None:
        from distributed import Client

        self.client = Client(scheduler, timeout="30s")
        self.limit = 2 * max(1, sum(self.client.nthreads().values()))  # as _LocalBackend: no idle worker

    def submit(self, task: GradeTask) -> Any:
        import uuid

        return self.client.submit(grade_one, task, pure=False, key=f"grade-{task.assignment}-{task.student}-{uuid.uuid4().hex[:8]}")

    def wait(self, futures: Iterable[Any]) -> set:
        from distributed import wait

        done, _ = wait(list(futures), return_when="FIRST_COMPLETED")
        return set(done)

    def failed(self, err: BaseException) -> None:
        pass  # Dask reschedules a dead worker's task itself (distributed.scheduler.allowed-failures)

    def retried(self, err: BaseException) -> bool:
        """A ``KilledWorker``: Dask already re-ran the task as often as the cluster allows
        (``distributed.scheduler.allowed-failures``, default 3); running it again would
        only kill more workers."""
        from distributed.scheduler import KilledWorker

        return isinstance(err, KilledWorker)

    def single(self) -> "_DaskBackend":
        self.limit = 1
        return self

    def close(self) -> None:
        self.client.close()


def _run(backend: Any, tasks: list[GradeTask], on_result: Any, progress: Any) -> list[tuple[GradeTask, BaseException]]:
    """Run ``tasks`` with at most ``backend.limit`` in flight; return the tasks whose worker failed."""
    queue = collections.deque(tasks)
    inflight: dict[Any, GradeTask] = {}
    lost: list[tuple[GradeTask, BaseException]] = []
    while queue or inflight:
        while queue and len(inflight) < backend.limit:
            task = queue.popleft()
            inflight[backend.submit(task)] = task
        for fut in backend.wait(inflight):
            task = inflight.pop(fut)
            try:
                res = fut.result()
            except Exception as err:  # noqa: BLE001 - a dead worker costs only its student
                backend.failed(err)
                lost.append((task, err))
                continue
            on_result(res)
            progress.update(1)
    return lost


# ---- the coordinator ------------------------------------------------------------------------

def grade_class(
    course_root: str | os.PathLike[str],
    assignment: str,
    *,
    workers: int = 2,
    scheduler: str | None = None,
    force: bool = False,
    timeout: int | None = None,
    prewarm: bool = True,
    progress: bool = True,
    feedback: bool = True,
    export: bool = True,
    report: bool = True,
    sandbox: bool | None = None,
) -> ClassGrading:
    """Autograde every submission of ``assignment`` in parallel, then feedback, export and item report.

    Args:
        course_root: The course folder (holding ``nbgrader_config.py``).
        assignment: e.g. ``"ps01_penalties"``; it must have been released.
        workers: Local worker processes (ignored with ``scheduler``).
        scheduler: A Dask scheduler address (``tcp://host:port``) to grade on its workers.
        force: Regrade every submission, also the unchanged ones.
        timeout: Seconds per cell (default: the course config).
        prewarm: Start each worker's next kernel (and its imports) while the current notebook runs.
        progress: Show a tqdm progress bar.
        feedback: Generate HTML feedback for the students graded in this run.
        export: Write ``<course>/grades.csv``.
        report: Write the item analysis in ``reports/`` (see :mod:`.report`).
        sandbox: False grades without the kernel sandbox (``--no-sandbox``: a loud warning,
            and every status row says so); None follows ``c.Sandbox.enabled`` of the course config.

    Returns:
        A :class:`ClassGrading` with one status per student folder in ``submitted/``.
    """
    from tqdm.auto import tqdm

    from . import pipeline
    from .merge import merge_shard, snapshot, sqlite_path

    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    t0 = time.perf_counter()
    root = pathlib.Path(course_root).resolve()
    cfg = pipeline.load_config(root)
    db_url = str(cfg.CourseDirectory.db_url)
    main_db = sqlite_path(db_url)
    api = pipeline.make_api(root)
    sandbox = _sandbox_ready(cfg, sandbox)
    if not (root / "release" / assignment).exists() and not _in_gradebook(db_url, assignment):
        raise ValueError(f"assignment {assignment!r} is not released: run `release {assignment}` first")

    students = sorted(p.parent.name for p in root.glob(f"submitted/*/{assignment}") if p.is_dir())
    previous = {} if force else _load_state(root, assignment, db_url)
    have_submission = _submitted_students(db_url, assignment)
    prints = {s: fingerprint(root / "submitted" / s / assignment) for s in students}

    def unchanged(s: str) -> bool:
        old = previous.get(s)
        if not old or old.get("hash") != prints[s] or old.get("status") == "error" or s not in have_submission:
            return False
        return old["status"] not in ("graded", "timeout") or (root / "autograded" / s / assignment).is_dir()

    skipped = [s for s in students if unchanged(s)]
    todo = [s for s in students if s not in skipped]
    statuses: dict[str, StudentStatus] = {
        s: StudentStatus(s, previous[s]["status"], previous[s].get("score"), previous[s].get("max_score"), previous[s].get("detail", ""))
        for s in skipped
    }
    failed: dict[str, StudentStatus] = {}
    for s in todo:
        bad = pipeline.check_submission(root, assignment, s)
        if bad is not None:
            failed[s] = bad
    gradable = [s for s in todo if s not in failed]

    work = pathlib.Path(tempfile.mkdtemp(prefix=".grade-", dir=root)) if main_db is not None else None
    # every kernel's jail (its private copy of a submission, its sockets) is made in here, and the
    # folder goes at the end, also the jails of a worker a notebook killed; workers inherit it
    jails = tempfile.mkdtemp(prefix="regnorm-grade-")
    os.chmod(jails, 0o711)
    old_jails = os.environ.get(JAIL_ROOT)
    os.environ[JAIL_ROOT] = jails
    worker_seconds: dict[str, float] = {}
    worker_names: dict[str, str] = {}
    fed: dict[str, bool] = {}
    try:
        base = snapshot(main_db, work / "base.db") if work is not None else None
        tasks = [
            GradeTask(str(root), assignment, s, None if work is not None else db_url,
                      str(base) if base else None, str(work / "shards" / f"{s}.db") if work is not None else None, timeout, prewarm, feedback, sandbox)
            for s in gradable
        ]

        def on_result(res: GradeResult) -> None:
            worker_seconds[res.student] = res.seconds
            fed[res.student] = res.feedback
            worker_names[res.student] = res.worker
            if res.shard_db is not None and main_db is not None:
                try:
                    merge_shard(main_db, res.shard_db, assignment, res.student)
                except ValueError:
                    pass  # nbgrader failed before it created the submission: it is zeroed below
                pathlib.Path(res.shard_db).unlink(missing_ok=True)
            if res.kind in ("graded", "timeout"):
                statuses[res.student] = StudentStatus(res.student, res.kind, None, None, res.detail)
            else:
                failed[res.student] = StudentStatus(res.student, res.kind, None, None, res.detail)

        backend: Any = (_DaskBackend(scheduler) if scheduler
                        else _LocalBackend(min(workers, max(1, len(tasks))), (str(root), assignment) if prewarm else None))
        try:
            with tqdm(total=len(tasks), desc=f"grade {assignment}", disable=not progress or not tasks) as bar:
                lost = _run(backend, tasks, on_result, bar)
                if lost:
                    # each student of a dead worker runs again alone: an innocent one is graded,
                    # one whose notebook kills the worker again is recorded and costs nobody else
                    backend = backend.single()
                    for task, err in lost:
                        again = [(task, err)] if backend.retried(err) else _run(backend, [task], on_result, bar)
                        if again:
                            failed[task.student] = StudentStatus(task.student, "error", None, None, _lost_detail(again[0][1]))
                            bar.update(1)
        finally:
            backend.close()
    finally:
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(jails, ignore_errors=True)
        if old_jails is None:
            os.environ.pop(JAIL_ROOT, None)
        else:
            os.environ[JAIL_ROOT] = old_jails

    # one writer: zero the submissions that could not be graded, then read every score
    with warnings.catch_warnings():
        _quiet_nbgrader()
        for s in failed:
            pipeline.zero_submission(api, assignment, s)
    scores = _scores(db_url, assignment, list(statuses) + list(failed))
    policy = late.policy_text(cfg)
    for s, st in list(statuses.items()) + list(failed.items()):
        score, max_score, seconds_late, penalty = scores.get(s, (None, None, 0.0, 0.0))
        if st.status not in ("graded", "timeout"):
            score = 0.0
        detail = st.detail
        if seconds_late > 0:  # the score stays nbgrader's raw score; the note says what the export takes off
            note = late.late_note(seconds_late, penalty, policy)
            detail = f"{detail}; {note}" if detail else note
        statuses[s] = StudentStatus(s, st.status, score, max_score, detail)
    ordered = [statuses[s] for s in students]
    files: dict[str, pathlib.Path] = {"status": write_status(root / "reports" / f"{assignment}_status.csv", ordered)}
    entries = {st.student_id: {"hash": prints[st.student_id], **{k: getattr(st, k) for k in ("status", "score", "max_score", "detail")}} for st in ordered}
    _save_state(root, assignment, db_url, entries)

    graded_now = [s for s in gradable if statuses[s].status in ("graded", "timeout")]
    unfed = [s for s in graded_now if not fed.get(s)]  # the workers generated the others' feedback
    if feedback and unfed:
        if len(unfed) == len(graded_now) and not skipped:
            pipeline.feedback(root, assignment)  # one nbgrader call for every autograded student
        else:
            for s in unfed:
                pipeline.feedback(root, assignment, s)
    if export:
        files["grades"] = pipeline.export(root)
    if report:
        from .report import item_analysis

        files.update(item_analysis(root, assignment))
        from .similarity import similarity_report

        # answers alike (to the reference or to each other): pairs for a human, never a score
        files["similarity"] = similarity_report(root, assignment, students)
    return ClassGrading(ordered, sorted(gradable), skipped, time.perf_counter() - t0, worker_seconds, worker_names, files,
                        sorted(s for s in graded_now if fed.get(s)))


def _sandbox_ready(cfg: Any, sandbox: bool | None) -> bool:
    """Whether to sandbox: check that bwrap works (else :class:`~.sandbox.SandboxUnavailable`),
    or warn loudly about the opt-out."""
    import sys

    settings = Sandbox(config=cfg)
    enabled = settings.enabled if sandbox is None else bool(sandbox)
    if enabled:
        check(settings)
    else:
        bar = "!" * 78
        print(f"{bar}\nWARNING: grading WITHOUT the kernel sandbox (--no-sandbox / c.Sandbox.enabled = False).\n"
              "Student code runs with the grader's rights: it can read the solutions, rewrite the gradebook,\n"
              f"reach the network and kill the grader. The status report and the export record it.\n{bar}", file=sys.stderr)
    return enabled


def _lost_detail(err: BaseException) -> str:
    """Why a student's task never returned: its worker died, or the grading code itself failed."""
    from concurrent.futures.process import BrokenProcessPool

    if isinstance(err, BrokenProcessPool) or type(err).__name__ in ("KilledWorker", "CommClosedError"):
        return f"{WORKER_DIED} ({type(err).__name__})"
    return f"grading failed twice: {type(err).__name__}: {str(err)[:200]}"


def _in_gradebook(db_url: str, assignment: str) -> bool:
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(db_url, "regnorm-lab") as gb:
        try:
            gb.find_assignment(assignment)
        except MissingEntry:
            return False
    return True


def _submitted_students(db_url: str, assignment: str) -> set[str]:
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(db_url, "regnorm-lab") as gb:
        try:
            return {sub.student_id for sub in gb.find_assignment(assignment).submissions}
        except MissingEntry:
            return set()


def _scores(db_url: str, assignment: str, students: list[str]) -> dict[str, tuple[float, float, float, float]]:
    """Per student: raw score, max score, seconds late and the late penalty nbgrader's plugin computed."""
    from nbgrader.api import Gradebook, MissingEntry

    out: dict[str, tuple[float, float, float, float]] = {}
    with Gradebook(db_url, "regnorm-lab") as gb:
        for s in students:
            try:
                sub = gb.find_submission(assignment, s)
            except MissingEntry:
                continue
            out[s] = (float(sub.score), float(sub.max_score), float(sub.total_seconds_late or 0.0),
                      float(sub.late_submission_penalty or 0.0))
    return out


# ---- CLI ------------------------------------------------------------------------------------

def _cmd_grade(args: argparse.Namespace) -> int:
    result = grade_class(
        args.course, args.assignment, workers=args.workers, scheduler=args.scheduler, force=args.force,
        timeout=args.timeout, prewarm=not args.no_prewarm, progress=True, feedback=not args.no_feedback,
        sandbox=False if args.no_sandbox else None,
    )
    counts = collections.Counter(st.status for st in result.statuses)
    for st in result.statuses:
        score = "-" if st.score is None else f"{st.score:g}/{st.max_score:g}" if st.max_score is not None else f"{st.score:g}"
        mark = "" if st.student_id in result.graded else "  (unchanged, not regraded)"
        print(f"{st.student_id:20s} {st.status:12s} {score:>10s}  {st.detail}{mark}")
    summary = ", ".join(f"{counts[k]} {k}" for k in STATUSES if counts[k])
    print(f"{args.assignment}: {summary or 'no submissions'}; graded {len(result.graded)}, "
          f"unchanged {len(result.skipped)}, {result.seconds:.1f} s")
    for name, path in result.files.items():
        print(f"{name}: {path}")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from .report import item_analysis

    for name, path in item_analysis(args.course, args.assignment).items():
        print(f"{name}: {path}")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add ``grade`` and ``report`` to the course CLI (see :func:`.cli.register`)."""
    p = sub.add_parser(
        "grade", help="grade a whole class in parallel, then feedback, export and item report",
        description="Autograde every submission of ASSIGNMENT in parallel worker processes (or on a Dask "
        "cluster), then generate feedback, export grades.csv and write the item analysis in reports/. "
        "Only new or changed submissions are graded unless --force. With the default SQLite gradebook "
        "workers grade into private copies merged by one writer; with a PostgreSQL db_url in "
        "nbgrader_config.py they write to the server.",
    )
    p.add_argument("assignment")
    p.add_argument("--workers", type=int, default=max(1, os.cpu_count() or 1), help="local worker processes (default: %(default)s)")
    p.add_argument("--scheduler", default=None, help="Dask scheduler address, e.g. tcp://10.0.0.5:8786 (the course folder must be shared)")
    p.add_argument("--force", action="store_true", help="regrade every submission, also unchanged ones")
    p.add_argument("--timeout", type=int, default=None, help="seconds per cell (default: the course config)")
    p.add_argument("--no-prewarm", action="store_true", help="start each kernel only when its notebook is due")
    p.add_argument("--no-feedback", action="store_true", help="skip the HTML feedback")
    p.add_argument("--no-sandbox", action="store_true", help="grade WITHOUT the kernel sandbox (warned about, recorded in the status report and the export)")
    p.set_defaults(func=_cmd_grade)

    p = sub.add_parser("report", help="item analysis of an assignment: score histogram and share failing each test",
                       description="Write reports/<assignment>_items.csv, _not_graded.csv and _report.png from the gradebook.")
    p.add_argument("assignment")
    p.set_defaults(func=_cmd_report)
