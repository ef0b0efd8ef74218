"""The repository's address in the book comes from ``_config.yml`` (``repository.url``), written once.

Pages write ``{{ repository_url }}`` where the address belongs (the chapters'
install cells, the students' ``git clone`` line, links to a module's full
source, with ``{{ repository_branch }}``). MyST substitutions do not
reach into code, so this extension replaces the token in every page's source
as Sphinx reads it (``source-read``), before myst-nb parses and executes it:
the rendered page, the executed notebook a reader downloads and, through
``colab_notebooks.py``, the Colab twins all carry the configured address.

Registered in ``_config.yml`` under ``sphinx: local_extensions``.
"""

from __future__ import annotations

from pathlib import Path

from sphinx.application import Sphinx

from regnorm_lab.booktools import fill_repository_url, repository

__all__ = ["setup"]


def _on_source_read(app: Sphinx, docname: str, source: list[str]) -> None:
    from project_paths import project_root  # a sibling extension in book/_ext

    root = project_root(Path(app.srcdir))
    repo = repository(root)
    source[0] = fill_repository_url(source[0], repo.url, repo.branch)


def setup(app: Sphinx) -> dict:
    """Replace ``{{ repository_url }}`` in each page before it is parsed."""
    app.connect("source-read", _on_source_read)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
