"""A plain download: ``<student_id>/<notebook>.ipynb`` (also ``<student_id>/<assignment>/<notebook>.ipynb``),
or a flat ``<student_id>_<notebook>.ipynb``.

The student id is the folder name, or everything before ``_<notebook>.ipynb`` in a
flat name: never cut at the first underscore, so ``hank_m_1008`` stays one student.
"""

from __future__ import annotations

from typing import Iterable

from .records import Entry, LmsFile, Skipped, notebook_target, without_noise

__all__ = ["parse"]


def _flat(base: str, notebooks: list[str]) -> tuple[str, str] | None:
    for n in sorted(notebooks, key=len, reverse=True):
        tail = f"_{n}.ipynb"
        if base.endswith(tail) and len(base) > len(tail):
            return base[: -len(tail)], f"{n}.ipynb"
    return None


def parse(items: Iterable[Entry], notebooks: list[str], assignment: str = "") -> tuple[list[LmsFile], list[Skipped]]:
    """Records of a plain folder or zip; the rest skipped with a reason.

    Args:
        items: The download's files (see :func:`.records.entries`).
        notebooks: The assignment's notebook names (without ``.ipynb``).
        assignment: The assignment's name, allowed as a folder level below the student's.
    """
    files: list[LmsFile] = []
    skipped: list[Skipped] = []
    for e in without_noise(items, skipped):
        parts = e.member.split("/")
        if len(parts) >= 2 and parts[0] == assignment and len(parts) >= 3:
            parts = parts[1:]  # a zip of the whole submitted-like tree: <assignment>/<student>/<nb>
        if len(parts) == 1:
            flat = _flat(parts[0], notebooks)
            if flat is None:
                skipped.append(Skipped(e.member, "cannot tell whose file this is: expected <student_id>/<notebook>.ipynb "
                                       "or <student_id>_<notebook>.ipynb"))
                continue
            student, target, note = flat[0], flat[1], ""
        else:
            student = parts[0]
            rest = parts[1:]
            if len(rest) == 2 and rest[0] == assignment:
                rest = rest[1:]
            if len(rest) != 1:
                skipped.append(Skipped(e.member, f"nested too deep for a plain download; student {student}"))
                continue
            target, note = notebook_target(rest[0], notebooks)
            if target is None:
                skipped.append(Skipped(e.member, f"{note}; student {student}"))
                continue
        files.append(LmsFile(student_id=student, name="", member=e.member, file=target, submitted_at=e.modified,
                             late=None, attempt=0, lms="plain", feedback_key=student))
    return files, skipped
