"""Keep the browser console of every page free of errors.

Two errors appear on every page of a stock Jupyter Book 1 build with the
versions this course pins, and they would hide real ones (the browser test
demands an empty console):

- sphinx-thebe 0.3.1 registers its inline configuration script
  (``const THEBE_JS_URL = ...``) after the HTML builder has copied the script
  registry, so Sphinx 7 emits it twice and the second ``const`` throws
  "Identifier 'THEBE_JS_URL' has already been declared". Identical scripts are
  removed from each page's script list here (the first one is kept).
- pydata-sphinx-theme logs "Got invalid theme mode" when ``default_mode`` is
  not set; ``_config.yml`` sets ``html_context.default_mode`` for that.

Registered in ``_config.yml`` under ``sphinx: local_extensions``.
"""

from __future__ import annotations

from typing import Any

from sphinx.application import Sphinx

__all__ = ["dedupe_scripts", "setup"]


def _script_key(script: Any) -> tuple:
    """What makes two script entries the same: file name and all attributes, body included.

    An inline script is registered once with ``filename=None`` (the builder's copy) and once
    with ``filename=''`` (the registry's copy): both count as "no file".
    """
    filename = getattr(script, "filename", script) or None
    attributes = getattr(script, "attributes", {}) or {}
    return (None if filename is None else str(filename), tuple(sorted((k, str(v)) for k, v in attributes.items())))


def dedupe_scripts(scripts: list) -> list:
    """Drop repeated entries from a page's script list, keeping the first of each and the order.

    Shape:
        A list no longer than ``scripts``.
    """
    seen: set[tuple] = set()
    kept = []
    for script in scripts:
        key = _script_key(script)
        if key not in seen:
            seen.add(key)
            kept.append(script)
    return kept


def _on_html_page_context(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    if "script_files" in context:
        context["script_files"] = dedupe_scripts(context["script_files"])


def setup(app: Sphinx) -> dict:
    """Run after the other extensions have added their scripts (high priority number = late)."""
    app.connect("html-page-context", _on_html_page_context, priority=900)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
