"""ps03_feature_scaling through the real nbgrader pipeline: solution, blank, single mistakes, delegating answers."""

from __future__ import annotations

import pytest

from . import harness as H

pytestmark = pytest.mark.slow

# solution full marks, blank zero, each single mistake, delegating answers, hidden tests: see H.standard_suite
TestPs03 = H.standard_suite("ps03_feature_scaling", max_points=14.0, timeout=30)
