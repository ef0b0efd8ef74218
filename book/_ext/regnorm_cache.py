"""Key the book's jupyter-cache on the ``regnorm_lab`` sources.

jupyter-cache decides whether to re-execute a notebook from the text of its
code cells alone. The chapters import ``regnorm_lab``, so an edit to the
package (a bug fix, a changed default) would otherwise be served from the cache
as stale outputs. This Sphinx extension hashes every ``regnorm_lab/**/*.py``
file (relative path and bytes) and points ``nb_execution_cache_path`` at a
cache folder named after that hash: a package edit selects a fresh, empty cache;
a prose-only edit keeps the warm one.

Registered in ``_config.yml`` under ``sphinx: local_extensions``.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.util import logging

__all__ = ["package_hash", "cache_path_for", "find_package_dir", "PACKAGE_DIR_NAME", "KEEP_CACHES", "setup"]

LOGGER = logging.getLogger(__name__)

#: The package whose sources key the execution cache (a folder next to ``_config.yml``).
PACKAGE_DIR_NAME = "regnorm_lab"
#: How many package-keyed cache folders to keep per build folder (the newest by mtime):
#: switching between a few branches stays fast, yet old caches do not pile up forever.
KEEP_CACHES = 4


def package_hash(package_dir: Path) -> str:
    """Hash the Python sources of a package: relative paths and file bytes.

    Args:
        package_dir: the package folder, e.g. ``<repo>/regnorm_lab``.

    Returns:
        The SHA-256 hex digest over every ``**/*.py`` file below ``package_dir``,
        taken in sorted path order so that it does not depend on the file system's
        listing order. Renaming a file changes it as well as editing one.

    Shape:
        A 64-character lowercase hexadecimal string.

    Raises:
        ValueError: if ``package_dir`` is not a folder.
    """
    package_dir = Path(package_dir)
    if not package_dir.is_dir():
        raise ValueError(f"package_dir must be an existing folder, got {str(package_dir)!r}")
    digest = hashlib.sha256()
    files = sorted(
        (p for p in package_dir.rglob("*.py") if "__pycache__" not in p.parts),
        key=lambda p: p.relative_to(package_dir).as_posix(),
    )
    for path in files:
        rel = path.relative_to(package_dir).as_posix().encode()
        data = path.read_bytes()
        # Length prefixes keep (path, bytes) pairs unambiguous: "a.py"+"xb" never equals "a.pyx"+"b".
        digest.update(len(rel).to_bytes(8, "big") + rel)
        digest.update(len(data).to_bytes(8, "big") + data)
    return digest.hexdigest()


def cache_path_for(base: Path, package_dir: Path) -> Path:
    """The execution-cache folder for the current package sources.

    Args:
        base: the folder holding every cache (``<build>/.jupyter_cache`` by default).
        package_dir: the package whose sources key the cache.

    Returns:
        ``base / <first 16 hex digits of package_hash(package_dir)>``.

    Shape:
        A path one level below ``base``.
    """
    return Path(base) / package_hash(package_dir)[:16]


def _prune_old_caches(base: Path, keep: Path) -> None:
    """Remove all but the newest ``KEEP_CACHES`` sibling cache folders (never ``keep``)."""
    if not base.is_dir():
        return
    siblings = sorted(
        (p for p in base.iterdir() if p.is_dir() and p != keep and len(p.name) == 16),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    for old in siblings[KEEP_CACHES - 1 :]:
        shutil.rmtree(old, ignore_errors=True)


def find_package_dir(start: Path) -> Path | None:
    """The ``regnorm_lab`` folder next to ``start`` or next to one of its parents.

    A whole-book build starts from the repository root; a single-page build
    (``jupyter-book build book/NN_topic.md``) from ``book/``.

    Shape:
        A folder path, or None when there is none.
    """
    start = Path(start).resolve()
    for folder in (start, *start.parents):
        if (folder / PACKAGE_DIR_NAME / "__init__.py").is_file():
            return folder / PACKAGE_DIR_NAME
    return None


def _on_config_inited(app: Sphinx, config: Config) -> None:
    package_dir = find_package_dir(Path(app.confdir))
    if package_dir is None:
        LOGGER.info("regnorm_cache: no %s folder next to the config; cache path left alone", PACKAGE_DIR_NAME)
        return
    # myst-nb's own default is <outdir>/../.jupyter_cache (so it follows --path-output); a path set
    # in _config.yml (execute.cache) becomes the base instead. Either way the package hash is appended.
    configured = config.nb_execution_cache_path
    base = Path(configured) if configured else Path(app.outdir).parent / ".jupyter_cache"
    if not base.is_absolute():
        base = Path(app.confdir) / base
    path = cache_path_for(base, package_dir)
    path.mkdir(parents=True, exist_ok=True)
    path.touch()  # mtime marks it as the most recently used cache for pruning
    _prune_old_caches(base, keep=path)
    config.nb_execution_cache_path = str(path)
    LOGGER.info("regnorm_cache: execution cache keyed on %s sources: %s", PACKAGE_DIR_NAME, path)


def setup(app: Sphinx) -> dict:
    """Register the config hook; myst-nb reads the value later, at ``builder-inited``."""
    app.connect("config-inited", _on_config_inited)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
