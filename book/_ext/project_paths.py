"""Resolve the book's paths from the project root, also in single-page builds.

``jupyter-book build book/07_batch_norm.md`` makes ``book/`` the Sphinx source
and configuration folder while still reading the repository's ``_config.yml``,
so every path in that file that is relative to the repository root
(``bibtex_bibfiles: [book/references.bib]``) resolves to
``book/book/references.bib`` and the page's citations are lost. This extension
finds the project root (the nearest folder at or above the source folder that
holds ``_config.yml``) and rewrites such paths so that both whole-book and
single-page builds find them.

Registered in ``_config.yml`` under ``sphinx: local_extensions``.
"""

from __future__ import annotations

from pathlib import Path

from sphinx.application import Sphinx
from sphinx.config import Config

__all__ = ["project_root", "resolve_bibfiles", "setup"]


def project_root(start: Path) -> Path | None:
    """The nearest folder at or above ``start`` that contains ``_config.yml`` (None if there is none).

    Shape:
        A folder path, or None.
    """
    start = Path(start).resolve()
    for folder in (start, *start.parents):
        if (folder / "_config.yml").is_file():
            return folder
    return None


def resolve_bibfiles(bibfiles: list[str], srcdir: Path, root: Path | None) -> list[str]:
    """Keep each bib file that exists relative to ``srcdir``; make the others absolute from ``root``.

    sphinxcontrib-bibtex joins each entry to the source folder, and ``os.path.join``
    keeps an absolute second part, so an absolute path works in every build.
    """
    resolved = []
    for bibfile in bibfiles:
        if (Path(srcdir) / bibfile).is_file() or root is None or not (root / bibfile).is_file():
            resolved.append(bibfile)
        else:
            resolved.append(str((root / bibfile).resolve()))
    return resolved


def _on_config_inited(app: Sphinx, config: Config) -> None:
    if "bibtex_bibfiles" in config:
        config.bibtex_bibfiles = resolve_bibfiles(
            list(config.bibtex_bibfiles), Path(app.srcdir), project_root(Path(app.srcdir))
        )


def setup(app: Sphinx) -> dict:
    """Run before sphinxcontrib-bibtex reads the bib files (it does so at builder-inited)."""
    app.connect("config-inited", _on_config_inited)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
