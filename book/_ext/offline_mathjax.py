"""Serve MathJax 3 from the built book instead of a CDN.

Sphinx loads MathJax from jsDelivr by default, so the equations of a book read
offline (a classroom without internet, the CI machine) never render. The
PyPI package ``django-static-mathjax`` ships the MathJax 3 distribution as
plain files (it needs nothing from Django); this extension copies the parts the
``tex-chtml`` component loads into ``<html>/_static/mathjax/`` and points
``mathjax_path`` at it, so every page works from the file system or any
static server.

Registered in ``_config.yml`` under ``sphinx: local_extensions``.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.errors import ExtensionError
from sphinx.util import logging

__all__ = ["mathjax_dist", "MATHJAX_ENTRY", "COPY_ITEMS", "setup"]

LOGGER = logging.getLogger(__name__)

#: The MathJax component the book loads: TeX input, CommonHTML output (what Sphinx's default
#: tex-mml-chtml does, minus MathML input, which no chapter uses).
MATHJAX_ENTRY = "tex-chtml.js"
#: What tex-chtml.js fetches lazily: TeX extensions (autoload, e.g. \boldsymbol), the CHTML fonts,
#: the context menu and its accessibility modules (which pull in the speech rule engine, sre).
COPY_ITEMS = (MATHJAX_ENTRY, "input", "output/chtml", "ui", "a11y", "sre", "adaptors")


def mathjax_dist() -> Path:
    """The folder of MathJax 3's browser build (``es5``) inside the installed package.

    Returns:
        ``<site-packages>/mathjax/static/mathjax/es5``.

    Shape:
        A path to a folder that contains ``tex-chtml.js``.

    Raises:
        ExtensionError: if ``django-static-mathjax`` is not installed (the message says how to fix it).
    """
    spec = importlib.util.find_spec("mathjax")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        dist = Path(location) / "static" / "mathjax" / "es5"
        if (dist / MATHJAX_ENTRY).is_file():
            return dist
    raise ExtensionError(
        "offline_mathjax: MathJax 3 files not found; install them with "
        "`.venv/bin/pip install -r requirements.txt` (package django-static-mathjax)"
    )


def _on_config_inited(app: Sphinx, config: Config) -> None:
    mathjax_dist()  # fail early, before hours of notebook execution, if the files are missing
    # A relative mathjax_path is resolved against the HTML's _static folder by sphinx.ext.mathjax.
    config.mathjax_path = f"mathjax/{MATHJAX_ENTRY}"


def _on_builder_inited(app: Sphinx) -> None:
    if app.builder.format != "html":
        return
    dist = mathjax_dist()
    target = Path(app.outdir) / "_static" / "mathjax"
    marker = target / ".copied-from"
    if marker.is_file() and marker.read_text() == str(dist):
        return  # already in place: keeps incremental rebuilds fast
    for item in COPY_ITEMS:
        src, dst = dist / item, target / item
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, dirs_exist_ok=True)
        else:
            shutil.copy2(src, dst)
    license_file = dist.parent / "LICENSE"
    if license_file.is_file():
        shutil.copy2(license_file, target / "LICENSE")
    marker.write_text(str(dist))
    LOGGER.info("offline_mathjax: copied MathJax 3 into %s", target)


def setup(app: Sphinx) -> dict:
    """Register the hooks (after sphinx.ext.mathjax so the path set here is the one used)."""
    app.setup_extension("sphinx.ext.mathjax")
    app.connect("config-inited", _on_config_inited)
    app.connect("builder-inited", _on_builder_inited)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
