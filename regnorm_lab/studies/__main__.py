"""``python -m regnorm_lab.studies``: list the book's studies, or re-run one on any data draws.

Commands::

    python -m regnorm_lab.studies list
    python -m regnorm_lab.studies run NAME [--draws A-B] [--seeds N] [--json OUT] [--scheduler ADDRESS]

``run`` prints the verdict table (claim, verdict, estimate, 95 % interval,
draws x seeds). ``--draws`` takes ``A-B`` (inclusive), ``A,B,C`` or one
number; the defaults are the draws and seeds the book uses. ``--json`` writes
``{"study", "draws", "seeds", "claims": [{"id", "statement", "verdict",
"estimate", "ci", "n_draws", "n_seeds"}]}``. ``--scheduler`` trains the grid
on a Dask cluster (``tcp://host:8786``).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence

import torch

from .registry import get_study, run_study, study_names

__all__ = ["parse_draws", "main"]


def parse_draws(text: str) -> list[int]:
    """``"900-904"`` -> ``[900, ..., 904]``; ``"1,5,7"`` -> ``[1, 5, 7]``; ``"3"`` -> ``[3]``.

    Raises:
        ValueError: malformed text or an empty range (the message names ``--draws``).
    """
    out: list[int] = []
    for part in text.split(","):
        m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if m is None or (m.group(2) is not None and int(m.group(2)) < int(m.group(1))):
            raise ValueError(f"--draws must look like A-B, A,B,C or N with 0 <= A <= B, got {text!r}")
        lo = int(m.group(1))
        out += list(range(lo, int(m.group(2) or lo) + 1))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m regnorm_lab.studies", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="name the studies")
    run = sub.add_parser("run", help="re-run one study and print its verdicts")
    run.add_argument("name")
    run.add_argument("--draws", type=str, default=None, help="A-B, A,B,C or N (default: the book's)")
    run.add_argument("--seeds", type=int, default=None, help="training seeds per cell and draw (default: the book's)")
    run.add_argument("--json", type=str, default=None, help="write the verdicts as JSON here")
    run.add_argument("--scheduler", type=str, default=None, help="Dask scheduler address, e.g. tcp://host:8786")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)

    if args.command == "list":
        for name in study_names():
            s = get_study(name)
            print(f"{name:12s} {s.description} (default: draws {s.default_draws[0]}-{s.default_draws[-1]}, "
                  f"{s.default_seeds} seeds)")
        return 0

    try:
        draws = None if args.draws is None else parse_draws(args.draws)
        if args.seeds is not None and args.seeds < 1:
            raise ValueError(f"--seeds must be >= 1, got {args.seeds}")
        torch.set_num_threads(1)  # many tiny models: a second thread only adds synchronisation
        result = run_study(args.name, draws, args.seeds, scheduler=args.scheduler, progress=not args.quiet)
    except ValueError as err:
        parser.error(str(err))
    table = result.verdict_table()
    print(f"study {result.study}: draws {result.draws}, {result.seeds} seeds")
    with __import__("pandas").option_context("display.width", 200, "display.max_colwidth", 90):
        for _, row in table.iterrows():
            lo, hi = row["ci"]
            print(f"- [{row['verdict']}] {row['id']}: {row['statement']}\n"
                  f"    estimate {row['estimate']:+.3f} [{lo:+.3f}, {hi:+.3f}] "
                  f"({row['n_draws']} draws x {row['n_seeds']} seeds)")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result.as_json(), fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
