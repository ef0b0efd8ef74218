"""Small helpers the book's chapters share, so each chapter also runs outside the book build."""

from __future__ import annotations

from typing import Any

__all__ = ["glue"]


def glue(name: str, value: Any, display: bool = True) -> None:
    """``myst_nb.glue`` in the book build; on Colab or plain Jupyter, where myst-nb is absent, show the value.

    Chapters glue measured numbers into their prose. Readers who open a chapter
    on Colab have no myst-nb (the course package does not need it), so there the
    value is displayed like a cell result instead, unless ``display`` is False.

    Args:
        name: The key the chapter's text refers to (``{glue:}`name```).
        value: The object to store (a number, a string, a figure...).
        display: Whether to also show the value where the call is made.

    Shape:
        n/a (any object).
    """
    try:
        from myst_nb import glue as _myst_glue
    except ImportError:
        if display:
            from IPython.display import display as _show

            _show(value)
        return
    _myst_glue(name, value, display=display)
