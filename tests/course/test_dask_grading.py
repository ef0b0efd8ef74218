"""``grade --scheduler``: the workers are a Dask distributed cluster, the gradebook on PostgreSQL.

A ``distributed.LocalCluster`` of two worker processes on 127.0.0.1 stands in for
the machines of a real cluster (they share the course folder); the planted class
of ``test_parallel_grading`` must get the scores its planted mistakes call for, and
a notebook that kills its Dask worker (possible only without the sandbox, which hides
the worker from the kernel) costs only that student, retried only as often as the
cluster allows.
"""

from __future__ import annotations

import pytest

from regnorm_lab.course import parallel
from regnorm_lab.course.postgres import temporary_postgres

from . import harness as H
from .test_parallel_grading import A, EXPECTED_STATUS, KILLER, SCORED, SOLUTION, TIMEOUT, check_scores, plant_class

pytestmark = pytest.mark.slow
ALLOWED_FAILURES = 1  # the cluster re-runs a task whose worker died once, then gives up (KilledWorker)


@pytest.fixture(scope="module")
def cluster():
    import dask
    from distributed import LocalCluster

    # the scheduler (in this process) reads the setting when it starts
    with dask.config.set({"distributed.scheduler.allowed-failures": ALLOWED_FAILURES}):
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None) as c:
            yield c


def test_dask_cluster_against_postgres_gives_the_planted_scores(cluster, tmp_path) -> None:
    from distributed import Client

    with temporary_postgres("gradebook_dask") as url:
        course = plant_class(tmp_path, db_url=url)
        result = parallel.grade_class(course, A, scheduler=cluster.scheduler_address, timeout=TIMEOUT, progress=False, report=False)
        check_scores(course, {s.student_id: s for s in result.statuses})
        # each cluster worker wrote its students' feedback, from the grades on the server
        graded = sorted(s for s, st in EXPECTED_STATUS.items() if st in SCORED)
        assert result.worker_feedback == graded
        assert sorted(p.parent.parent.name for p in course.glob(f"feedback/*/{A}/{A}.html")) == graded
        # the notebooks ran on both cluster workers, not in this process
        workers = {w.split(":")[1] for w in result.worker_names.values()}
        with Client(cluster.scheduler_address) as client:
            pids = {str(p) for p in client.run(__import__("os").getpid).values()}
        assert workers <= pids and len(workers) == 2, f"graded by {workers}, cluster workers {pids}"


def test_a_notebook_that_kills_its_dask_worker_costs_only_that_student(cluster, tmp_path) -> None:
    runs = tmp_path / "killer_runs.txt"  # one line per time the killer's notebook ran
    killer = {"answers": {**KILLER["answers"], "l1_penalty": f"open({str(runs)!r}, 'a').write('ran\\n')\n" + KILLER["answers"]["l1_penalty"]}}
    course = plant_class(tmp_path, students={"killer": killer, "solution": {"answers": SOLUTION}, "solution2": {"answers": SOLUTION}})
    result = parallel.grade_class(course, A, scheduler=cluster.scheduler_address, timeout=TIMEOUT, progress=False, feedback=False,
                                  report=False, sandbox=False)
    st = {s.student_id: s for s in result.statuses}
    assert st["killer"].status == "error" and "KilledWorker" in st["killer"].detail, st["killer"]
    assert st["killer"].score == 0.0 and H.total(H.cell_scores(course, A, "killer")) == (0.0, 25.0)
    for s in ("solution", "solution2"):
        assert st[s].status == "graded" and H.total(H.cell_scores(course, A, s)) == (25.0, 25.0), st[s]
    # Dask's retries only (1 + allowed failures): the command does not add its own on top
    assert runs.read_text().count("ran") == 1 + ALLOWED_FAILURES
