"""Benchmark: the same class graded by two versions of the package, interleaved, as a ratio.

    .venv/bin/python benchmarks/grade_class_ab.py --before HEAD~1            # 40 ps01 submissions, 2 workers
    .venv/bin/python benchmarks/grade_class_ab.py --before 2bf8738 --rounds 3 --n 24

On a shared machine absolute times drift with the load of others' work; a change
to the grading path is shown by a ratio measured in one run instead. The
``regnorm_lab`` package of the git revision ``--before`` is exported to a
temporary folder; one planted ps01 class (as :mod:`grade_class` plants it) is
graded with ``grade --workers N`` (sandbox on; feedback, export and report off)
alternately by that version and by the working tree's, ``--rounds`` times each,
every run in a fresh interpreter. It prints every run with the load average, the
median seconds per submission of each version and the ratio after/before.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

_RUN = """
import sys, time
sys.path.insert(0, {pkg!r})
import regnorm_lab
assert regnorm_lab.__file__.startswith({pkg!r}), regnorm_lab.__file__
from regnorm_lab.course import parallel
t0 = time.perf_counter()
res = parallel.grade_class({course!r}, {assignment!r}, workers={workers}, force=True, progress=False, feedback=False,
                           export=False, report=False)
bad = [s for s in res.statuses if s.status != "graded"]
assert not bad, bad[:3]
print(time.perf_counter() - t0)
"""


def run_once(pkg: pathlib.Path, course: pathlib.Path, assignment: str, workers: int) -> float:
    """Seconds one ``grade_class`` run takes with the package folder ``pkg`` (a fresh interpreter)."""
    code = _RUN.format(pkg=str(pkg), course=str(course), assignment=assignment, workers=workers)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tempfile.gettempdir())
    if out.returncode != 0:
        raise RuntimeError(f"grading with {pkg} failed:\n{out.stderr[-3000:]}")
    return float(out.stdout.strip().splitlines()[-1])


def export_package(rev: str, into: pathlib.Path) -> pathlib.Path:
    """The ``regnorm_lab`` folder of git revision ``rev``, written under ``into``."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev, "regnorm_lab"], capture_output=True, check=True).stdout
    into.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", default="HEAD", help="git revision of the 'before' package (default: %(default)s)")
    parser.add_argument("--n", type=int, default=40, help="submissions in the class (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=2, help="parallel workers (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each version, interleaved (default: %(default)s)")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr] - progress shows when piped

    from grade_class import A, plant_class

    with tempfile.TemporaryDirectory(prefix="grade-ab-") as tmp:
        tmp = pathlib.Path(tmp)
        before = export_package(args.before, tmp / "before")
        versions = {"before": before, "after": REPO}
        course = plant_class(tmp / "class", args.n)
        print(f"class: {args.n} planted {A} submissions, grade --workers {args.workers}, sandbox on; "
              f"before = {args.before}, after = working tree; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
        times: dict[str, list[float]] = {k: [] for k in versions}
        for r in range(args.rounds):
            order = list(versions) if r % 2 == 0 else list(reversed(versions))  # neither always runs first
            for name in order:
                t = run_once(versions[name], course, A, args.workers)
                times[name].append(t)
                print(f"  round {r + 1} {name:6s}: {t:6.1f} s = {t / args.n:.3f} s/submission (load {os.getloadavg()[0]:.1f})")
        med = {k: statistics.median(v) / args.n for k, v in times.items()}
        print(f"median s/submission: before {med['before']:.3f}, after {med['after']:.3f}; "
              f"after/before = {med['after'] / med['before']:.3f} (load average now {os.getloadavg()[0]:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
