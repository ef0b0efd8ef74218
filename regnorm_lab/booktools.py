"""Small helpers the book's chapters and the course's authoring scripts share.

``glue`` lets each chapter also run outside the book build; ``repository``,
``fill_repository_url`` and ``book_url`` make the repository's address come
from the one place that holds it, ``repository.url`` in ``_config.yml``
(forking the course means editing that line).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

__all__ = [
    "glue",
    "Repository",
    "REPOSITORY_URL_TOKEN",
    "REPOSITORY_BRANCH_TOKEN",
    "repository",
    "fill_repository_url",
    "book_url",
]

#: The folder that holds ``_config.yml`` (the repository root) in a development install.
PROJECT_ROOT = Path(__file__).resolve().parents[1]

#: What sources write where the repository's address belongs; the book build
#: (``book/_ext/repository_url.py``) and the Colab twins replace it.
REPOSITORY_URL_TOKEN = "{{ repository_url }}"
REPOSITORY_BRANCH_TOKEN = "{{ repository_branch }}"


class Repository(NamedTuple):
    """Where the course lives: ``url`` (no trailing slash) and ``branch``."""

    url: str
    branch: str


def glue(name: str, value: Any, display: bool = True) -> None:
    """``myst_nb.glue`` in the book build; on Colab or plain Jupyter, where myst-nb is absent, show the value by name.

    Chapters glue measured numbers into their prose. Readers who open a chapter
    on Colab have no myst-nb (the course package does not need it), and the
    chapter's Colab twin writes each glued number of the text as **[name]**
    (``book/_ext/colab_notebooks.py``). So there the value is printed as
    ``[name] = value`` where it is computed, and an object glued for display (a
    figure, a table) is shown under its ``[name]`` label.

    Args:
        name: The key the chapter's text refers to (``{glue:}`name```).
        value: The object to store (a number, a string, a figure...).
        display: Whether to also show the value where the call is made.
    """
    try:
        from myst_nb import glue as _myst_glue
    except ImportError:
        if not display:
            print(f"[{name}] = {value}")
            return
        from IPython.display import display as _show

        print(f"[{name}]")
        _show(value)
        return
    _myst_glue(name, value, display=display)


def repository(root: str | Path | None = None) -> Repository:
    """The ``repository`` section of ``<root>/_config.yml`` (``root`` defaults to the repository root).

    Raises:
        FileNotFoundError: if there is no ``_config.yml`` (an installed package, not a checkout).
        ValueError: if the file has no ``repository.url``.
    """
    import yaml  # only the book and the authoring scripts need it, both in a checkout

    path = Path(PROJECT_ROOT if root is None else root) / "_config.yml"
    if not path.is_file():
        raise FileNotFoundError(f"root: no _config.yml at {path}; the repository address lives there")
    section = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("repository") or {}
    url = str(section.get("url") or "").rstrip("/")
    if not url:
        raise ValueError(f"root: {path} has no repository.url")
    return Repository(url, str(section.get("branch") or "main"))


def fill_repository_url(text: str, url: str, branch: str = "main") -> str:
    """``text`` with every ``{{ repository_url }}`` replaced by ``url`` and ``{{ repository_branch }}`` by ``branch``.

    Chapters link to a module's full source as
    ``{{ repository_url }}/blob/{{ repository_branch }}/regnorm_lab/batch_norm.py``.
    """
    return text.replace(REPOSITORY_URL_TOKEN, url.rstrip("/")).replace(REPOSITORY_BRANCH_TOKEN, branch)


def book_url(page: str, root: str | Path | None = None) -> str:
    """The address of a book source on the repository, e.g. ``book_url("07_batch_norm.md")``."""
    repo = repository(root)
    return f"{repo.url}/blob/{repo.branch}/book/{page}"
