"""regnorm_lab.course.late.late_note: the status report's words for a late submission."""

from __future__ import annotations

import pytest

from regnorm_lab.course.late import late_note


def test_late_note_spells_out_the_delay_the_points_and_the_policy():
    assert late_note(5 * 3600, 2.5, "10% per day") == "late 5 h 0 min: -2.5 points (10% per day)"
    assert late_note(2 * 86400 + 3600 + 59 * 60, 6, "p") == "late 2 d 1 h 59 min: -6 points (p)"
    assert late_note(90, 0, "grace") == "late 0 h 1 min: -0 points (grace)"


def test_late_note_needs_a_late_submission():
    with pytest.raises(ValueError, match="seconds_late"):
        late_note(0, 0, "p")
