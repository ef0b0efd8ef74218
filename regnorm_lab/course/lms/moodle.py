"""Moodle "Download all submissions": ``Full Name_participantid_assignsubmission_file_/file``.

With "Download submissions in folders" (Moodle's default since 3.x) each student
gets a folder ``<Full Name>_<participant id>_assignsubmission_file_`` holding the
uploaded files; without it the same prefix is glued to each file name. Online
text submissions come as ``..._assignsubmission_onlinetext_/onlinetext.html``.
The student id is the participant id, which Moodle's grading worksheet shows as
``Identifier`` = ``Participant 2001``; its "Upload multiple feedback files in a
zip" reads the same folder names back.
"""

from __future__ import annotations

import re
from typing import Iterable

from .records import Entry, LmsFile, Skipped, notebook_target, without_noise

__all__ = ["FOLDER", "FLAT", "looks_like", "parse"]

FOLDER = re.compile(r"^(?P<name>.+)_(?P<participant>\d+)_assignsubmission_(?P<plugin>[a-z]+)_$")
FLAT = re.compile(r"^(?P<name>.+?)_(?P<participant>\d+)_assignsubmission_(?P<plugin>[a-z]+)_(?P<file>.+)$")


def looks_like(member: str) -> bool:
    """True if a path follows Moodle's submission naming (folder or flat)."""
    return any(FOLDER.match(p) for p in member.split("/")[:-1]) or FLAT.match(member.rsplit("/", 1)[-1]) is not None


def _split(member: str) -> tuple[re.Match[str] | None, str]:
    """(the match naming the student, the uploaded file's path below it)."""
    parts = member.split("/")
    for i, part in enumerate(parts[:-1]):
        m = FOLDER.match(part)
        if m:
            return m, "/".join(parts[i + 1:])
    m = FLAT.match(parts[-1])
    return (m, m["file"]) if m else (None, "")


def parse(items: Iterable[Entry], notebooks: list[str]) -> tuple[list[LmsFile], list[Skipped]]:
    """Records of a Moodle download; the rest skipped with a reason.

    Args:
        items: The download's files (see :func:`.records.entries`).
        notebooks: The assignment's notebook names (without ``.ipynb``).
    """
    files: list[LmsFile] = []
    skipped: list[Skipped] = []
    for e in without_noise(items, skipped):
        m, uploaded = _split(e.member)
        if m is None:
            skipped.append(Skipped(e.member, "not named as Moodle names submissions (Full Name_participantid_assignsubmission_file_)"))
            continue
        if m["plugin"] != "file":
            skipped.append(Skipped(e.member, f"a Moodle {m['plugin']} submission, not an uploaded file; participant {m['participant']}"))
            continue
        target, note = notebook_target(uploaded.rsplit("/", 1)[-1], notebooks)
        if target is None:
            skipped.append(Skipped(e.member, f"{note}; participant {m['participant']}"))
            continue
        files.append(LmsFile(
            student_id=m["participant"], name=m["name"], member=e.member, file=target,
            submitted_at=e.modified, late=None, attempt=0, lms="moodle",
            feedback_key=f"{m['name']}_{m['participant']}_assignsubmission_file_",
        ))
    return files, skipped
