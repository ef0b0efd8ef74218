"""Recorded seed003 runs that chapter 11 quotes but does not re-run in the book build.

Two runs are too slow for the build (about a minute each, two minutes for the
autograd kernel), yet the page reads their numbers. They are records of
:mod:`~regnorm_lab.studies.records` (JSON under ``regnorm_lab/studies/recorded/``,
loaded, written and checked by the code every record shares):

- ``replication`` (``seed003_draws900-904.json``): the replication on draws
  nobody tuned for, what ``python -m regnorm_lab.studies run seed003 --draws
  900-904 --json OUT`` writes, plus ``kernel`` and ``p_holm`` (claim id ->
  Holm-adjusted p behind its verdict);
- ``autograd`` (``seed003_autograd_draws0-4.json``): the book's design (draws
  0-4, 5 seeds) trained with the batched trainer's first implementation
  (``kernel="autograd"``), plus ``p_holm`` and ``test_r2_change``: how far a
  run's test R² moves between the two kernels (median and max of
  ``|fast - autograd|`` over the runs), i.e. what float32 rounding alone does.
  This module makes it (:func:`make_autograd_record`), since it needs the fast
  run too.

Re-create both (about 4-6 min on 2 cores; writes the files)::

    python -m regnorm_lab.studies.records --write replication autograd

``tests/studies/test_seed003.py`` (slow) re-runs them (:func:`run_records`, which
trains the book's fast run once for both uses) and checks the committed files
against the fresh runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from . import records
from .registry import StudyResult

__all__ = ["BOOK_DRAWS", "REPLICATION_DRAWS", "SEEDS", "autograd_record", "make_autograd_record", "run_records"]
#: The book's draws (chapter 11) and the fresh draws of the replication; 5 seeds each, as the book.
BOOK_DRAWS = records.RECORDS["autograd"].draws
REPLICATION_DRAWS = records.RECORDS["replication"].draws
SEEDS = records.RECORDS["replication"].seeds


def autograd_record(fast: StudyResult, autograd: StudyResult) -> dict[str, Any]:
    """The autograd-kernel run's record, and how far each run's test R² moved from the fast kernel's.

    Raises:
        ValueError: the two runs are not the same design (draws, seeds or run table rows).
    """
    if (fast.draws, fast.seeds) != (autograd.draws, autograd.seeds):
        raise ValueError(f"fast and autograd must share draws and seeds, got {fast.draws}x{fast.seeds} "
                         f"and {autograd.draws}x{autograd.seeds}")
    keys = [c for c in fast.table.columns if c not in ("train_r2", "val_r2", "test_r2")]
    if not fast.table[keys].equals(autograd.table[keys]):
        raise ValueError("fast and autograd run tables list different runs (or in another order)")
    change = np.abs(fast.table["test_r2"].to_numpy() - autograd.table["test_r2"].to_numpy())
    return {**records.as_record(autograd, kernel="autograd"),
            "test_r2_change": {"n_runs": int(change.size), "median": float(np.median(change)),
                               "max": float(change.max())}}


def _run(draws: Sequence[int], kernel: str, progress: bool) -> tuple[dict[str, Any], StudyResult]:
    return records.record("seed003", draws, SEEDS, progress=progress, kernel=kernel)


def make_autograd_record(*, progress: bool = False) -> dict[str, Any]:
    """Re-create the ``autograd`` record: the book's design with both kernels (the maker records.py calls)."""
    _, fast = _run(BOOK_DRAWS, "fast", progress)
    _, autograd = _run(BOOK_DRAWS, "autograd", progress)
    return autograd_record(fast, autograd)


def run_records(*, progress: bool = True) -> tuple[dict[str, dict[str, Any]], StudyResult]:
    """Run the three seed003 studies the records need and return ``({name: record}, the fast book run)``.

    The fast run on the book's draws is returned too: the slow test compares it
    with the page's verdicts without training it a second time.
    """
    _, book = _run(BOOK_DRAWS, "fast", progress)
    replication, _ = _run(REPLICATION_DRAWS, "fast", progress)
    _, autograd = _run(BOOK_DRAWS, "autograd", progress)
    return {"replication": replication, "autograd": autograd_record(book, autograd)}, book

