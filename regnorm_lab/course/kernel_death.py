"""A kernel that dies mid-notebook zeroes only what it broke (issue 14, item 3).

When a student's code kills its kernel (``os._exit``, a crash, the memory or
wall-clock limit), the executing step (:class:`.prewarm.PrewarmedExecute`) stops
running the notebook instead of failing it: the cells that ran before keep their
outputs and are judged as usual, the dying cell gets an error output naming the
cause, and every later code cell gets a "not run" error output, so that each test
cell from the dying one on scores 0 (an error output fails a cell in nbgrader, and
the :class:`~.judge.Judge` scores a cell without a probe record 0). The death is
recorded in the notebook's metadata, where :func:`.pipeline.inspect_autograded`
reads it for the status report (status ``kernel_died``, the dying cell named).

A student cannot forge the record: :func:`forget` removes any copy of it from the
submission before its notebook runs.
"""

from __future__ import annotations

from typing import Any

from nbformat.notebooknode import NotebookNode, from_dict

__all__ = ["KEY", "ENAME", "cell_label", "record", "died_output", "not_run_output", "forget", "recorded"]

#: Notebook metadata key of the record (a dict: ``cell``, ``reason``, ``not_run``).
KEY = "regnorm_kernel_died"
#: ``ename`` of the error outputs added to the dying cell and the cells after it.
ENAME = "KernelDied"


def cell_label(cell: NotebookNode, index: int) -> str:
    """The cell's nbgrader ``grade_id``, else its position ("cell 7", counting from 1).

    Shape:
        (a cell, its index in the notebook) -> a short name for the status report.
    """
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") or f"cell {index + 1}"


def died_output(reason: str) -> NotebookNode:
    """The error output of the cell that was running when the kernel died."""
    return from_dict({"output_type": "error", "ename": ENAME, "evalue": f"the kernel died while running this cell ({reason})",
                      "traceback": [f"{ENAME}: the kernel died while running this cell ({reason})"]})


def not_run_output(label: str) -> NotebookNode:
    """The error output of a code cell after the one that killed the kernel (it never ran)."""
    text = f"not run: the kernel died in {label}"
    return from_dict({"output_type": "error", "ename": ENAME, "evalue": text, "traceback": [f"{ENAME}: {text}"]})


def forget(nb: NotebookNode) -> None:
    """Remove a record the submission itself carries (only the grader writes one)."""
    nb.metadata.pop(KEY, None)


def record(nb: NotebookNode, label: str, reason: str) -> None:
    """Write the record of a death in ``label`` for ``reason`` into the notebook's metadata."""
    nb.metadata[KEY] = {"cell": label, "reason": reason, "not_run": 0}


def recorded(nb: Any) -> dict[str, Any] | None:
    """The record of an executed notebook: ``{"cell", "reason", "not_run"}``, or None if its kernel lived.

    Shape:
        A notebook -> a dict or None.
    """
    rec = nb.get("metadata", {}).get(KEY)
    return dict(rec) if isinstance(rec, dict) and rec.get("cell") else None
