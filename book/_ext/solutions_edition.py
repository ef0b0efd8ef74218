"""An edition of the book without the practice problems' solutions, switched by one variable.

sphinx-exercise drops every ``solution`` directive when its ``hide_solutions``
option is true. An instructor who grades the practice problems builds the
students' edition with::

    REGNORM_HIDE_SOLUTIONS=1 jupyter-book build . --all

and the ordinary build (variable unset, or ``0``) keeps the solutions. The
option is an environment variable rather than a second ``_config.yml`` so that
both editions come from the same configuration; ``hide_solutions`` rebuilds the
Sphinx environment when it changes, so switching needs no manual clean-up
(``--all`` only avoids reusing the other edition's HTML files).
"""

from __future__ import annotations

import os

__all__ = ["ENV_VAR", "hide_solutions_requested", "setup"]

#: The environment variable that asks for the edition without solutions.
ENV_VAR = "REGNORM_HIDE_SOLUTIONS"


def hide_solutions_requested(environ: dict[str, str] | None = None) -> bool:
    """True when ``REGNORM_HIDE_SOLUTIONS`` is set to something other than ``""``, ``0``, ``false`` or ``no``."""
    value = (os.environ if environ is None else environ).get(ENV_VAR, "").strip().lower()
    return value not in {"", "0", "false", "no"}


def _on_config_inited(app, config) -> None:
    if hide_solutions_requested():
        config.hide_solutions = True


def setup(app) -> dict:
    """Sphinx entry point: set sphinx-exercise's ``hide_solutions`` from the environment."""
    app.setup_extension("sphinx_exercise")  # the option belongs to it; load it first whatever the order
    app.connect("config-inited", _on_config_inited)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
