"""One writer for an SQLite gradebook: per-student shards merged back, and gradebook dumps to compare runs.

SQLite takes one writer at a time, so parallel grading never lets workers write the
course's ``gradebook.db``. Each worker grades one student against a private copy
(a *shard*) of a snapshot of the gradebook, which already holds the assignment,
notebook and cell definitions (and the student's earlier submission, if any, with
its manual grades). The coordinator then copies that student's rows back into the
main gradebook in one transaction (:func:`merge_shard`). Row ids are copied too,
so a regraded submission keeps its ids and its manual scores exactly as when
``nbgrader autograde`` updates it in place.

:func:`dump_submissions` reads what autograding wrote (per student: submission
timestamp, per cell: scores and comments) in a form that leaves out ids, so a
parallel run can be compared with a serial one, on SQLite or PostgreSQL.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import shutil
import sqlite3
from typing import Any, Iterator

__all__ = ["sqlite_path", "snapshot", "copy_shard", "merge_shard", "dump_submissions"]

# Tables that autograding writes, parent before child. Definition tables
# (assignment, notebook, cells) are written only by generate_assignment.
_SUBMISSION_TABLES = ("student", "submitted_assignment", "submitted_notebook", "grade", "comment")


def sqlite_path(db_url: str) -> pathlib.Path | None:
    """The file of an ``sqlite:///...`` URL, or None for any other database (e.g. PostgreSQL).

    Shape:
        A SQLAlchemy URL string -> a path or None.
    """
    prefix = "sqlite:///"
    if not db_url.startswith(prefix):
        return None
    return pathlib.Path(db_url[len(prefix):])


def snapshot(db_file: str | os.PathLike[str], dest: str | os.PathLike[str]) -> pathlib.Path:
    """A consistent copy of an SQLite gradebook (sqlite's online backup, safe while it is open).

    Shape:
        Two file paths -> the destination path.
    """
    dest = pathlib.Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.closing(sqlite3.connect(str(db_file))) as src, contextlib.closing(sqlite3.connect(str(dest))) as out:
        src.backup(out)
    return dest


def copy_shard(base: str | os.PathLike[str], dest: str | os.PathLike[str]) -> pathlib.Path:
    """A worker's private gradebook: a plain file copy of the snapshot (nobody writes the snapshot)."""
    dest = pathlib.Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(base, dest)
    return dest


def _ids(con: sqlite3.Connection, schema: str, assignment: str, student: str) -> tuple[list[str], list[str]]:
    """Ids of the student's submitted_assignment row(s) and submitted_notebook rows in ``schema``."""
    sa = [r[0] for r in con.execute(
        f"SELECT sa.id FROM {schema}.submitted_assignment sa JOIN {schema}.assignment a ON sa.assignment_id = a.id "
        "WHERE a.name = ? AND sa.student_id = ?", (assignment, student))]
    sn: list[str] = []
    for sid in sa:
        sn += [r[0] for r in con.execute(f"SELECT id FROM {schema}.submitted_notebook WHERE assignment_id = ?", (sid,))]
    return sa, sn


def _in(ids: list[str]) -> str:
    return "(" + ",".join("?" * len(ids)) + ")" if ids else "(NULL)"


def merge_shard(main_db: str | os.PathLike[str], shard_db: str | os.PathLike[str], assignment: str, student: str) -> int:
    """Replace ``student``'s submission of ``assignment`` in ``main_db`` by the one in ``shard_db``.

    One transaction: the main gradebook either gets the whole graded submission or
    stays as it was. Returns the number of grade rows copied.

    Shape:
        Two SQLite files -> the count of ``grade`` rows merged.
    """
    con = sqlite3.connect(str(main_db), timeout=60, isolation_level=None)
    try:
        con.execute("ATTACH DATABASE ? AS shard", (str(shard_db),))
        shard_sa, shard_sn = _ids(con, "shard", assignment, student)
        if not shard_sa:
            raise ValueError(f"shard_db {shard_db} holds no submission of {assignment!r} by {student!r}")
        con.execute("BEGIN IMMEDIATE")
        try:
            old_sa, old_sn = _ids(con, "main", assignment, student)
            # children first: an old submission with other ids leaves no orphans behind
            for table in ("comment", "grade"):
                con.execute(f"DELETE FROM main.{table} WHERE notebook_id IN {_in(old_sn)}", old_sn)
            con.execute(f"DELETE FROM main.submitted_notebook WHERE id IN {_in(old_sn)}", old_sn)
            con.execute(f"DELETE FROM main.submitted_assignment WHERE id IN {_in(old_sa)}", old_sa)
            con.execute("INSERT OR REPLACE INTO main.student SELECT * FROM shard.student WHERE id = ?", (student,))
            con.execute(f"INSERT INTO main.submitted_assignment SELECT * FROM shard.submitted_assignment WHERE id IN {_in(shard_sa)}", shard_sa)
            con.execute(f"INSERT INTO main.submitted_notebook SELECT * FROM shard.submitted_notebook WHERE id IN {_in(shard_sn)}", shard_sn)
            n = con.execute(f"INSERT INTO main.grade SELECT * FROM shard.grade WHERE notebook_id IN {_in(shard_sn)}", shard_sn).rowcount
            con.execute(f"INSERT INTO main.comment SELECT * FROM shard.comment WHERE notebook_id IN {_in(shard_sn)}", shard_sn)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("DETACH DATABASE shard")
        return int(n)
    finally:
        con.close()


@contextlib.contextmanager
def _gradebook(db_url: str, course_id: str) -> Iterator[Any]:
    from nbgrader.api import Gradebook

    gb = Gradebook(db_url, course_id)
    try:
        yield gb
    finally:
        gb.close()


def dump_submissions(db_url: str, assignment: str, course_id: str = "regnorm-lab") -> dict[str, dict[str, Any]]:
    """What autograding stored for ``assignment``, without row ids: to compare two gradebooks.

    Returns:
        ``{student: {"timestamp": ..., "cells": {(notebook, cell): (auto_score, manual_score,
        extra_credit, needs_manual_grade, max_score)}, "comments": {(notebook, cell):
        (auto_comment, manual_comment)}, "flagged": {...}, "late_penalty": {...}}}``.

    Shape:
        A database URL -> one entry per student with a submission.
    """
    out: dict[str, dict[str, Any]] = {}
    with _gradebook(db_url, course_id) as gb:
        for sub in gb.find_assignment(assignment).submissions:
            entry: dict[str, Any] = {"timestamp": sub.timestamp, "cells": {}, "comments": {}, "flagged": {}, "late_penalty": {}}
            for nb in sub.notebooks:
                entry["flagged"][nb.name] = bool(nb.flagged)
                entry["late_penalty"][nb.name] = nb.late_submission_penalty
                for g in nb.grades:
                    entry["cells"][(nb.name, g.name)] = (g.auto_score, g.manual_score, g.extra_credit, bool(g.needs_manual_grade), float(g.max_score))
                for c in nb.comments:
                    entry["comments"][(nb.name, c.name)] = (c.auto_comment, c.manual_comment)
            out[sub.student_id] = entry
    return out
