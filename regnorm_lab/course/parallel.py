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

- a student whose notebook kills its kernel loses only the cells from the dying
  one on (:mod:`.kernel_death`); one whose notebook hangs (bounded by the per-cell
  timeout and the sandbox's wall clock) or kills the grading worker itself costs only that student: a dead
  worker's students are retried once, each alone, and a student who kills the
  worker again is recorded as ``error``; the rest of the class is graded. On
  Dask the cluster does the retrying (its ``distributed.scheduler.allowed-failures``
  setting): a task it gives up on (``KilledWorker``) is recorded, not re-run;
- a fingerprint of every submission folder is kept in
  ``reports/<assignment>_grading_state.json``; re-running grades only new or
  changed submissions (and earlier ``error`` ones) unless ``force``.

The statuses are those of :mod:`.status` (the same CSV as ``autograde`` writes).
What one worker does for one student is in :mod:`.grade_worker`; where the workers
run (local processes, Dask) in :mod:`.grade_backends`.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import hashlib
import json
import os
import pathlib
import shutil
import tempfile
import time
import warnings
from typing import Any

from . import late
from .grade_backends import DaskBackend, LocalBackend, lost_detail, run
from .grade_worker import GradeResult, GradeTask, grade_one, quiet_nbgrader, remove_stale_jails, spares_left
from .sandbox import JAIL_ROOT, Sandbox, check
from .status import STATUSES, StudentStatus, write_status

__all__ = [
    "GradeTask",
    "GradeResult",
    "ClassGrading",
    "grade_one",
    "grade_class",
    "fingerprint",
    "add_commands",
]

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
        return old["status"] not in ("graded", "timeout", "kernel_died") or (root / "autograded" / s / assignment).is_dir()

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
    remove_stale_jails()  # what killed workers of earlier runs left
    jails = tempfile.mkdtemp(prefix="regnorm-grade-")
    os.chmod(jails, 0o711)
    old_jails = os.environ.get(JAIL_ROOT)
    os.environ[JAIL_ROOT] = jails
    worker_seconds: dict[str, float] = {}
    worker_names: dict[str, str] = {}
    fed: dict[str, bool] = {}
    try:
        base = snapshot(main_db, work / "base.db") if work is not None else None
        n_workers = min(workers, max(1, len(gradable))) if not scheduler else None
        tasks = [
            GradeTask(str(root), assignment, s, None if work is not None else db_url,
                      str(base) if base else None, str(work / "shards" / f"{s}.db") if work is not None else None, timeout, prewarm, feedback, sandbox,
                      spares_left=spares_left(len(gradable) - 1 - i, n_workers))
            for i, s in enumerate(gradable)
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
            if res.scored:  # graded, timeout, or a kernel death mid-notebook (the cells before it count)
                statuses[res.student] = StudentStatus(res.student, res.kind, None, None, res.detail)
            else:
                failed[res.student] = StudentStatus(res.student, res.kind, None, None, res.detail)

        backend: Any = (DaskBackend(scheduler) if scheduler
                        else LocalBackend(n_workers or 1, (str(root), assignment) if prewarm else None))
        try:
            with tqdm(total=len(tasks), desc=f"grade {assignment}", disable=not progress or not tasks) as bar:
                lost = run(backend, tasks, on_result, bar)
                if lost:
                    # each student of a dead worker runs again alone: an innocent one is graded,
                    # one whose notebook kills the worker again is recorded and costs nobody else
                    backend = backend.single()
                    for task, err in lost:
                        again = [(task, err)] if backend.retried(err) else run(backend, [task], on_result, bar)
                        if again:
                            failed[task.student] = StudentStatus(task.student, "error", None, None, lost_detail(again[0][1]))
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
        quiet_nbgrader()
        for s in failed:
            pipeline.zero_submission(api, assignment, s)
    scores = _scores(db_url, assignment, list(statuses) + list(failed))
    policy = late.policy_text(cfg)
    for s, st in list(statuses.items()) + list(failed.items()):
        score, max_score, seconds_late, penalty = scores.get(s, (None, None, 0.0, 0.0))
        if s in failed or st.status in ("unreadable", "missing", "error"):
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

    graded_now = [s for s in gradable if s not in failed]  # their cells were scored
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
