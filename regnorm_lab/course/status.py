"""The per-student status report ``exercises/reports/<assignment>_status.csv``.

Columns: ``student_id, status, score, max_score, detail``. ``status`` is one of

- ``graded``: autograded normally (``detail`` lists exceptions raised outside test cells, e.g. ``SystemExit``);
- ``timeout``: graded, but at least one cell hit the per-cell time limit;
- ``unreadable``: the notebook is not valid JSON/nbformat: not graded, score 0 in the gradebook;
- ``missing``: no notebook of the assignment in the submission folder: score 0;
- ``kernel_died``: the kernel died (``os._exit``, a crash, the memory or wall-clock limit).
  Mid-notebook: the cells before the one that killed it are graded as usual, that cell
  and every later one score 0, and ``detail`` names the cell and the cause. Before the
  first cell ran (the kernel never answered): nothing was graded, score 0;
- ``error``: nbgrader failed for another reason (``detail`` says which): score 0.

``detail`` also carries the flags for a human (:mod:`.flags`): after ``sandbox:``,
what the kernel sandbox denied or which limit a notebook hit (a flag never changes a
score), and ``UNSANDBOXED`` on every row graded with ``--no-sandbox``.

Only ``graded``, ``timeout`` and mid-notebook ``kernel_died`` scores come from running the tests; the others are
zeros recorded so that the gradebook stays consistent, and this file (and the
``status`` column of the export) tells them apart from a real 0.
"""

from __future__ import annotations

import csv
import os
import pathlib
from dataclasses import dataclass

__all__ = ["StudentStatus", "STATUSES", "write_status", "read_status"]

STATUSES = ("graded", "timeout", "unreadable", "missing", "kernel_died", "error")
FIELDS = ("student_id", "status", "score", "max_score", "detail")


@dataclass(frozen=True)
class StudentStatus:
    """What happened to one student's submission of one assignment."""

    student_id: str
    status: str
    score: float | None
    max_score: float | None
    detail: str = ""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")


def write_status(path: str | os.PathLike[str], rows: list[StudentStatus]) -> pathlib.Path:
    """Write ``rows`` to the CSV at ``path`` (folders created); return the path."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(FIELDS)
        for r in rows:
            writer.writerow([r.student_id, r.status, "" if r.score is None else f"{r.score:g}", "" if r.max_score is None else f"{r.max_score:g}", r.detail])
    return path


def read_status(path: str | os.PathLike[str]) -> list[StudentStatus]:
    """Read a status CSV written by :func:`write_status`."""
    with open(path, newline="") as f:
        return [
            StudentStatus(
                row["student_id"],
                row["status"],
                float(row["score"]) if row["score"] else None,
                float(row["max_score"]) if row["max_score"] else None,
                row["detail"],
            )
            for row in csv.DictReader(f)
        ]
