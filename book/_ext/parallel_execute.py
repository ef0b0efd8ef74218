"""Execute the book's stale chapters in parallel, into the same jupyter-cache myst-nb reads.

myst-nb (``execute_notebooks: cache``) executes each out-of-date notebook while
Sphinx reads it, one after the other, so a clean build of 20+ executed chapters
uses one core of the build machine. This extension runs at ``builder-inited``
(after ``regnorm_cache`` has chosen the cache folder and myst-nb has built its
configuration), finds the chapters whose code is not in the cache, executes them
in a pool of processes (one per core, or ``$REGNORM_BOOK_JOBS``), and stores each
executed notebook in the cache exactly as myst-nb's own cache client does
(``myst_nb/core/execute/cache.py``: ``add_nb_to_project`` + ``cache_notebook_bundle``).
When Sphinx then reads the pages, myst-nb finds every chapter in the cache.

The notebooks are read the way myst-nb reads them (its reader, after the
``source-read`` substitution of the repository address), so their jupyter-cache
hash is the one myst-nb looks up. A chapter whose execution fails is *not*
cached here: myst-nb then executes it again itself and reports the error with
its traceback, exactly as without this extension. Nothing here changes what a
page shows; only when it is computed.

Registered in ``_config.yml`` under ``sphinx: local_extensions``;
``REGNORM_BOOK_JOBS=1`` turns it off.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import yaml
from sphinx.application import Sphinx
from sphinx.util import logging

__all__ = ["toc_files", "stale_chapters", "jobs", "setup"]

LOGGER = logging.getLogger(__name__)


def toc_files(root: Path) -> list[Path]:
    """The ``.md`` sources that ``_toc.yml`` lists (root included), in table-of-contents order.

    Shape:
        A list of existing file paths below ``root``; empty when ``root`` has no ``_toc.yml``
        (a single-page build, ``jupyter-book build book/07_batch_norm.md``, has one page to run).
    """
    if not (root / "_toc.yml").is_file():
        return []
    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    names: list[str] = [toc["root"]]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "file" in node:
                names.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(toc.get("parts", toc.get("chapters", [])))
    paths = [root / f"{name}.md" for name in names]
    return [p for p in paths if p.is_file()]


def jobs() -> int:
    """How many chapters execute at once: ``$REGNORM_BOOK_JOBS``, else the number of usable cores."""
    configured = os.environ.get("REGNORM_BOOK_JOBS", "").strip()
    if configured:
        value = int(configured)
        if value < 1:
            raise ValueError(f"REGNORM_BOOK_JOBS must be a whole number >= 1, got {configured!r}")
        return value
    return max(1, len(os.sched_getaffinity(0)))


def _read_notebook(app: Sphinx, path: Path):
    """The notebook myst-nb would execute for ``path`` (None for a page that is not a notebook)."""
    from myst_nb.core.read import create_nb_reader
    from project_paths import project_root  # a sibling extension in book/_ext

    from regnorm_lab.booktools import fill_repository_url, repository

    text = path.read_text(encoding="utf-8")
    repo = repository(project_root(Path(app.srcdir)))
    text = fill_repository_url(text, repo.url, repo.branch)  # what repository_url.py does at source-read
    reader = create_nb_reader(str(path), app.env.myst_config, app.env.mystnb_config, text)
    if reader is None:
        return None, None
    return reader.read(text), reader.read_fmt


def stale_chapters(app: Sphinx, cache) -> list[tuple[Path, Any, Any, int]]:
    """Chapters of the table of contents whose notebook has no match in ``cache``.

    Returns:
        ``(path, notebook, read_fmt, timeout)`` per stale chapter, the likely longest first, so that
        no long chapter starts last: chapters that raise their per-cell timeout (the experiment-heavy
        ones do, in their ``mystnb`` front matter) before the others, then by source size.
    """
    nb_config = app.env.mystnb_config
    stale = []
    for path in toc_files(Path(app.srcdir)):
        notebook, read_fmt = _read_notebook(app, path)
        if notebook is None:
            continue
        try:
            cache.match_cache_notebook(notebook)
            continue
        except KeyError:
            pass
        overrides = dict(notebook.metadata.get(nb_config.metadata_key, {}) or {})
        timeout = overrides.get("execution_timeout", nb_config.execution_timeout)
        stale.append((path, notebook, read_fmt, timeout))
    stale.sort(key=lambda item: (item[3], item[0].stat().st_size), reverse=True)
    return stale


def _execute(notebook, cwd: str, timeout: int, allow_errors: bool):
    """Run one notebook in a worker process (jupyter-cache's own single-notebook runner)."""
    from jupyter_cache.executors.utils import single_nb_execution

    result = single_nb_execution(notebook, cwd=cwd, timeout=timeout, allow_errors=allow_errors, meta_override=True)
    return result.nb, result.time, (None if result.err is None else result.exc_string)


def _on_builder_inited(app: Sphinx) -> None:
    nb_config = getattr(app.env, "mystnb_config", None)
    if nb_config is None or nb_config.execution_mode != "cache" or jobs() < 2:
        return
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    cache = get_cache(nb_config.execution_cache_path or ".jupyter_cache")
    stale = stale_chapters(app, cache)
    if len(stale) < 2:
        return  # nothing to gain over myst-nb's own serial execution
    workers = min(jobs(), len(stale))
    LOGGER.info("parallel_execute: executing %d chapters with %d workers", len(stale), workers)
    start = time.perf_counter()
    # fork: the workers need nothing of Sphinx's state but the notebook they are given.
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = {
            pool.submit(_execute, nb, str(path.parent), timeout, nb_config.execution_allow_errors): (path, read_fmt)
            for path, nb, read_fmt, timeout in stale
        }
        for future in as_completed(futures):
            path, read_fmt = futures[future]
            executed, seconds, error = future.result()
            if error is not None:
                # Leave it to myst-nb, which executes it again and fails the build with the traceback.
                LOGGER.info("parallel_execute: %s failed; myst-nb will re-run it and report", path.name)
                continue
            record = cache.add_nb_to_project(str(path), read_data=read_fmt)
            cache.cache_notebook_bundle(
                CacheBundleIn(executed, record.uri, data={"execution_seconds": seconds}),
                check_validity=False,
                overwrite=True,
            )
            LOGGER.info("parallel_execute: %s executed in %.1f s", path.name, seconds)
    LOGGER.info("parallel_execute: all chapters executed in %.1f s wall", time.perf_counter() - start)


def setup(app: Sphinx) -> dict:
    """Run after myst-nb's and regnorm_cache's set-up (priority 900 > their default 500)."""
    app.connect("builder-inited", _on_builder_inited, priority=900)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
