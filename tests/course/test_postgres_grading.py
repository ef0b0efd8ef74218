"""``grade`` with the gradebook on a PostgreSQL server: workers write to it concurrently.

A throwaway server (Debian's ``postgresql``, as the ``postgres`` user when we are
root) listens on 127.0.0.1; the course copy's ``nbgrader_config.py`` points
``CourseDirectory.db_url`` at it, as an instructor would. The planted class of
``test_parallel_grading`` must get the scores its planted mistakes call for, the
same as the serial SQLite run there checks.
"""

from __future__ import annotations

import pytest

from regnorm_lab.course import parallel
from regnorm_lab.course.merge import dump_submissions
from regnorm_lab.course.postgres import temporary_postgres

from .test_parallel_grading import A, CLASS, TIMEOUT, check_scores, db_url_of, plant_class

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pg_url():
    with temporary_postgres("gradebook_parallel") as url:
        yield url


def test_parallel_grading_on_postgres_gives_the_planted_scores(pg_url: str, tmp_path) -> None:
    course = plant_class(tmp_path, db_url=pg_url)
    assert db_url_of(course).startswith("postgresql")
    result = parallel.grade_class(course, A, workers=2, timeout=TIMEOUT, progress=False, feedback=False)
    statuses = {s.student_id: s for s in result.statuses}
    check_scores(course, statuses)
    # everything went to the server: the course folder has no SQLite gradebook and no shards
    assert not (course / "gradebook.db").exists() and not list(course.glob(".grade-*"))
    dump = dump_submissions(pg_url, A)
    assert set(dump) == set(CLASS)
    assert sum(v[0] or 0 for v in dump["solution"]["cells"].values()) == 25.0
    # the report reads the same server
    with open(result.files["items"]) as f:
        assert "test_l2_penalty_forward" in f.read()
