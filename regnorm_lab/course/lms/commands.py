"""The LMS side of the course CLI: ``collect`` from a Canvas/Moodle/plain download, ``export --format``,
``feedback --zip``, plus ``manual``/``override``/``regrade`` (:mod:`..manual`) and ``report --leave-out-blank``.

:func:`add_commands` is registered with :func:`..cli.register`; it gives the
``collect``, ``export``, ``feedback`` and ``report`` parsers their LMS options and
handlers. Nothing here imports nbgrader at import time, so ``validate`` can tell a
student without nbgrader what to install.
"""

from __future__ import annotations

import argparse
import pathlib
import sys

__all__ = ["add_commands", "cmd_collect", "cmd_export", "cmd_feedback", "cmd_report"]


def _late(seconds: float) -> str:
    h, rem = divmod(int(seconds), 3600)
    return f"{h // 24} d {h % 24} h" if h >= 24 else f"{h} h {rem // 60} min"


def cmd_collect(args: argparse.Namespace) -> int:
    """``collect DOWNLOAD ASSIGNMENT``: print what was collected, archived and skipped; 1 if anything was skipped."""
    from .. import late, pipeline
    from .collect import collect

    r = collect(args.course, args.zipfile, args.assignment, lms=args.lms, worksheet=args.worksheet, zip_timezone=args.zip_timezone)
    print(f"{r.lms} download: {len(r.students)} submission(s) of {args.assignment} in submitted/ — "
          f"new {len(r.new)}, updated {len(r.updated)}, unchanged {len(r.unchanged)}")
    for label, ids in (("new", r.new), ("updated (regrade these)", r.updated)):
        if ids:
            print(f"  {label}: {', '.join(ids)}")
    for member, why in r.archived:
        print(f"  archived {member}: {why}")
    for sid, note in r.notes:
        print(f"  note, student {sid}: {note}")
    if r.due is not None:
        policy = late.policy_text(pipeline.load_config(pathlib.Path(args.course)))
        print(f"due {r.due:%Y-%m-%d %H:%M} UTC; late policy: {policy}")
        for sid, seconds in sorted(r.late.items()):
            print(f"  late: {sid} by {_late(seconds)}")
    elif r.marked_late:
        print(f"marked late by the LMS: {', '.join(r.marked_late)}; but {args.assignment} has no due date in "
              "nbgrader_config.py (c.DueDates.dates), so no late penalty is applied")
    if r.skipped:
        print(f"NOT collected ({len(r.skipped)} file(s)):")
        for s in r.skipped:
            print(f"  {s.member}: {s.reason}")
        if not args.accept_skips:
            print(f"error: {len(r.skipped)} file(s) of the download were not collected (listed above); "
                  "fix them, or run again with --accept-skips", file=sys.stderr)
            return 1
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """``export [--format csv|canvas|moodle] [--assignment A] [--roster F] [--to OUT]``."""
    from .. import export_formats as X

    root = pathlib.Path(args.course)
    if args.format == "csv":
        to = args.to or root / "grades.csv"
        X.export_long(root, to, [args.assignment] if args.assignment else None, roster=args.roster)
        print(f"grades written to {pathlib.Path(to).resolve()}")
        return 0
    if not args.assignment or not args.roster:
        raise ValueError(f"export --format {args.format} needs --assignment A and --roster (the file {args.format.title()} exported)")
    to = args.to or root / f"grades_{args.format}_{args.assignment}.csv"
    if args.format == "canvas":
        r = X.export_canvas(root, args.assignment, args.roster, to, column=args.column, missing=args.missing)
    else:
        r = X.export_moodle(root, args.assignment, args.roster, to, missing=args.missing)
    print(f"{args.format}: {len(r.filled)} grade(s) filled into {pathlib.Path(to).resolve()}; "
          f"{len(r.without_submission)} roster student(s) without a submission ({'0' if args.missing == 'zero' else 'left empty'})")
    if r.scale:
        print(f"scores scaled by {r.scale:g} to the template's maximum")
    if r.locked:
        print(f"left alone (Moodle: grade cannot be changed): {', '.join(r.locked)}")
    if r.not_in_roster:
        print(f"NOT in the roster ({len(r.not_in_roster)}): {', '.join(r.not_in_roster)} — their grades are not in {to}")
        if not args.accept_unmatched:
            print("error: graded submissions whose student is not in the roster (listed above); "
                  "download a current roster, or run again with --accept-unmatched", file=sys.stderr)
            return 1
    return 0


def cmd_feedback(args: argparse.Namespace) -> int:
    """``feedback ASSIGNMENT [--zip OUT.zip]``: HTML feedback, then (optionally) the LMS's feedback zip."""
    from .. import pipeline
    from ..feedback_zip import write_feedback_zip

    files = pipeline.feedback(args.course, args.assignment)
    print(f"{len(files)} feedback file(s) in {pathlib.Path(args.course).resolve() / 'feedback'}")
    if args.zip:
        z = write_feedback_zip(args.course, args.assignment, args.zip)
        print(f"{sum(len(v) for v in z.names.values())} file(s) in {z.path.resolve()}, named for the LMS:")
        for sid, names in sorted(z.names.items()):
            print(f"  {sid}: {', '.join(names)}")
        if z.not_collected:
            print(f"not collected from the LMS (named <student>/<file>, the LMS will not match them): {', '.join(z.not_collected)}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """``report ASSIGNMENT [--leave-out-blank]``: the item analysis."""
    from ..report import item_analysis

    for name, path in item_analysis(args.course, args.assignment, leave_out_blank=args.leave_out_blank).items():
        print(f"{name}: {path}")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Give ``collect``, ``export``, ``feedback`` and ``report`` their LMS options; add ``manual``, ``override``, ``regrade``."""
    from ..manual import add_commands as add_manual

    p = sub.choices["collect"]
    p.description = ("Collect a submissions download exactly as the LMS gives it: Canvas (name_userid_submissionid_file, "
                     "LATE marker, -1/-2 resubmissions; id = Canvas user id), Moodle (Full Name_participantid_assignsubmission_file_/file; "
                     "id = participant id) or plain (<student_id>/<notebook>.ipynb). Newest file wins (older ones archived in "
                     "downloaded/<assignment>/archive/), a second collect updates changed students only, every file not "
                     "collected is listed with its reason and the exit code is 1 unless --accept-skips.")
    p.add_argument("--lms", choices=("auto", "canvas", "moodle", "plain"), default="auto", help="who made the download (default: detected from the names)")
    p.add_argument("--worksheet", default=None, help="Moodle's grading worksheet: its 'Last modified (submission)' gives the submission times")
    p.add_argument("--zip-timezone", default="UTC", help="time zone of the zip's entry times (default: %(default)s)")
    p.add_argument("--accept-skips", action="store_true", help="exit 0 even if some files were not collected")
    p.set_defaults(func=cmd_collect)

    p = sub.choices["export"]
    p.description = ("Export grades. --format csv (default): nbgrader's long CSV, quoted, sorted, with status and late columns "
                     "(all assignments, or one with --assignment). --format canvas/moodle: fill the gradebook CSV Canvas "
                     "exported / the grading worksheet Moodle exported (--roster) with --assignment's scores, ready to import.")
    p.add_argument("--format", choices=("csv", "canvas", "moodle"), default="csv")
    p.add_argument("--assignment", default=None, help="one assignment (required for canvas and moodle)")
    p.add_argument("--roster", default=None, help="the template the LMS exported: Canvas gradebook CSV or Moodle grading worksheet "
                   "(with --format csv: optional, fills in the names and e-mails the gradebook lacks)")
    p.add_argument("--column", default=None, help="Canvas: the column to fill (default: the one titled like the assignment)")
    p.add_argument("--missing", choices=("blank", "zero"), default="blank", help="roster students without a submission (default: %(default)s)")
    p.add_argument("--accept-unmatched", action="store_true", help="exit 0 even if graded students are not in the roster")
    p.set_defaults(func=cmd_export)

    p = sub.choices["feedback"]
    p.add_argument("--zip", default=None, metavar="OUT.zip",
                   help="also write a zip for the LMS: Canvas 'Re-Upload Submissions' names, Moodle feedback-zip folders")
    p.set_defaults(func=cmd_feedback)

    if "report" in sub.choices:
        p = sub.choices["report"]
        p.add_argument("--leave-out-blank", action="store_true",
                       help="leave submissions with no answer changed from the release out of the statistics (listed apart)")
        p.set_defaults(func=cmd_report)

    add_manual(sub)
