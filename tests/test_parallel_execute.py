"""book/_ext/parallel_execute.py: stale chapters run in parallel into the cache myst-nb reads."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
EXT_DIR = REPO_ROOT / "book" / "_ext"
sys.path.insert(0, str(EXT_DIR))

import parallel_execute  # noqa: E402


def test_toc_files_lists_every_page_of_the_book_in_order():
    files = parallel_execute.toc_files(REPO_ROOT)
    toc_text = (REPO_ROOT / "_toc.yml").read_text(encoding="utf-8")
    assert files[0] == REPO_ROOT / "book" / "00_introduction.md"
    # every `file:` entry of the table of contents that is a Markdown page, once each
    listed = [line.split("file:", 1)[1].strip() for line in toc_text.splitlines() if "file:" in line]
    assert [f.relative_to(REPO_ROOT).with_suffix("").as_posix() for f in files[1:]] == [
        name for name in listed if (REPO_ROOT / f"{name}.md").is_file()
    ]
    assert REPO_ROOT / "book" / "11_combining.md" in files


def test_toc_files_is_empty_without_a_table_of_contents(tmp_path):
    assert parallel_execute.toc_files(tmp_path) == []


def test_jobs_reads_the_environment(monkeypatch):
    monkeypatch.setenv("REGNORM_BOOK_JOBS", "3")
    assert parallel_execute.jobs() == 3
    monkeypatch.setenv("REGNORM_BOOK_JOBS", "0")
    with pytest.raises(ValueError, match="REGNORM_BOOK_JOBS"):
        parallel_execute.jobs()
    monkeypatch.delenv("REGNORM_BOOK_JOBS")
    assert parallel_execute.jobs() == len(os.sched_getaffinity(0))


def _page(title: str, code: str) -> str:
    header = textwrap.dedent(
        """\
        ---
        jupytext:
          text_representation:
            format_name: myst
        kernelspec:
          display_name: Python 3
          name: python3
        ---
        """
    )
    return f"{header}\n# {title}\n\n```{{code-cell}} ipython3\n{code}\n```\n"


@pytest.mark.slow
def test_pages_executed_in_parallel_are_served_from_the_cache_by_myst_nb(tmp_path):
    """The hash must match: otherwise myst-nb would execute every page a second time."""
    config = {
        "title": "t",
        "only_build_toc_files": True,
        "execute": {"execute_notebooks": "cache", "timeout": 60},
        "repository": {"url": "https://github.com/a-fork/course", "branch": "main"},
        "sphinx": {
            "local_extensions": {
                "project_paths": str(EXT_DIR),
                "repository_url": str(EXT_DIR),
                "parallel_execute": str(EXT_DIR),
            }
        },
    }
    (tmp_path / "_config.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: a\nchapters:\n  - file: b\n", encoding="utf-8")
    # the address token in a code cell: the parallel run must hash the substituted source, as myst-nb does
    (tmp_path / "a.md").write_text(_page("A", 'url = "{{ repository_url }}"\nprint(url)'), encoding="utf-8")
    (tmp_path / "b.md").write_text(_page("B", "print(sum(range(10)))"), encoding="utf-8")
    env = {**os.environ, "REGNORM_BOOK_JOBS": "2"}
    jb = Path(sys.executable).with_name("jupyter-book")
    run = subprocess.run(
        [str(jb), "build", str(tmp_path), "-v"], capture_output=True, text=True, env=env, timeout=600
    )
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-3000:]
    assert "parallel_execute: executing 2 chapters with 2 workers" in log
    assert log.count("Using cached notebook") == 2, log[-3000:]
    assert "Executing notebook using" not in log  # myst-nb ran nothing itself
    html = (tmp_path / "_build" / "html" / "a.html").read_text(encoding="utf-8")
    assert "https://github.com/a-fork/course" in html
