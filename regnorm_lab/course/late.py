"""Due dates and late work: when each submission came in, and what lateness costs.

- **Due dates** live in the course config, one per assignment, in the instructor's
  time zone::

      c.DueDates.dates = {"ps01_penalties": "2026-10-02 23:59"}
      c.DueDates.timezone = "Europe/Berlin"

  :func:`sync_due_date` writes an assignment's date into the gradebook, where
  nbgrader's ``AssignLatePenalties`` (already in the autograde pipeline) reads it.
- **Submission times** come from the LMS download (:func:`resolve_submitted_at`):
  Canvas's ``LATE`` marker decides *whether* a file is late and the zip entry time
  *how* late; Moodle's grading worksheet column "Last modified (submission)"
  gives the time (:func:`moodle_times`). ``collect`` writes it to nbgrader's
  ``timestamp.txt`` beside the notebook.
- **The penalty** is an nbgrader late-submission plugin chosen in ``nbgrader_config.py``:
  nbgrader's own ``LateSubmissionPlugin`` (``penalty_method`` ``none`` or ``zero``) or
  :class:`PerDayPenalty` (a share of the score per started day, after a grace period).
  :func:`policy_text` says it in words for the export and the collect summary.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import pathlib
from typing import Any, Optional

from nbgrader.plugins import LateSubmissionPlugin
from traitlets import Dict, Float, Unicode
from traitlets.config import Configurable

__all__ = ["DueDates", "PerDayPenalty", "due_date", "sync_due_date", "resolve_submitted_at", "moodle_times", "policy_text",
           "late_note", "parse_time"]


class DueDates(Configurable):
    """The course's due dates: ``c.DueDates.dates = {assignment: "YYYY-MM-DD HH:MM"}`` in ``c.DueDates.timezone``."""

    dates = Dict(default_value={}, help="assignment -> due date and time (in `timezone` unless it names its own)").tag(config=True)
    timezone = Unicode("UTC", help="IANA time zone of the dates and of Moodle's worksheet times, e.g. Europe/Berlin").tag(config=True)


class PerDayPenalty(LateSubmissionPlugin):
    """Late penalty: ``percent_per_day`` of the notebook's score per started day late, at most ``max_percent``.

    A submission within ``grace_minutes`` of the due date costs nothing (an upload
    that finished a minute late is not late work).
    """

    percent_per_day = Float(10.0, help="percent of the score taken per started day late").tag(config=True)
    grace_minutes = Float(0.0, help="minutes after the due date that still count as on time").tag(config=True)
    max_percent = Float(100.0, help="the most a late submission can lose, in percent of its score").tag(config=True)

    def late_submission_penalty(self, student_id: str, score: float, total_seconds_late: float) -> Optional[float]:
        """Points to take from ``score`` for a notebook ``total_seconds_late`` seconds late."""
        if total_seconds_late <= self.grace_minutes * 60:
            return 0.0
        days = math.ceil(total_seconds_late / 86400)
        return score * min(self.max_percent, days * self.percent_per_day) / 100.0


def parse_time(text: str, timezone: str = "UTC") -> dt.datetime:
    """A date-time string (ISO, or Moodle's "Monday, 5 October 2026, 3:04 PM") as an aware UTC datetime.

    Raises:
        ValueError: ``text`` is not a date, or ``timezone`` is unknown.
    """
    import dateutil.parser
    import dateutil.tz

    tz = dateutil.tz.gettz(timezone)
    if tz is None:
        raise ValueError(f"timezone must be an IANA zone name such as Europe/Berlin, got {timezone!r}")
    try:
        when = dateutil.parser.parse(text)
    except (ValueError, OverflowError) as err:
        raise ValueError(f"not a date and time: {text!r}") from err
    if when.tzinfo is None:
        when = when.replace(tzinfo=tz)
    return when.astimezone(dt.timezone.utc)


def due_date(cfg: Any, assignment: str) -> dt.datetime | None:
    """The assignment's due date from the course config (UTC), or None when it has none."""
    due = DueDates(config=cfg)
    text = due.dates.get(assignment)
    return parse_time(str(text), due.timezone) if text else None


def sync_due_date(course_root: str | os.PathLike[str], assignment: str) -> dt.datetime | None:
    """Write the config's due date of ``assignment`` into the gradebook (where nbgrader reads it).

    Without a date in the config the gradebook is left alone (a date set with nbgrader's
    formgrader stays).
    """
    from nbgrader.api import Gradebook

    from . import pipeline

    cfg = pipeline.load_config(pathlib.Path(course_root))
    when = due_date(cfg, assignment)
    if when is None:
        return None
    pipeline.venv_on_path()
    with Gradebook(str(cfg.CourseDirectory.db_url), str(cfg.CourseDirectory.course_id)) as gb:
        gb.update_or_create_assignment(assignment, duedate=when.replace(tzinfo=None))  # nbgrader keeps naive UTC
    return when


def resolve_submitted_at(at: dt.datetime | None, late: bool | None, due: dt.datetime | None) -> tuple[dt.datetime | None, str]:
    """The submission time to record, and a note when the LMS's lateness marker corrected it.

    Canvas's ``LATE`` marker is the platform's own verdict (it knows extensions and
    its clock); the zip entry time only says how late. So a file marked late whose
    entry time is not past the due date is recorded one second after it (late,
    by the least), and an unmarked file past the due date is recorded at the due date.
    """
    if at is None or due is None or late is None:
        return at, ""
    if late and at <= due:
        return due + dt.timedelta(seconds=1), "marked LATE by the LMS but its time is not after the due date: recorded as just late"
    if not late and at > due:
        return due, "not marked late by the LMS (an extension?) although its time is after the due date: recorded as on time"
    return at, ""


def moodle_times(worksheet: str | os.PathLike[str], timezone: str = "UTC") -> dict[str, dt.datetime]:
    """Participant id -> "Last modified (submission)" of a Moodle grading worksheet (UTC).

    Rows without a submission time (``-``) are left out.
    """
    from .lms.worksheet import read_moodle

    out = {}
    for row in read_moodle(worksheet).rows:
        text = (row.get("Last modified (submission)") or "").strip()
        pid = row.get("Identifier", "").replace("Participant", "").strip()
        if text and text != "-" and pid:
            out[pid] = parse_time(text, timezone)
    return out


def policy_text(cfg: Any) -> str:
    """The configured late policy in words, e.g. "10% of the score per started day late"."""
    from traitlets.config import Config

    cls = (cfg.get("AssignLatePenalties", Config()).get("plugin_class") or "nbgrader.plugins.LateSubmissionPlugin")
    name = cls if isinstance(cls, str) else f"{cls.__module__}.{cls.__name__}"
    if name.endswith("PerDayPenalty"):
        p = PerDayPenalty(config=cfg)
        grace = f" after {p.grace_minutes:g} min of grace" if p.grace_minutes else ""
        cap = f", at most {p.max_percent:g}%" if p.max_percent < 100 else ""
        return f"{p.percent_per_day:g}% of the score per started day late{grace}{cap}"
    method = LateSubmissionPlugin(config=cfg).penalty_method
    return {"none": "no penalty for late work", "zero": "late work scores 0"}.get(method, method)


def late_note(seconds_late: float, penalty: float, policy: str) -> str:
    """The status report's words for a late submission, e.g. "late 5 h 0 min: -2.5 points (10% of ...)".

    Args:
        seconds_late: How late the submission was (nbgrader's ``total_seconds_late``), > 0.
        penalty: The points the late policy takes off the raw score.
        policy: :func:`policy_text` of the course config.
    """
    if seconds_late <= 0:
        raise ValueError(f"seconds_late must be > 0 for a late note, got {seconds_late!r}")
    days, rest = divmod(int(round(seconds_late)), 86400)
    hours, rest = divmod(rest, 3600)
    span = (f"{days} d " if days else "") + f"{hours} h {rest // 60} min"
    return f"late {span}: -{penalty:g} points ({policy})"
