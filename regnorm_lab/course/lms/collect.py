"""Collect an LMS download into nbgrader's ``submitted/<student>/<assignment>/``: newest wins, nothing dropped silently.

``collect(course, download, assignment)`` reads a Canvas, Moodle or plain zip (or
folder) as downloaded, and per student and notebook keeps the newest file:

- older resubmissions of the same download go to ``downloaded/<a>/archive/<student>/``;
- a file already collected is replaced only by a *newer* one (the replaced file
  is archived too); an identical one is left alone, so a second ``collect`` of a
  newer zip changes exactly the students who handed in something new, and
  ``grade`` (which fingerprints submissions) regrades only them;
- the submission time goes to nbgrader's ``timestamp.txt`` (late penalties);
- every file not collected is returned as a :class:`~.records.Skipped` with its
  reason (the CLI lists them and exits 1 unless ``--accept-skips``);
- ``downloaded/<a>/submissions.csv`` keeps, per student, the LMS's name for the
  file: ``feedback --zip`` names each feedback file with it.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import hashlib
import os
import pathlib
import shutil
from typing import Iterable

from . import canvas, moodle, plain
from .records import Entry, LmsFile, Skipped, entries

__all__ = ["CollectResult", "detect", "read_download", "newest", "collect", "read_manifest", "MANIFEST_FIELDS"]

LMS_KINDS = ("auto", "canvas", "moodle", "plain")
MANIFEST_FIELDS = ("student_id", "name", "lms", "file", "member", "submitted_at", "late", "feedback_key")


@dataclasses.dataclass
class CollectResult:
    """What a collect did, student by student."""

    lms: str
    new: list[str] = dataclasses.field(default_factory=list)
    updated: list[str] = dataclasses.field(default_factory=list)
    unchanged: list[str] = dataclasses.field(default_factory=list)
    archived: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # (member or file, why)
    skipped: list[Skipped] = dataclasses.field(default_factory=list)
    notes: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # (student, note)
    late: dict[str, float] = dataclasses.field(default_factory=dict)  # student -> seconds late
    marked_late: list[str] = dataclasses.field(default_factory=list)  # students the LMS marked late (Canvas LATE)
    due: dt.datetime | None = None

    @property
    def students(self) -> list[str]:
        """Students whose submission is in ``submitted/`` after this collect (new, updated or unchanged)."""
        return sorted(set(self.new) | set(self.updated) | set(self.unchanged))


def detect(members: Iterable[str]) -> str:
    """Which LMS made a download: ``moodle`` if any path has Moodle's folder/name pattern,
    else ``canvas`` if any file has Canvas's, else ``plain``."""
    members = list(members)
    if any(moodle.looks_like(m) for m in members):
        return "moodle"
    if any(canvas.looks_like(m) for m in members):
        return "canvas"
    return "plain"


def read_download(
    source: str | os.PathLike[str], notebooks: list[str], assignment: str, *, lms: str = "auto",
    zip_timezone: dt.tzinfo = dt.timezone.utc,
) -> tuple[str, list[LmsFile], list[Skipped], dict[str, Entry]]:
    """Parse a download: (the LMS, its submission records, skipped files, entries by member).

    Raises:
        ValueError: ``lms`` is not one of auto/canvas/moodle/plain, or ``source`` is not a zip or folder.
    """
    if lms not in LMS_KINDS:
        raise ValueError(f"lms must be one of {', '.join(LMS_KINDS)}, got {lms!r}")
    items = list(entries(source, zip_timezone))
    kind = detect(e.member for e in items) if lms == "auto" else lms
    if kind == "canvas":
        files, skipped = canvas.parse(items, notebooks)
    elif kind == "moodle":
        files, skipped = moodle.parse(items, notebooks)
    else:
        files, skipped = plain.parse(items, notebooks, assignment)
    return kind, files, skipped, {e.member: e for e in items}


def _order(f: LmsFile) -> tuple:
    epoch = dt.datetime.min.replace(tzinfo=dt.timezone.utc)
    return (f.submitted_at or epoch, f.attempt, f.member)


def newest(files: list[LmsFile]) -> tuple[dict[tuple[str, str], LmsFile], list[LmsFile]]:
    """Per (student, notebook) the newest record (time, then resubmission number); and the older ones."""
    best: dict[tuple[str, str], LmsFile] = {}
    older: list[LmsFile] = []
    for f in sorted(files, key=_order):
        key = (f.student_id, f.file)
        if key in best:
            older.append(best[key])
        best[key] = f
    return best, older


def _stamp(when: dt.datetime | None) -> str:
    return when.strftime("%Y%m%dT%H%M%SZ") if when else "undated"


def read_manifest(course_root: str | os.PathLike[str], assignment: str) -> dict[str, dict[str, str]]:
    """``downloaded/<a>/submissions.csv``: student id -> the LMS's record of their collected file."""
    path = pathlib.Path(course_root) / "downloaded" / assignment / "submissions.csv"
    if not path.exists():
        return {}
    with open(path, newline="") as f:
        return {r["student_id"]: r for r in csv.DictReader(f)}


def _write_manifest(root: pathlib.Path, assignment: str, rows: dict[str, dict[str, str]]) -> None:
    path = root / "downloaded" / assignment / "submissions.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=MANIFEST_FIELDS)
        w.writeheader()
        for sid in sorted(rows):
            w.writerow(rows[sid])


def collect(
    course_root: str | os.PathLike[str],
    source: str | os.PathLike[str],
    assignment: str,
    *,
    lms: str = "auto",
    worksheet: str | os.PathLike[str] | None = None,
    zip_timezone: str = "UTC",
) -> CollectResult:
    """Put the newest file of every student of a download into ``submitted/`` (see the module doc).

    Args:
        course_root: The course folder (holding ``nbgrader_config.py``).
        source: The zip (or folder) exactly as the LMS gave it.
        assignment: e.g. ``"ps01_penalties"``; it must have a source notebook.
        lms: ``auto`` (detected from the file names), ``canvas``, ``moodle`` or ``plain``.
        worksheet: Moodle's grading worksheet: its "Last modified (submission)" times win over zip times.
        zip_timezone: The zone of the zip's entry times (UTC for Canvas and Moodle servers).

    Raises:
        ValueError: an unknown assignment or ``lms``, or a ``source`` that is no zip or folder.
    """
    from dateutil.tz import gettz

    from .. import late, pipeline

    root = pathlib.Path(course_root).resolve()
    notebooks = sorted(p.stem for p in (root / "source" / assignment).glob("*.ipynb"))
    if not notebooks:
        raise ValueError(f"assignment {assignment!r} is unknown: no notebook in {root / 'source' / assignment}")
    tz = gettz(zip_timezone)
    if tz is None:
        raise ValueError(f"zip_timezone must be an IANA zone name, got {zip_timezone!r}")
    cfg = pipeline.load_config(root)
    kind, files, skipped, by_member = read_download(source, notebooks, assignment, lms=lms, zip_timezone=tz)
    result = CollectResult(kind, skipped=list(skipped), due=late.due_date(cfg, assignment))
    if worksheet is not None:
        times = late.moodle_times(worksheet, late.DueDates(config=cfg).timezone)
        files = [dataclasses.replace(f, submitted_at=times.get(f.student_id, f.submitted_at)) for f in files]
    best, older = newest(files)
    archive = root / "downloaded" / assignment / "archive"
    for f in older:
        dest = archive / f.student_id / f"{_stamp(f.submitted_at)}_{pathlib.PurePosixPath(f.member).name}"
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(by_member[f.member].read())
        result.archived.append((f.member, f"an older submission of student {f.student_id}: kept in {dest.relative_to(root)}"))
    manifest = read_manifest(root, assignment)
    for (sid, file), f in sorted(best.items()):
        when, note = late.resolve_submitted_at(f.submitted_at, f.late, result.due)
        if note:
            result.notes.append((sid, note))
        folder = root / "submitted" / sid / assignment
        target = folder / file
        data = by_member[f.member].read()
        stamp_file = folder / "timestamp.txt"
        if target.exists():
            if hashlib.sha256(target.read_bytes()).digest() == hashlib.sha256(data).digest():
                result.unchanged.append(sid)
                continue
            old_when = _timestamp_of(stamp_file)
            if old_when and when and old_when > when:
                result.skipped.append(Skipped(f.member, f"older ({when:%Y-%m-%d %H:%M} UTC) than the submission of student "
                                                        f"{sid} already collected ({old_when:%Y-%m-%d %H:%M} UTC)"))
                result.unchanged.append(sid)
                continue
            dest = archive / sid / f"{_stamp(old_when)}_{file}"
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(target, dest)
            result.archived.append((str(target.relative_to(root)), f"replaced by a newer submission: kept in {dest.relative_to(root)}"))
            result.updated.append(sid)
        else:
            result.new.append(sid)
        folder.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        if when is not None:
            stamp_file.write_text(when.isoformat() + "\n")
        elif stamp_file.exists():
            stamp_file.unlink()
        if f.late:
            result.marked_late.append(sid)
        if when is not None and result.due is not None and when > result.due:
            result.late[sid] = (when - result.due).total_seconds()
        manifest[sid] = {"student_id": sid, "name": f.name, "lms": f.lms, "file": file, "member": f.member,
                         "submitted_at": when.isoformat() if when else "", "late": "" if f.late is None else str(f.late),
                         "feedback_key": f.feedback_key}
    for lst in (result.new, result.updated, result.unchanged):
        lst[:] = sorted(set(lst))
    _write_manifest(root, assignment, manifest)
    src = pathlib.Path(source)
    if src.is_file():
        archive.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, archive / f"{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%SZ}_{src.name}")
    late.sync_due_date(root, assignment)
    return result


def _timestamp_of(path: pathlib.Path) -> dt.datetime | None:
    """The time in a submission's ``timestamp.txt`` (UTC, aware), or None."""
    if not path.exists() or not path.read_text().strip():
        return None
    from .. import late

    return late.parse_time(path.read_text().strip())
