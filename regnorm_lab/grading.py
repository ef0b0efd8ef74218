"""Old home of the in-kernel checks, kept only for ps07's test cells (``import regnorm_lab.grading as G``).

The checks live in :mod:`regnorm_lab.course.grading`; assignments ps01-ps06 no longer use
them (their verdicts are decided by the grader, :mod:`regnorm_lab.course.judge`). Remove
this module when ps07 runs through the probe too.
"""

from regnorm_lab.course.grading import *  # noqa: F401,F403
from regnorm_lab.course.grading import __all__  # noqa: F401
