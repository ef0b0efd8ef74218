"""Benchmark: grade one planted class serially with plain nbgrader and with ``grade --workers N``.

    .venv/bin/python benchmarks/grade_class.py            # 40 ps01 submissions, 2 workers
    .venv/bin/python benchmarks/grade_class.py --n 12 --no-prewarm-too

The same class (solution, blank and each single-mistake variant of the authoring
spec, in turn) is planted in two private copies of the course. Copy 1 is graded
by ONE plain ``nbgrader autograde`` call (``NbGraderAPI.autograde(A, "*")``: one
submission after another); copy 2 by :func:`regnorm_lab.course.parallel.grade_class`
(feedback, export and report off, so both do the same work), with N workers for
the speed-up and with one worker for the overhead, each kernel in its bubblewrap
sandbox; then with N workers and ``sandbox=False`` (``--no-sandbox``) for the
sandbox's own cost per submission. It prints seconds per
submission, the speed-ups, and the overhead per submission beyond the notebook's
own execution: the class mean of the time from a notebook's first cell start to
its last cell end, in a kernel already started with its setup modules imported.
The overhead is taken from the one-worker run: with two workers on a machine
with about one real core under load, each notebook also runs slower, and that
is contention, not grading overhead. Numbers depend on the load of the machine;
the script prints the load average next to them.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import statistics
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the planting harness lives with the tests

A = "ps01_penalties"


def plant_class(tmp: pathlib.Path, n: int) -> pathlib.Path:
    from tests.course import harness as H

    course = H.copy_course(tmp, [A])
    H.release(course, A)
    spec = H.spec(course, A)
    solution = H.solution_answers(course, A)
    variants = [solution, {}] + [{**solution, fn: code} for fn, (code, _) in sorted(spec.MISTAKES.items())]
    for i in range(n):
        H.plant(course, f"student{i:03d}", A, variants[i % len(variants)])
    return course


def own_execution_seconds(course: pathlib.Path, students: list[str]) -> list[float]:
    """Each notebook's own execution: first cell start to last cell end, in a kernel already
    started with its setup modules imported and a client already connected.

    Nothing of the grading machinery is inside this window, so everything else
    a grader spends on a submission counts as overhead. One unmeasured notebook
    runs first (first-use costs of this process).
    """
    import nbformat
    from nbclient import NotebookClient

    from regnorm_lab.course import pipeline
    from regnorm_lab.course.prewarm import PrewarmedExecute, _execute_silent, _preload, _shutdown, _Spare

    cfg = pipeline.load_config(course)
    execute = PrewarmedExecute(config=cfg)  # the kernel the grader would start: arguments, modules, environment
    times = []
    for s in students[:1] + students:
        path = course / "submitted" / s / A / f"{A}.ipynb"
        nb = nbformat.read(str(path), as_version=4)
        key = execute.spare_key(nb)
        km = _Spare.start(key)  # a sandboxed kernel, as the grader's
        marks: list[float] = []
        try:
            kc = km.blocking_client()
            kc.start_channels()
            kc.wait_for_ready(timeout=120)
            _execute_silent(kc, _preload(key[2]))  # the setup's imports, as the grader's spare does
            kc.stop_channels()
            client = NotebookClient(nb, km=km, timeout=int(cfg.Execute.timeout), allow_errors=True, resources={"metadata": {"path": str(path.parent)}},
                                    on_cell_start=lambda **_: marks.append(time.perf_counter()) if not marks else None,
                                    on_cell_executed=lambda **_: marks.append(time.perf_counter()))
            client.execute()
        finally:
            _shutdown(km)
        times.append(marks[-1] - marks[0])
    return times[1:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=40, help="submissions in the class (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=2, help="parallel workers (default: %(default)s)")
    parser.add_argument("--no-prewarm-too", action="store_true", help="also time the parallel command without kernel prewarming")
    parser.add_argument("--no-serial", action="store_true", help="skip serial nbgrader (no speed-up or gradebook comparison)")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr] - progress shows when piped

    from regnorm_lab.course import parallel, pipeline

    with tempfile.TemporaryDirectory(prefix="grade-bench-") as tmp:
        tmp = pathlib.Path(tmp)
        serial_course = plant_class(tmp / "serial", args.n)
        par_course = plant_class(tmp / "parallel", args.n)
        print(f"class: {args.n} planted {A} submissions; {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f}")

        t_serial = float("nan")
        if not args.no_serial:
            api = pipeline.make_api(serial_course)
            t0 = time.perf_counter()
            result = api.autograde(A, "*", force=True, create=True)
            t_serial = time.perf_counter() - t0
            if not result.get("success"):
                print(result.get("log", "")[-2000:])
                return 1
            print(f"{'serial nbgrader autograde':34s}: {t_serial:7.1f} s = {t_serial / args.n:.2f} s/submission (load {os.getloadavg()[0]:.1f})")

        # N workers for the speed-up; ONE worker for the overhead: with 2 workers on this
        # machine's ~1 real core under load, every notebook also runs slower (contention),
        # which is not grading overhead
        unsandboxed = f"grade --workers {args.workers} --no-sandbox"
        runs = [(f"grade --workers {args.workers}", args.workers, True, True), ("grade --workers 1", 1, True, True),
                (unsandboxed, args.workers, True, False)]
        runs += [(f"grade --workers {args.workers}, no prewarm", args.workers, False, True)] if args.no_prewarm_too else []
        t_par = {}
        for label, workers, prewarm, sandbox in runs:
            t0 = time.perf_counter()
            res = parallel.grade_class(par_course, A, workers=workers, force=True, prewarm=prewarm, progress=False, feedback=False,
                                       export=False, report=False, sandbox=sandbox)
            t_par[label] = time.perf_counter() - t0
            bad = [s for s in res.statuses if s.status != "graded"]
            if bad:
                print(f"{label}: {len(bad)} submission(s) not graded: {bad[:3]}")
                return 1
            print(f"{label:34s}: {t_par[label]:7.1f} s = {t_par[label] / args.n:.2f} s/submission, "
                  f"speed-up {t_serial / t_par[label]:.2f}x (load {os.getloadavg()[0]:.1f})")

        # the sandbox alone: the same sandboxed run with the reference left visible in the kernel
        # (a notebook on the probe otherwise gets a stub package: no reference, no torch import)
        cfg_file = par_course / "nbgrader_config.py"
        original = cfg_file.read_text()
        cfg_file.write_text(original + "\nc.Sandbox.hide_reference = False\nc.Sandbox.hide_reference_for_probe = False\n")
        label = f"grade --workers {args.workers}, reference visible"
        t0 = time.perf_counter()
        parallel.grade_class(par_course, A, workers=args.workers, force=True, progress=False, feedback=False, export=False, report=False)
        t_par[label] = time.perf_counter() - t0
        cfg_file.write_text(original)
        print(f"{label:34s}: {t_par[label]:7.1f} s = {t_par[label] / args.n:.2f} s/submission (load {os.getloadavg()[0]:.1f})")

        # the two gradebooks must agree before the speed means anything
        from regnorm_lab.course.merge import dump_submissions

        same = args.no_serial or dump_submissions(str(pipeline.load_config(serial_course).CourseDirectory.db_url), A) == dump_submissions(str(pipeline.load_config(par_course).CourseDirectory.db_url), A)
        print(f"gradebooks identical: {'not compared (--no-serial)' if args.no_serial else same}")

        own = statistics.mean(own_execution_seconds(par_course, [f"student{i:03d}" for i in range(args.n)]))
        print(f"notebook's own execution (first cell start to last cell end, warm kernel): {own:.2f} s/submission (class mean)")
        print("overhead per submission beyond it (wall / n - own):")
        print(f"  {'serial nbgrader autograde':34s}: {t_serial / args.n - own:.2f} s")
        print(f"  {'grade --workers 1':34s}: {t_par['grade --workers 1'] / args.n - own:.2f} s (all of it: worker start, scheduling, merge)")
        sandboxed = t_par[f"grade --workers {args.workers}"]
        print(f"sandbox's own cost (grade --workers {args.workers}, sandboxed with the reference visible - --no-sandbox): "
              f"{(t_par[label] - t_par[unsandboxed]) / args.n:+.3f} s/submission")
        print(f"goal: sandboxed <= 0.6 s/submission, got {sandboxed / args.n:.2f} (load average now {os.getloadavg()[0]:.1f})")
        return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
