"""The edition without solutions (book/_ext/solutions_edition.py): the switch, and a real Sphinx build of one small page."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book" / "_ext"))

import solutions_edition  # noqa: E402

PAGE = """\
# A page

```{exercise}
:label: ex-square

What is 3 squared?
```

```{solution} ex-square
:class: dropdown

It is NINE-IS-THE-ANSWER.
```
"""


@pytest.mark.parametrize(
    ("value", "hidden"), [("", False), ("0", False), ("false", False), ("no", False), ("1", True), ("yes", True)]
)
def test_switch_reads_the_variable(value: str, hidden: bool) -> None:
    assert solutions_edition.hide_solutions_requested({solutions_edition.ENV_VAR: value}) is hidden
    assert solutions_edition.hide_solutions_requested({}) is False


def _build(tmp_path: Path, hide: str) -> str:
    src, out = tmp_path / f"src{hide}", tmp_path / f"out{hide}"
    src.mkdir()
    (src / "index.md").write_text(PAGE, encoding="utf-8")
    # The same two extensions the book's _config.yml loads for practice problems, nothing else.
    (src / "conf.py").write_text(
        f"import sys\nsys.path.insert(0, {str(ROOT / 'book' / '_ext')!r})\n"
        "extensions = ['myst_parser', 'sphinx_exercise', 'solutions_edition']\n",
        encoding="utf-8",
    )
    env = {**__import__("os").environ, solutions_edition.ENV_VAR: hide}
    subprocess.run(
        [sys.executable, "-m", "sphinx", "-q", "-W", "-b", "html", str(src), str(out)],
        check=True, env=env, capture_output=True, text=True,
    )
    return (out / "index.html").read_text(encoding="utf-8")


@pytest.mark.slow
def test_hidden_edition_builds_without_the_solution(tmp_path: Path) -> None:
    shown = _build(tmp_path, "0")
    hidden = _build(tmp_path, "1")
    assert "What is 3 squared?" in shown and "NINE-IS-THE-ANSWER" in shown
    assert "What is 3 squared?" in hidden and "NINE-IS-THE-ANSWER" not in hidden


@pytest.mark.slow  # imports the package (torch) through colab_notebooks
def test_colab_twin_shows_problem_and_collapses_solution() -> None:
    import colab_notebooks

    md = colab_notebooks.to_colab_markdown(PAGE, ROOT / "book")
    assert "{exercise}" not in md and "{solution}" not in md and ":label:" not in md and ":class:" not in md
    problem, solution = md.split("<details>")
    assert "What is 3 squared?" in problem and "NINE-IS-THE-ANSWER" not in problem
    assert "NINE-IS-THE-ANSWER" in solution and solution.rstrip().endswith("</details>")
