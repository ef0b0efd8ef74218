"""``python -m regnorm_lab.course <command>``: run the course's nbgrader pipeline, one command per step.

Commands (``--course DIR`` selects the course folder; default ``$REGNORM_COURSE`` or ``./exercises``):

- ``build-sources [ASSIGNMENT|--all]``: write ``source/<a>/<a>.ipynb`` from ``authoring/<a>.py``
- ``release [ASSIGNMENT|--all]``: add to the gradebook and generate the student version (``release/``)
- ``collect DOWNLOAD ASSIGNMENT``: a Canvas/Moodle/plain download into ``submitted/`` (:mod:`.lms.collect`)
- ``autograde ASSIGNMENT [--force] [--timeout S]``: grade every submission; writes ``reports/<a>_status.csv``
- ``feedback ASSIGNMENT [--zip OUT.zip]``: HTML feedback in ``feedback/`` (hidden tests stay hidden), zipped for the LMS
- ``export [--format csv|canvas|moodle] [--assignment A] [--roster F] [--to OUT]``: grades, with each student's status
- ``manual``, ``override``, ``regrade``: grading by hand (:mod:`.manual`)
- ``validate NOTEBOOK``: what a student runs before submitting (``nbgrader validate``)

``--course`` may come before or after the command. A command given an assignment
that has no source notebook is an error (exit 2). Another command module can
register more subcommands through :func:`register`.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
from typing import Callable

from . import pipeline

__all__ = ["main", "build_parser", "register"]

_EXTRA: list[Callable[[argparse._SubParsersAction], None]] = []


def register(add: Callable[[argparse._SubParsersAction], None]) -> None:
    """Let another module add subcommands (e.g. a parallel ``grade``): ``add(subparsers)``.

    The added parser must ``set_defaults(func=...)`` with ``func(args) -> int``.
    """
    _EXTRA.append(add)


def _assignments(args: argparse.Namespace) -> list[str]:
    root = pathlib.Path(args.course)
    if args.all:
        names = pipeline.list_assignments(root) if args.command != "build-sources" else sorted(p.stem for p in (root / "authoring").glob("ps*.py"))
        if not names:
            raise SystemExit(f"no assignments found in {root}")
        return names
    if not args.assignment:
        raise SystemExit(f"{args.command}: give an ASSIGNMENT or --all")
    return [args.assignment]


def _cmd_build_sources(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from .authoring import build_source

    for name in tqdm(_assignments(args), desc="build-sources", disable=len(_assignments(args)) < 2):
        print(build_source(args.course, name))
    return 0


def _cmd_release(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    names = _assignments(args)
    for name in tqdm(names, desc="release", disable=len(names) < 2):
        print(f"released {name} -> {pipeline.release(args.course, name)}")
    return 0


def _cmd_collect(args: argparse.Namespace) -> int:
    students = pipeline.collect_zip(args.course, args.zipfile, args.assignment)
    print(f"{len(students)} submission(s) of {args.assignment} in submitted/: {', '.join(students)}")
    return 0


def _cmd_autograde(args: argparse.Namespace) -> int:
    statuses = pipeline.autograde(args.course, args.assignment, force=args.force, timeout=args.timeout, progress=True,
                                  sandbox=False if args.no_sandbox else None)
    counts: dict[str, int] = {}
    for st in statuses:
        counts[st.status] = counts.get(st.status, 0) + 1
        score = "-" if st.score is None else f"{st.score:g}/{st.max_score:g}"
        print(f"{st.student_id:20s} {st.status:12s} {score:>10s}  {st.detail}")
    summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    print(f"{args.assignment}: {summary or 'no submissions'}; report: {pathlib.Path(args.course) / 'reports' / (args.assignment + '_status.csv')}")
    return 0


def _cmd_feedback(args: argparse.Namespace) -> int:
    files = pipeline.feedback(args.course, args.assignment)
    print(f"{len(files)} feedback file(s) in {pathlib.Path(args.course) / 'feedback'}")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    print(f"grades written to {pipeline.export(args.course, args.to)}")
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    try:
        import nbgrader  # noqa: F401 - only to say what is missing on a student's machine (Colab)
    except ImportError:
        print(f"validate needs nbgrader, which this Python ({sys.executable}) does not have.\n"
              'Install the course\'s student tools:   pip install "regnorm-lab[student]"\n'
              'in a notebook (Colab, JupyterHub):      %pip install "regnorm-lab[student]"\n'
              '(from the course repository: "regnorm-lab[student] @ git+<its address>", as the book\'s page\n'
              '"For students" shows), then run validate again.', file=sys.stderr)
        return 2
    ok, report = pipeline.validate(args.notebook, args.course, sandbox=args.sandbox)
    print(report)
    return 0 if ok else 1


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of the instructor CLI."""
    parser = argparse.ArgumentParser(
        prog="python -m regnorm_lab.course",
        description="Run the regnorm-lab nbgrader course: release assignments, collect and autograde "
        "submissions, generate feedback, export grades. Typical order: release -> collect -> "
        "autograde -> feedback -> export.",
    )
    parser.add_argument("--course", default=str(pipeline.default_course_root()), help="course folder holding nbgrader_config.py (default: %(default)s)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    for name, func, help_ in (
        ("build-sources", _cmd_build_sources, "write source notebooks from exercises/authoring/<assignment>.py"),
        ("release", _cmd_release, "generate the student version of an assignment (nbgrader generate_assignment)"),
    ):
        p = sub.add_parser(name, help=help_, description=help_)
        p.add_argument("assignment", nargs="?", help="e.g. ps01_penalties")
        p.add_argument("--all", action="store_true", help="every assignment")
        p.set_defaults(func=func)

    p = sub.add_parser("collect", help="collect a Canvas, Moodle or plain download into submitted/ (newest wins, skips listed)",
                       description="Files in the zip: <student_id>_<anything>_<notebook>.ipynb, e.g. alice_1234_ps01_penalties.ipynb.")
    p.add_argument("zipfile")
    p.add_argument("assignment")
    p.set_defaults(func=_cmd_collect)

    p = sub.add_parser("autograde", help="autograde every submission; writes reports/<assignment>_status.csv",
                       description="Grade all submissions in one nbgrader run; unreadable, missing, timed-out and crashed "
                       "notebooks are recorded per student in reports/<assignment>_status.csv and never stop the class.")
    p.add_argument("assignment")
    p.add_argument("--force", action="store_true", help="regrade submissions that were autograded before")
    p.add_argument("--timeout", type=int, default=None, help="seconds per cell (default: the course config, 60)")
    p.add_argument("--no-sandbox", action="store_true", help="grade WITHOUT the kernel sandbox (warned about, recorded in the status report and the export)")
    p.set_defaults(func=_cmd_autograde)

    p = sub.add_parser("feedback", help="generate HTML feedback in feedback/ (hidden tests stay hidden)")
    p.add_argument("assignment")
    p.set_defaults(func=_cmd_feedback)

    p = sub.add_parser("export", help="export grades: long CSV, or filled into the Canvas gradebook / Moodle worksheet")
    p.add_argument("--to", default=None, help="output CSV (default: <course>/grades.csv)")
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser("validate", help="run a notebook's tests as nbgrader validate does (exit 1 on failure)")
    p.add_argument("notebook")
    p.add_argument("--sandbox", action="store_true", help="run the notebook in the grading sandbox (bubblewrap), e.g. a notebook you do not trust")
    p.set_defaults(func=_cmd_validate)

    for add in _EXTRA:
        add(sub)
    # --course also after the command (`export --course X`); SUPPRESS keeps the value given before it
    for p in dict.fromkeys(sub.choices.values()):
        p.add_argument("--course", default=argparse.SUPPRESS, help="course folder (as before the command)")
    return parser


def _check_assignment(args: argparse.Namespace) -> None:
    """An assignment that has no source notebook (or, for build-sources, no authoring script) is an error."""
    name = getattr(args, "assignment", None)
    if not name:
        return
    root = pathlib.Path(args.course)
    if args.command == "build-sources":
        if not (root / "authoring" / f"{name}.py").exists():
            raise ValueError(f"assignment {name!r} has no authoring script {root / 'authoring' / (name + '.py')}")
    elif not any((root / "source" / name).glob("*.ipynb")):
        known = ", ".join(pipeline.list_assignments(root)) or "none"
        raise ValueError(f"assignment {name!r} is unknown: no notebook in {root / 'source' / name} (assignments: {known})")


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = build_parser().parse_args(argv)
    try:
        _check_assignment(args)
        return int(args.func(args))
    except (ValueError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


# issue 6 (class grading): the parallel `grade` and the item-analysis `report` commands
from .parallel import add_commands as _add_class_grading  # noqa: E402

register(_add_class_grading)

# issue 15 (LMS round trip): collect/export/feedback options for Canvas and Moodle; manual, override, regrade
from .lms.commands import add_commands as _add_lms  # noqa: E402

register(_add_lms)
