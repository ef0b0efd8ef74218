"""Flags for a human: what the sandbox denied or which limit a notebook hit.

A flag never changes a score: it is added to the ``detail`` of the student's row
in the status report (and so to the export), worded for an instructor who
decides whether to look at the notebook. Sources: the kernel's death reason
recorded while grading (:func:`.prewarm.sandbox_notes`) and the error and
stream outputs of the autograded notebook (``MemoryError``, ``PermissionError``,
a read-only file system, an unreachable network, the process or file-size limit).
"""

from __future__ import annotations

import pathlib
import re

import nbformat

__all__ = ["sandbox_flags", "with_flags"]

# (what the sandbox stopped, a pattern of the output text that shows it)
_SIGNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("memory limit hit", re.compile(r"\bMemoryError\b|Cannot allocate memory|std::bad_alloc|DefaultCPUAllocator: can't allocate")),
    ("file access denied", re.compile(r"\bPermissionError\b|Permission denied|Read-only file system|Operation not permitted")),
    ("path outside the sandbox", re.compile(r"\bFileNotFoundError\b[^\n]*'/|No such file or directory: '/")),
    ("network denied", re.compile(r"Network is unreachable|\bConnectionRefusedError\b|Connection refused|\bgaierror\b|"
                                  r"Temporary failure in name resolution|Name or service not known")),
    ("process limit hit", re.compile(r"Resource temporarily unavailable|\bBlockingIOError\b|can't start new thread")),
    ("file-size limit hit", re.compile(r"File too large")),
)


def _texts(nb: nbformat.NotebookNode) -> list[tuple[str, str]]:
    """(cell grade_id or index, output text) of every error and stream output."""
    out = []
    for i, cell in enumerate(nb.cells):
        name = cell.metadata.get("nbgrader", {}).get("grade_id") or f"cell {i}"
        for o in cell.get("outputs", []):
            if o.get("output_type") == "error":
                out.append((name, f"{o.get('ename')}: {o.get('evalue')}\n" + "\n".join(o.get("traceback", []))))
            elif o.get("output_type") == "stream":
                out.append((name, str(o.get("text", ""))))
    return out


def sandbox_flags(autograded: str | pathlib.Path, notes: list[str] = ()) -> list[str]:
    """Flags for one student's autograded folder plus the notes recorded while grading it.

    Shape:
        (a folder of autograded notebooks, notes) -> a list of short sentences, each cell named.
    """
    flags = list(dict.fromkeys(notes))
    for path in sorted(pathlib.Path(autograded).glob("*.ipynb")):
        try:
            nb = nbformat.read(str(path), as_version=4)
        except Exception:  # noqa: BLE001 - an unreadable notebook is reported by its status
            continue
        for name, text in _texts(nb):
            text = re.sub(r"\x1b\[[0-9;]*m", "", text)  # tracebacks carry terminal colours
            for what, sign in _SIGNS:
                if sign.search(text):
                    flags.append(f"{what} in {name}")
    return list(dict.fromkeys(flags))


def with_flags(detail: str, flags: list[str]) -> str:
    """``detail`` with the flags appended as ``sandbox: a; b`` (unchanged without flags)."""
    if not flags:
        return detail
    tail = "sandbox: " + "; ".join(flags)
    return f"{detail}; {tail}" if detail else tail
