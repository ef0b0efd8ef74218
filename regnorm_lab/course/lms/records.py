"""What an LMS download holds, platform-neutral: one :class:`LmsFile` per file a student handed in.

The parsers (:mod:`.canvas`, :mod:`.moodle`, :mod:`.plain`) turn a zip or folder
into these records; :mod:`.collect` decides which one wins per student. Every
file that is not a submission becomes a :class:`Skipped` with its reason, so that
nothing is dropped without a word.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import pathlib
import zipfile
from typing import Callable, Iterable, Iterator

__all__ = ["LmsFile", "Skipped", "Entry", "entries", "noise_reason", "without_noise", "notebook_target"]


@dataclasses.dataclass(frozen=True)
class LmsFile:
    """One file a student handed in, as the LMS named it.

    Attributes:
        student_id: The id grades go back under: Canvas's user id, Moodle's participant
            id ("Participant 2001" -> ``"2001"``), or the folder name of a plain download.
        name: The student's name as the LMS wrote it (may be empty).
        member: The path of the file inside the zip or folder.
        file: The file name the student uploaded, resubmission suffix removed.
        submitted_at: When it was handed in (UTC), if the download says so.
        late: True/False when the LMS marks lateness (Canvas ``_LATE_``), else None.
        attempt: Resubmission number (Canvas ``-1``, ``-2`` suffixes; 0 for the first).
        lms: ``"canvas"``, ``"moodle"`` or ``"plain"``.
        feedback_key: What the LMS needs in a feedback file's name to attach it to this
            student (Canvas: ``name_userid_submissionid``; Moodle: the submission folder name).
    """

    student_id: str
    name: str
    member: str
    file: str
    submitted_at: dt.datetime | None
    late: bool | None
    attempt: int
    lms: str
    feedback_key: str


@dataclasses.dataclass(frozen=True)
class Skipped:
    """A file of the download that was not collected, and why."""

    member: str
    reason: str


@dataclasses.dataclass(frozen=True)
class Entry:
    """One file of a zip or folder: its path (``/``-separated), time (UTC) and a reader."""

    member: str
    modified: dt.datetime | None
    read: Callable[[], bytes]


def entries(source: str | os.PathLike[str], zip_timezone: dt.tzinfo = dt.timezone.utc) -> Iterator[Entry]:
    """The files of a downloaded zip or of a folder, in name order (directories left out).

    Args:
        source: A ``.zip`` file or a folder.
        zip_timezone: The zone zip entry times are in (zip stores wall-clock times without
            one; Canvas and Moodle build their zips on servers in UTC).

    Raises:
        ValueError: ``source`` is neither a zip file nor a folder.
    """
    path = pathlib.Path(source)
    if path.is_dir():
        for p in sorted(q for q in path.rglob("*") if q.is_file()):
            mtime = dt.datetime.fromtimestamp(p.stat().st_mtime, tz=dt.timezone.utc)
            yield Entry(p.relative_to(path).as_posix(), mtime, p.read_bytes)
        return
    if not zipfile.is_zipfile(path):
        raise ValueError(f"source must be a zip file or a folder, got {source}")
    with zipfile.ZipFile(path) as z:
        infos = sorted((i for i in z.infolist() if not i.is_dir()), key=lambda i: i.filename)
        for info in infos:
            when = dt.datetime(*info.date_time, tzinfo=zip_timezone).astimezone(dt.timezone.utc)
            data = z.read(info)  # read now: the zip closes when the generator ends
            yield Entry(info.filename, when, lambda d=data: d)


def noise_reason(member: str) -> str | None:
    """Why a file is operating-system clutter rather than a submission (None if it is not)."""
    parts = member.split("/")
    if "__MACOSX" in parts or parts[-1] in (".DS_Store", "Thumbs.db", "desktop.ini"):
        return "operating-system metadata, not a submission"
    if ".ipynb_checkpoints" in parts:
        return "a Jupyter checkpoint copy, not the submission"
    return None


def without_noise(items: Iterable[Entry], skipped: list[Skipped]) -> Iterator[Entry]:
    """The entries that are not operating-system clutter; each clutter file goes to ``skipped`` with its reason."""
    for e in items:
        noise = noise_reason(e.member)
        if noise:
            skipped.append(Skipped(e.member, noise))
        else:
            yield e


def notebook_target(file: str, notebooks: list[str]) -> tuple[str | None, str]:
    """Which notebook of the assignment an uploaded file is: (``<nb>.ipynb`` or None, note).

    An exact name wins. A single-notebook assignment also takes a renamed ``.ipynb``
    (``Copy of ps01_penalties.ipynb``), noted, because the student clearly meant it.
    """
    if not file.lower().endswith(".ipynb"):
        suffix = pathlib.PurePosixPath(file).suffix or "no extension"
        return None, f"not a notebook ({suffix})"
    wanted = {f"{n}.ipynb": n for n in notebooks}
    if file in wanted:
        return file, ""
    if len(notebooks) == 1:
        return f"{notebooks[0]}.ipynb", f"renamed {file} -> {notebooks[0]}.ipynb"
    return None, f"{file} is none of the assignment's notebooks ({', '.join(sorted(wanted))})"
