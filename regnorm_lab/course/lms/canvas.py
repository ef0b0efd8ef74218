"""Canvas "Download Submissions": one flat zip, ``name_userid_submissionid_file``.

Canvas names each file ``<name>_<userid>_<submissionid>_<uploaded name>``, puts
``LATE`` after the name when the submission came after the due date
(``name_LATE_userid_submissionid_file``), and renames a file uploaded again under
the same name with a ``-1``, ``-2`` suffix (``ps01_penalties-1.ipynb``). The
student id is Canvas's numeric user id: the ``ID`` column of its gradebook CSV.
The numeric ``submissionid`` is the id of the uploaded file; together with the
user id it is what Canvas reads back from a re-uploaded (feedback) file's name.
"""

from __future__ import annotations

import re
from typing import Iterable

from .records import Entry, LmsFile, Skipped, notebook_target, without_noise

__all__ = ["NAME", "looks_like", "split_resubmission", "parse"]

#: ``name[_LATE]_userid_submissionid_file``; the name is lazy so ``_LATE`` is not taken into it.
NAME = re.compile(r"^(?P<name>[^/]+?)(?P<late>_LATE)?_(?P<user_id>\d+)_(?P<submission_id>\d+)_(?P<file>[^/]+)$")
_SUFFIX = re.compile(r"^(?P<stem>.+)-(?P<n>\d+)(?P<ext>\.[A-Za-z0-9]+)$")


def looks_like(member: str) -> bool:
    """True if the file's name follows Canvas's submission naming."""
    return NAME.match(member.rsplit("/", 1)[-1]) is not None


def split_resubmission(file: str, notebooks: list[str]) -> tuple[str, int]:
    """``ps01_penalties-2.ipynb`` -> (``ps01_penalties.ipynb``, 2) when the stem is a notebook of
    the assignment; any other name is left alone with attempt 0 (``week-2.ipynb`` is a name)."""
    m = _SUFFIX.match(file)
    if m and m["stem"] in notebooks:
        return m["stem"] + m["ext"], int(m["n"])
    return file, 0


def parse(items: Iterable[Entry], notebooks: list[str]) -> tuple[list[LmsFile], list[Skipped]]:
    """Records of a Canvas download; the rest skipped with a reason.

    Args:
        items: The download's files (see :func:`.records.entries`).
        notebooks: The assignment's notebook names (without ``.ipynb``).
    """
    files: list[LmsFile] = []
    skipped: list[Skipped] = []
    for e in without_noise(items, skipped):
        base = e.member.rsplit("/", 1)[-1]
        m = NAME.match(base)
        if m is None:
            skipped.append(Skipped(e.member, "not named as Canvas names submissions (name_userid_submissionid_file)"))
            continue
        uploaded, attempt = split_resubmission(m["file"], notebooks)
        target, note = notebook_target(uploaded, notebooks)
        if target is None:
            skipped.append(Skipped(e.member, f"{note}; student {m['user_id']}"))
            continue
        files.append(LmsFile(
            student_id=m["user_id"], name=m["name"], member=e.member, file=target,
            submitted_at=e.modified, late=m["late"] is not None, attempt=attempt, lms="canvas",
            feedback_key=f"{m['name']}{m['late'] or ''}_{m['user_id']}_{m['submission_id']}",
        ))
    return files, skipped
