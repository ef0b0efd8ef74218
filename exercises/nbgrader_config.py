"""nbgrader configuration of the regnorm-lab course (the course directory is this folder).

Every path is computed from this file's location, so ``nbgrader`` and
``python -m regnorm_lab.course`` work from any working directory and from a copy
of the folder (the tests grade a copy in a temporary directory).

Environment overrides (all optional):

- ``REGNORM_EXCHANGE``: exchange root for ``nbgrader release_assignment``/``collect``
  (default ``<exercises>/exchange``; never ``/usr/local/share``).
- ``REGNORM_CELL_TIMEOUT``: seconds a single cell may run while autograding (default 60).
- ``REGNORM_DB_URL``: the gradebook on a database server instead of the SQLite file
  ``gradebook.db`` here, e.g. ``postgresql://grader@db.example.org/regnorm`` (an
  SQLAlchemy URL, nbgrader's ``db_url``); ``grade`` workers then write to it concurrently.
"""

import os

c = get_config()  # noqa: F821 - provided by traitlets when it loads this file

COURSE_ROOT = os.path.dirname(os.path.abspath(__file__))

c.CourseDirectory.root = COURSE_ROOT
c.CourseDirectory.course_id = "regnorm-lab"
c.CourseDirectory.db_url = os.environ.get("REGNORM_DB_URL") or "sqlite:///" + os.path.join(COURSE_ROOT, "gradebook.db")
c.CourseDirectory.assignment_id = ""
# The status and grade reports the course CLI writes are not part of any assignment.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "reports"]

c.Exchange.root = os.environ.get("REGNORM_EXCHANGE", os.path.join(COURSE_ROOT, "exchange"))

# Execution while autograding: the course's own kernel (the .venv's python3), one
# minute per cell, so an infinite loop costs a minute and is recorded, not fatal.
c.Execute.kernel_name = "python3"
c.Execute.timeout = int(os.environ.get("REGNORM_CELL_TIMEOUT", "60"))
c.Execute.interrupt_on_timeout = True
c.ExecutePreprocessor.timeout = c.Execute.timeout
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}

# A test cell a student deleted (or whose metadata they broke) is put back from the
# gradebook and run, so deleting a failing test never turns it into a pass.
c.OverwriteCells.add_missing_cells = True

# Autograde pipeline = nbgrader's default plus StderrToStdout right after execution:
# nbgrader scores a test cell 0 when it wrote to stderr, so a correct answer that
# merely triggers a warning would lose its points. Errors still fail the cell.
c.Autograde.autograde_preprocessors = [
    "nbgrader.preprocessors.Execute",
    "regnorm_lab.course.preprocessors.StderrToStdout",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]

# Feedback pipeline = nbgrader's default plus HideHiddenTests: the autograded notebook
# holds the hidden tests (restored from the gradebook); feedback shows only the
# behaviour's name and our worded failure message for them.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "regnorm_lab.course.preprocessors.HideHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]

# Due dates and late work (regnorm_lab/course/late.py). One date per assignment, in
# DueDates.timezone; `collect` writes each submission's time from the LMS download
# (Canvas's LATE marker and zip times, Moodle's worksheet) and puts the date in the
# gradebook, where AssignLatePenalties (in the autograde pipeline above) finds it.
# The policy: 10% of the score per started day late after 15 minutes' grace; nbgrader's
# own alternative is "nbgrader.plugins.LateSubmissionPlugin" with penalty_method "zero".
c.DueDates.timezone = "UTC"
c.DueDates.dates = {
    # "ps01_penalties": "2026-10-02 23:59",
}
c.AssignLatePenalties.plugin_class = "regnorm_lab.course.late.PerDayPenalty"
c.PerDayPenalty.percent_per_day = 10.0
c.PerDayPenalty.grace_minutes = 15.0
c.PerDayPenalty.max_percent = 100.0

# Every kernel that runs student code runs in a bubblewrap sandbox (regnorm_lab/course/
# sandbox.py): no network, the course folder not mounted, a private copy of the
# submission, an unprivileged uid, and these limits (the defaults, written out so that
# they are easy to change). `--no-sandbox` or enabled = False grades without it (warned,
# and recorded in the status report and the export).
c.Sandbox.enabled = True
c.Sandbox.memory_mb = 2048  # address space per kernel process (RLIMIT_AS)
c.Sandbox.cpu_seconds = 600  # CPU time per kernel process (RLIMIT_CPU)
c.Sandbox.processes = 256  # processes and threads (RLIMIT_NPROC)
c.Sandbox.file_size_mb = 64  # largest file written (RLIMIT_FSIZE)
c.Sandbox.tmp_size_mb = 256  # the scratch /tmp
c.Sandbox.wall_seconds = 900  # wall clock per notebook: the kernel is killed after it
# The reference is hidden from every grading kernel: only regnorm_lab.course.probe (and its
# test inputs) is importable there, and the package's files cannot be read by path, so a
# student cannot delegate to it. (A notebook whose locked setup cells imported other
# regnorm_lab modules would keep the package; since ps07 moved to the probe, none does.)
c.Sandbox.hide_reference = True
# With hide_reference = False, a notebook whose setup imports only the probe is still hidden.
c.Sandbox.hide_reference_for_probe = True

# Hidden test inputs derive from a course secret (an HMAC of it), so that publishing
# the repository does not publish them: set one before grading a real class, here or
# as $REGNORM_GRADING_SECRET in the grader's environment (never inside the sandbox).
# Without it, grading warns and uses the published defaults.
# c.Judge.secret = "a long random string kept out of version control"
