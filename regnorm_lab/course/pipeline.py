"""The grading pipeline on nbgrader's Python API: release, autograde, feedback, export, collect, validate.

Everything takes the course directory (the folder holding ``nbgrader_config.py``)
and loads that config, so it behaves the same from any working directory and on
a copy of the course (the tests grade a copy in a temporary folder).

Autograding never lets one student stop the class: notebooks are checked before
nbgrader sees them (unreadable or missing ones are recorded and left out), the
rest are graded in ONE nbgrader call (a kernel start per notebook is the cost),
and if that call reports failures the failing students are retried one by one and
classified (``kernel_died``, ``timeout``, ``error``). A kernel that dies mid-notebook
costs only the cells from the dying one on (:mod:`.kernel_death`). Every outcome lands in
``reports/<assignment>_status.csv`` (see :mod:`.status`).
"""

from __future__ import annotations

import logging
import os
import pathlib
import re
import shutil
import sys
from typing import Any

import nbformat
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from .status import StudentStatus, read_status, write_status

__all__ = [
    "default_course_root",
    "load_config",
    "make_api",
    "list_assignments",
    "release",
    "autograde",
    "feedback",
    "export",
    "collect_zip",
    "validate",
    "check_submission",
    # building blocks shared with the parallel ``grade`` command (.parallel, .report)
    "inspect_autograded",
    "classify_log",
    "last_error_line",
    "zero_submission",
    "venv_on_path",
]

log = logging.getLogger("regnorm_lab.course")


def default_course_root() -> pathlib.Path:
    """``$REGNORM_COURSE``, else ``./exercises`` if it exists, else the repository's ``exercises/``."""
    env = os.environ.get("REGNORM_COURSE")
    if env:
        return pathlib.Path(env).resolve()
    here = pathlib.Path.cwd() / "exercises"
    if (here / "nbgrader_config.py").exists():
        return here.resolve()
    return (pathlib.Path(__file__).resolve().parents[2] / "exercises").resolve()


def load_config(course_root: str | os.PathLike[str], **overrides: Any) -> Config:
    """Load ``<course_root>/nbgrader_config.py``; ``overrides`` like ``{"Execute": {"timeout": 5}}`` win."""
    root = pathlib.Path(course_root).resolve()
    if not (root / "nbgrader_config.py").exists():
        raise ValueError(f"course_root {root} has no nbgrader_config.py")
    cfg = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    if overrides:
        cfg.merge(Config(overrides))
    from .judge import install  # test cells are decided in the grader's process, not the kernel (issue 14)

    return install(cfg)


def venv_on_path() -> None:
    """Put this interpreter's ``bin/`` first on PATH: nbgrader runs ``alembic`` by name when it
    creates a gradebook, which fails when ``.venv/bin/python`` runs without an activated venv."""
    bindir = os.path.dirname(sys.executable)
    parts = os.environ.get("PATH", "").split(os.pathsep)
    if bindir not in parts:
        os.environ["PATH"] = os.pathsep.join([bindir, *parts])


def make_api(course_root: str | os.PathLike[str], **overrides: Any):
    """An ``nbgrader.apps.NbGraderAPI`` for the course (quiet logging)."""
    venv_on_path()
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    cfg = load_config(course_root, **overrides)
    cfg.NbGraderAPI.log_level = "WARN"
    # the API lists the exchange on start and complains loudly when the folder is absent
    os.makedirs(str(cfg.Exchange.root), exist_ok=True)
    coursedir = CourseDirectory(config=cfg)
    return NbGraderAPI(coursedir=coursedir, config=cfg)


def list_assignments(course_root: str | os.PathLike[str]) -> list[str]:
    """Assignment names: the folders of ``source/`` that hold a notebook."""
    root = pathlib.Path(course_root)
    return sorted(p.parent.name for p in root.glob("source/*/*.ipynb"))


def _notebook_names(course_root: pathlib.Path, assignment: str) -> list[str]:
    names = sorted(p.stem for p in (course_root / "source" / assignment).glob("*.ipynb"))
    if not names:
        raise ValueError(f"assignment {assignment!r} has no notebook in {course_root / 'source' / assignment}")
    return names


def _ensure(result: dict[str, Any], what: str) -> dict[str, Any]:
    if not result.get("success", False):
        raise RuntimeError(f"{what} failed:\n{result.get('log', '')}\n{result.get('error', '')}")
    return result


def release(course_root: str | os.PathLike[str], assignment: str) -> pathlib.Path:
    """Add ``assignment`` to the gradebook and generate its student version in ``release/``.

    Returns:
        The release folder.
    """
    from nbgrader.api import Gradebook

    root = pathlib.Path(course_root).resolve()
    _notebook_names(root, assignment)
    api = make_api(root)
    with Gradebook(api.coursedir.db_url, api.coursedir.course_id) as gb:
        gb.update_or_create_assignment(assignment)
    _ensure(api.generate_assignment(assignment, force=True, create=True), f"generate_assignment {assignment}")
    return root / "release" / assignment


def check_submission(course_root: pathlib.Path, assignment: str, student: str) -> StudentStatus | None:
    """Check a submission before nbgrader sees it: None if gradable, else its status.

    ``missing``: no expected notebook in ``submitted/<student>/<assignment>/``;
    ``unreadable``: a notebook that is not valid JSON / nbformat.
    """
    folder = course_root / "submitted" / student / assignment
    problems = []
    found = 0
    for name in _notebook_names(course_root, assignment):
        path = folder / f"{name}.ipynb"
        if not path.exists():
            continue
        found += 1
        try:
            nb = nbformat.read(str(path), as_version=4)
            nbformat.validate(nb)
        except Exception as err:  # noqa: BLE001 - any unreadable file is recorded, not raised
            problems.append(f"{name}.ipynb is not a readable notebook ({type(err).__name__}: {str(err).splitlines()[0][:120] if str(err) else ''})")
    if problems:
        return StudentStatus(student, "unreadable", None, None, "; ".join(problems))
    if found == 0:
        others = sorted(p.name for p in folder.glob("*")) if folder.exists() else []
        detail = f"no {', '.join(n + '.ipynb' for n in _notebook_names(course_root, assignment))} submitted"
        if others:
            detail += f" (found: {', '.join(others[:5])})"
        return StudentStatus(student, "missing", None, None, detail)
    return None


def zero_submission(api: Any, assignment: str, student: str) -> None:
    """Record a submission with every autograded cell at 0 (as nbgrader does for a missing notebook)."""
    from nbgrader.api import Gradebook

    with Gradebook(api.coursedir.db_url, api.coursedir.course_id) as gb:
        gb.update_or_create_student(student)
        submission = gb.update_or_create_submission(assignment, student)
        for nb in submission.notebooks:
            for grade in nb.grades:
                grade.auto_score = 0
                grade.needs_manual_grade = False
        gb.db.commit()


def classify_log(text: str) -> str:
    """Why nbgrader failed on a notebook, from its log: kernel_died, timeout or error.

    Shape:
        A log text -> one of the statuses of :mod:`.status`.
    """
    if "Kernel died" in text or "DeadKernelError" in text:
        return "kernel_died"
    if "CellTimeoutError" in text or "became unresponsive" in text or "TimeoutError" in text:
        return "timeout"
    return "error"


# Answer-cell code that rebinds what the test cells rely on. It cannot raise a score (the
# checks use functions captured at import), but an instructor may want to look.
_SUSPICIOUS = re.compile(
    r"(^|\n)\s*G\s*=|\bG\.\w+\s*=[^=]|\bnp\.(allclose|isclose|testing\.\w+)\s*=[^=]|\bmath\.isclose\s*=[^=]"
    r"|sys\.modules\[|\bbuiltins\.\w+\s*=[^=]|sys\.setprofile|sys\.settrace"
)


def inspect_autograded(root: pathlib.Path, assignment: str, student: str) -> tuple[str, str]:
    """Status (graded, timeout or kernel_died) and detail from an autograded notebook's outputs and answers.

    ``kernel_died`` here means the kernel died mid-notebook and the cells before the
    dying one were graded (:mod:`.kernel_death`); the detail names the dying cell.
    """
    from . import kernel_death

    status, notes, deaths = "graded", [], []
    for path in sorted((root / "autograded" / student / assignment).glob("*.ipynb")):
        nb = nbformat.read(str(path), as_version=4)
        death = kernel_death.recorded(nb)
        if death is not None:
            deaths.append(f"the kernel died in {death['cell']} ({death['reason']}): that cell and the {death['not_run']} code "
                          "cell(s) after it score 0; the cells before it were graded")
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("solution") and _SUSPICIOUS.search(cell.source):
                notes.append(f"answer cell {meta.get('grade_id')} rebinds grading or comparison functions (review by hand)")
            for out in cell.get("outputs", []):
                if out.get("output_type") != "error" or out.get("ename") == kernel_death.ENAME:
                    continue
                if out.get("ename") == "CellTimeoutError":
                    status = "timeout"
                    notes.append(f"cell {meta.get('grade_id', '?')} hit the time limit")
                elif not meta.get("grade", False):  # errors in test cells are ordinary failures
                    notes.append(f"{out.get('ename')} in cell {meta.get('grade_id', '(unnamed)')}")
    if deaths:
        status, notes = "kernel_died", deaths + notes
    return status, "; ".join(dict.fromkeys(notes))


def autograde(
    course_root: str | os.PathLike[str],
    assignment: str,
    *,
    force: bool = False,
    timeout: int | None = None,
    progress: bool = False,
    sandbox: bool | None = None,
) -> list[StudentStatus]:
    """Autograde every submission of ``assignment``; write and return the per-student statuses.

    The same grading path as ``grade`` (:func:`.parallel.grade_class` with one
    worker, no feedback, export or item report): each notebook in its own
    sandboxed kernel, each student's outcome classified and recorded.

    Args:
        course_root: The course directory.
        assignment: e.g. ``"ps01_penalties"``.
        force: Regrade submissions that were autograded before.
        timeout: Per-cell time limit in seconds (default: the config's).
        progress: Show a tqdm bar.
        sandbox: False grades without the sandbox (``--no-sandbox``, recorded); None: the config's.

    Returns:
        One :class:`~.status.StudentStatus` per student folder in ``submitted/``.
    """
    from .parallel import grade_class

    result = grade_class(course_root, assignment, workers=1, force=force, timeout=timeout, progress=progress,
                         feedback=False, export=False, report=False, sandbox=sandbox)
    return result.statuses


def last_error_line(text: str) -> str:
    """The last line of a log that names an error or exception (else its last line), for a status detail."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for ln in reversed(lines):
        if "Error" in ln or "Exception" in ln:
            return ln[:200]
    return lines[-1][:200] if lines else "unknown error"


def feedback(course_root: str | os.PathLike[str], assignment: str, student: str | None = None) -> list[pathlib.Path]:
    """Generate HTML feedback (hidden tests hidden) for every autograded submission; return the files."""
    root = pathlib.Path(course_root).resolve()
    api = make_api(root)
    _ensure(api.generate_feedback(assignment, student or "*", force=True), f"generate_feedback {assignment}")
    return sorted(root.glob(f"feedback/{student or '*'}/{assignment}/*.html"))


def export(course_root: str | os.PathLike[str], to: str | os.PathLike[str] | None = None) -> pathlib.Path:
    """nbgrader's CSV export plus a ``status`` and ``detail`` column from the status reports.

    A student whose notebook was unreadable or missing shows score 0 *and* that
    status, so they are never mistaken for one who scored 0.
    """
    import csv

    from nbgrader.api import Gradebook
    from nbgrader.plugins import CsvExportPlugin

    root = pathlib.Path(course_root).resolve()
    target = pathlib.Path(to) if to else root / "grades.csv"
    api = make_api(root)
    raw = target.with_suffix(".nbgrader.csv")
    plugin = CsvExportPlugin(parent=api)
    plugin.to = str(raw)
    with Gradebook(api.coursedir.db_url, api.coursedir.course_id) as gb:
        plugin.export(gb)
    status_by_key = {}
    for report in sorted((root / "reports").glob("*_status.csv")):
        assignment = report.name[: -len("_status.csv")]
        for st in read_status(report):
            status_by_key[(assignment, st.student_id)] = st
    with open(raw, newline="") as f:
        rows = list(csv.DictReader(f))
    fields = (list(rows[0].keys()) if rows else ["assignment", "student_id", "score", "max_score"]) + ["status", "detail"]
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        for row in rows:
            st = status_by_key.get((row.get("assignment"), row.get("student_id")))
            row["status"] = st.status if st else ("graded" if row.get("timestamp") else "not_submitted")
            row["detail"] = st.detail if st else ""
            writer.writerow(row)
    raw.unlink()
    return target


def collect_zip(course_root: str | os.PathLike[str], zipfile: str | os.PathLike[str], assignment: str) -> list[str]:
    """Collect an LMS zip download into ``submitted/<student>/<assignment>/`` with ``nbgrader zip_collect``.

    Files in the zip must be named ``<student_id>_<anything>_<notebook>.ipynb`` or
    ``<student_id>_<notebook>.ipynb`` (Moodle/Canvas style), e.g.
    ``alice_1234_ps01_penalties.ipynb``.

    Returns:
        The student ids collected.
    """
    from nbgrader.apps import ZipCollectApp

    root = pathlib.Path(course_root).resolve()
    names = "|".join(re.escape(n) for n in _notebook_names(root, assignment))
    archive = root / "downloaded" / assignment / "archive"
    archive.mkdir(parents=True, exist_ok=True)
    shutil.copy(zipfile, archive / pathlib.Path(zipfile).name)
    cfg = load_config(root)
    # nbgrader matches the regexp against the extracted file's full path
    cfg.FileNameCollectorPlugin.named_regexp = rf"^(?:.*[\\/])?(?P<student_id>[^_\\/]+)_(?:[^\\/]*_)?(?P<file_id>(?:{names})\.ipynb)$"
    cfg.ZipCollectApp.force = True
    cfg.CourseDirectory.assignment_id = assignment
    cwd = os.getcwd()
    os.chdir(root)
    try:
        app = ZipCollectApp(config=cfg)
        app.initialize([assignment])
        app.start()
    finally:
        os.chdir(cwd)
    return sorted(p.parent.name for p in root.glob(f"submitted/*/{assignment}") if p.is_dir())


def validate(notebook: str | os.PathLike[str], course_root: str | os.PathLike[str] | None = None,
             *, sandbox: bool = False) -> tuple[bool, str]:
    """Run ``nbgrader validate`` on one notebook: (passed, the report nbgrader prints).

    Unlike plain ``nbgrader validate``, stderr output (a warning) is not a failure,
    as when grading. Works without a course folder (a student's machine).
    ``sandbox``: run the kernel in the grading sandbox (an instructor checking a
    notebook they do not trust; bwrap must work, see :func:`.sandbox.check`).
    """
    import io

    from nbgrader.validator import Validator

    try:
        cfg = load_config(course_root or default_course_root())
    except ValueError:
        # a student's machine (Colab, pip-installed package) has no course folder
        cfg = Config()
        cfg.Execute.timeout = 60
    path = pathlib.Path(notebook).resolve()
    from nbgrader.preprocessors import CheckCellMetadata, ClearOutput, Execute

    from .preprocessors import StderrToStdout

    validator = Validator(config=cfg)
    if sandbox:
        from .prewarm import PrewarmedExecute
        from .sandbox import Sandbox, check

        check(Sandbox(config=cfg))
        cfg.PrewarmedExecute.ahead = False  # one notebook: no spare for a next one
        Execute = PrewarmedExecute  # noqa: N806 - the same sandboxed kernels as grading
    # as when grading: a warning on stderr is not a failure
    validator.preprocessors = [CheckCellMetadata, ClearOutput, Execute, StderrToStdout]
    buf = io.StringIO()
    validator.stream = buf
    results = validator.validate(str(path))
    validator.validate = lambda _filename: results  # print the same results without running it twice
    validator.validate_and_print(str(path))
    ok = not any(results.get(k) for k in ("failed", "changed", "type_changed"))
    return ok, buf.getvalue()
