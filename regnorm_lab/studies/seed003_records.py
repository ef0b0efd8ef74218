"""Recorded seed003 runs that chapter 11 quotes but does not re-run in the book build.

Two runs are too slow for the build (about a minute each, two minutes for the
autograd kernel), yet the page reads their numbers. They are recorded here, as
JSON under ``regnorm_lab/studies/recorded/`` (next to the code that writes and
reads them, so the page, this module and the slow test share one path):

- ``seed003_draws900-904.json``: the replication on draws nobody tuned for,
  what ``python -m regnorm_lab.studies run seed003 --draws 900-904 --json OUT``
  writes, plus ``p_holm`` (claim id -> Holm-adjusted p behind its verdict);
- ``seed003_autograd_draws0-4.json``: the book's design (draws 0-4, 5 seeds)
  trained with the batched trainer's first implementation
  (``kernel="autograd"``), plus ``p_holm`` and ``test_r2_change``: how far a
  run's test R² moves between the two kernels (median and max of
  ``|fast - autograd|`` over the runs), i.e. what float32 rounding alone does.

Re-create both (about 4-6 min on 2 cores; writes the files)::

    python -m regnorm_lab.studies.seed003_records --write

``tests/studies/test_seed003.py`` (slow) re-runs them and checks the committed
files against the fresh runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .registry import StudyResult
from .seed003 import seed003

__all__ = ["RECORD_DIR", "RECORDS", "BOOK_DRAWS", "REPLICATION_DRAWS", "SEEDS", "replication_record",
           "autograd_record", "run_records", "load_record", "write_record", "main"]

#: Where the recorded JSON files live.
RECORD_DIR = Path(__file__).with_name("recorded")
#: Record name -> file name in :data:`RECORD_DIR`.
RECORDS = {"replication": "seed003_draws900-904.json", "autograd": "seed003_autograd_draws0-4.json"}
#: The book's draws (chapter 11) and the fresh draws of the replication; 5 seeds each, as the book.
BOOK_DRAWS = tuple(range(5))
REPLICATION_DRAWS = tuple(range(900, 905))
SEEDS = 5


def replication_record(fresh: StudyResult) -> dict[str, Any]:
    """The CLI's JSON of a run on fresh draws, plus its Holm-adjusted p-values and the kernel it used."""
    return {**fresh.as_json(), "kernel": "fast", "p_holm": dict(fresh.extra["p_holm"])}


def autograd_record(fast: StudyResult, autograd: StudyResult) -> dict[str, Any]:
    """The autograd-kernel run's JSON and p-values, and how far each run's test R² moved from the fast kernel's.

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
    return {**autograd.as_json(), "kernel": "autograd", "p_holm": dict(autograd.extra["p_holm"]),
            "test_r2_change": {"n_runs": int(change.size), "median": float(np.median(change)),
                               "max": float(change.max())}}


def run_records(*, progress: bool = True) -> tuple[dict[str, dict[str, Any]], StudyResult]:
    """Run the three seed003 studies the records need and return ``({name: record}, the fast book run)``.

    The fast run on the book's draws is returned too: the slow test compares it
    with the page's verdicts without training it a second time.
    """
    book = seed003(BOOK_DRAWS, SEEDS, progress=progress)
    fresh = seed003(REPLICATION_DRAWS, SEEDS, progress=progress)
    autograd = seed003(BOOK_DRAWS, SEEDS, progress=progress, kernel="autograd")
    return {"replication": replication_record(fresh), "autograd": autograd_record(book, autograd)}, book


def load_record(name: str) -> dict[str, Any]:
    """The committed record ``name`` (a key of :data:`RECORDS`).

    Raises:
        ValueError: unknown name.
    """
    if name not in RECORDS:
        raise ValueError(f"name must be one of {sorted(RECORDS)}, got {name!r}")
    return json.loads((RECORD_DIR / RECORDS[name]).read_text())


def write_record(name: str, record: dict[str, Any]) -> Path:
    """Write ``record`` as the committed file of ``name``; returns its path.

    Raises:
        ValueError: unknown name.
    """
    if name not in RECORDS:
        raise ValueError(f"name must be one of {sorted(RECORDS)}, got {name!r}")
    path = RECORD_DIR / RECORDS[name]
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m regnorm_lab.studies.seed003_records [--write]``: re-run the records, print or write them."""
    parser = argparse.ArgumentParser(prog="python -m regnorm_lab.studies.seed003_records",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"overwrite the files in {RECORD_DIR}")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # as the CLI: many tiny models, a second thread only adds synchronisation
    records, _ = run_records(progress=not args.quiet)
    for name, record in records.items():
        if args.write:
            print(f"wrote {write_record(name, record)}")
        else:
            print(json.dumps(record, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
