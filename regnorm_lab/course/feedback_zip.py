"""Feedback back through the LMS: one zip whose file names tell the LMS which student each file is for.

- **Canvas** (Assignment -> "Re-Upload Submissions"): a file keeps the name of the
  submission it answers, ``name[_LATE]_userid_submissionid_<file>``, with ``.html``
  for ``.ipynb``; Canvas reads the user and submission ids back from the name and
  attaches the file as a comment to that student's submission.
- **Moodle** (View all submissions -> "Upload multiple feedback files in a zip"):
  the file goes in the student's download folder,
  ``Full Name_participantid_assignsubmission_file_/<notebook>.html``; Moodle reads the
  participant id from the folder name.
- **plain**: ``<student_id>/<notebook>.html``.

The names come from ``downloaded/<a>/submissions.csv``, which ``collect`` writes.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import zipfile

__all__ = ["FeedbackZip", "feedback_name", "write_feedback_zip"]


@dataclasses.dataclass
class FeedbackZip:
    """The zip written, its file names by student, and students the LMS would not recognise."""

    path: pathlib.Path
    names: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    not_collected: list[str] = dataclasses.field(default_factory=list)


def feedback_name(record: dict[str, str] | None, student: str, html: str) -> str:
    """The name in the zip of feedback file ``html`` (``ps01_penalties.html``) for ``student``.

    Args:
        record: The student's row of ``submissions.csv`` (None: not collected from an LMS).
    """
    lms = (record or {}).get("lms", "plain")
    if lms == "canvas":
        member = pathlib.PurePosixPath(record["member"]).name
        stem = member[: -len(".ipynb")] if member.lower().endswith(".ipynb") else member
        return f"{stem}.html"
    if lms == "moodle":
        return f"{record['feedback_key']}/{html}"
    return f"{student}/{html}"


def write_feedback_zip(course_root: str | os.PathLike[str], assignment: str, to: str | os.PathLike[str]) -> FeedbackZip:
    """Zip ``feedback/*/<assignment>/*.html`` under the names the LMS needs (see the module doc).

    Raises:
        ValueError: there is no feedback for ``assignment`` yet.
    """
    from .lms.collect import read_manifest

    root = pathlib.Path(course_root).resolve()
    files = sorted(root.glob(f"feedback/*/{assignment}/*.html"))
    if not files:
        raise ValueError(f"assignment {assignment!r} has no feedback in {root / 'feedback'}: grade it and run feedback first")
    manifest = read_manifest(root, assignment)
    result = FeedbackZip(pathlib.Path(to))
    result.path.parent.mkdir(parents=True, exist_ok=True)
    by_student: dict[str, list[pathlib.Path]] = {}
    for f in files:
        by_student.setdefault(f.parent.parent.name, []).append(f)
    with zipfile.ZipFile(result.path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for student, htmls in sorted(by_student.items()):
            record = manifest.get(student)
            if record is None and manifest:
                result.not_collected.append(student)
            for html in htmls:
                # Canvas names one file per submission: a second notebook gets its own suffix
                name = feedback_name(record, student, html.name)
                if record and record.get("lms") == "canvas" and len(htmls) > 1:
                    name = f"{name[:-5]}_{html.stem}.html"
                z.write(html, name)
                result.names.setdefault(student, []).append(name)
    return result
