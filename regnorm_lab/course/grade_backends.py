"""Where the grading tasks run: local worker processes or a Dask cluster, and the loop that feeds them.

:func:`run` keeps at most ``backend.limit`` tasks in flight (one running and one queued
per worker, so that a worker never idles while the coordinator merges) and returns the
tasks whose worker died. Both backends answer the same small protocol: ``submit``,
``wait``, ``failed`` (a dead worker was seen), ``retried`` (the engine already re-ran it),
``single`` (a one-worker backend for the retries) and ``close``.
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import multiprocessing
from typing import Any, Iterable

from .grade_worker import GradeTask, grade_one, warm_worker

__all__ = ["LocalBackend", "DaskBackend", "run", "lost_detail", "WORKER_DIED"]

WORKER_DIED = "the grading worker process died twice while grading this notebook (e.g. the notebook killed its parent process)"


class LocalBackend:
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
                                               initializer=warm_worker if self.warm else None, initargs=self.warm or ())
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

    def single(self) -> "LocalBackend":
        self.close()
        return LocalBackend(1, self.warm)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None


class DaskBackend:
    """Tasks on a Dask distributed cluster (``distributed.Client(scheduler)``)."""

    def __init__(self, scheduler: str) -> None:
        from distributed import Client

        self.client = Client(scheduler, timeout="30s")
        self.limit = 2 * max(1, sum(self.client.nthreads().values()))  # as LocalBackend: no idle worker

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

    def single(self) -> "DaskBackend":
        self.limit = 1
        return self

    def close(self) -> None:
        self.client.close()


def run(backend: Any, tasks: list[GradeTask], on_result: Any, progress: Any) -> list[tuple[GradeTask, BaseException]]:
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


def lost_detail(err: BaseException) -> str:
    """Why a student's task never returned: its worker died, or the grading code itself failed."""
    from concurrent.futures.process import BrokenProcessPool

    if isinstance(err, BrokenProcessPool) or type(err).__name__ in ("KilledWorker", "CommClosedError"):
        return f"{WORKER_DIED} ({type(err).__name__})"
    return f"grading failed twice: {type(err).__name__}: {str(err)[:200]}"
