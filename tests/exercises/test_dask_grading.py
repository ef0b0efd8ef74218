"""``grade --scheduler``: the workers are a Dask distributed cluster, the gradebook on PostgreSQL.

A ``distributed.LocalCluster`` of two worker processes on 127.0.0.1 stands in for
the machines of a real cluster (they share the course folder); the planted class
of ``test_parallel_grading`` must get the scores its planted mistakes call for.
"""

from __future__ import annotations

import pytest

from regnorm_lab.course import parallel
from regnorm_lab.course.postgres import temporary_postgres

from .test_parallel_grading import A, TIMEOUT, check_scores, plant_class

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster():
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None) as c:
        yield c


def test_dask_cluster_against_postgres_gives_the_planted_scores(cluster, tmp_path) -> None:
    from distributed import Client

    with temporary_postgres("gradebook_dask") as url:
        course = plant_class(tmp_path, db_url=url)
        result = parallel.grade_class(course, A, scheduler=cluster.scheduler_address, timeout=TIMEOUT, progress=False, feedback=False, report=False)
        check_scores(course, {s.student_id: s for s in result.statuses})
        # the notebooks ran on both cluster workers, not in this process
        workers = {w.split(":")[1] for w in result.worker_names.values()}
        with Client(cluster.scheduler_address) as client:
            pids = {str(p) for p in client.run(__import__("os").getpid).values()}
        assert workers <= pids and len(workers) == 2, f"graded by {workers}, cluster workers {pids}"
