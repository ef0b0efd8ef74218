"""The light student install: the ``student`` extra has what a released notebook and ``validate`` import, and no developer tooling."""

from __future__ import annotations

import pathlib
import re
import sys
import tomllib

import nbformat

REPO = pathlib.Path(__file__).resolve().parents[2]
EXTRA = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["student"]
NAMES = {re.split(r"[<>=!\[ ;]", req, maxsplit=1)[0].lower() for req in EXTRA}
IMPORT_NAME = {"scikit-learn": "sklearn"}


def test_student_extra_has_the_grading_tools_and_no_developer_tooling() -> None:
    assert {"numpy", "torch", "nbgrader", "tqdm"} <= NAMES
    developer = {"jupyter-book", "myst-nb", "sphinx", "playwright", "selenium", "psycopg2", "psycopg2-binary", "psycopg",
                 "dask", "distributed", "pytest", "hypothesis", "statsmodels"}
    assert not NAMES & developer, NAMES & developer


def test_every_module_a_visible_cell_imports_is_installed_by_the_extra() -> None:
    provided = {IMPORT_NAME.get(n, n) for n in NAMES} | {"regnorm_lab"}
    stdlib = set(sys.stdlib_module_names)  # ships with Python: nothing to install
    for path in sorted((REPO / "exercises" / "source").glob("*/*.ipynb")):
        nb = nbformat.read(str(path), as_version=4)
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            visible = re.sub(r"### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS", "", cell.source, flags=re.S)
            for mod in re.findall(r"^\s*(?:from|import)\s+([A-Za-z_]\w*)", visible, flags=re.M):
                assert mod in provided | stdlib, f"{path.name} imports {mod}, which the student extra does not install"
