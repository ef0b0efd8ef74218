"""ps02_dropout through the real nbgrader pipeline: solution, blank, single mistakes, delegating answers."""

from __future__ import annotations

import pytest

from . import harness as H

pytestmark = pytest.mark.slow

# solution full marks, blank zero, each single mistake, delegating answers, hidden tests: see H.standard_suite
TestPs02 = H.standard_suite("ps02_dropout", max_points=16.0, timeout=30)
