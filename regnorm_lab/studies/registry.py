"""The named studies that ``python -m regnorm_lab.studies`` lists and runs.

A study is a function ``fn(draws, seeds, *, scheduler=None, progress=True) ->
StudyResult``; the book page that reports it calls the same function with the
default draws and seeds, so what a reader re-runs is what the page shows.

Adding a study (for instance one of the claims ledger's), in its own module::

    from regnorm_lab.studies.registry import StudyResult, register_study

    def my_study(draws, seeds, *, scheduler=None, progress=True) -> StudyResult:
        table = run_design(...)              # or any code that trains the runs
        claims = [Claim(...), ...]           # analysis.Claim, one per verdict
        return StudyResult("my_study", list(draws), seeds, table, claims)

    register_study("my_study", my_study, default_draws=range(5), default_seeds=5,
                   description="one line for `list`")

and add the module's import path to :data:`STUDY_MODULES` below, so that the
command line imports it (and with it its ``register_study`` call).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from .analysis import Claim

__all__ = ["StudyResult", "Study", "register_study", "get_study", "study_names", "STUDY_MODULES"]

#: Modules that register studies when imported (the command line imports each).
STUDY_MODULES: list[str] = ["regnorm_lab.studies.seed003", "regnorm_lab.studies.claims_studies"]


@dataclass
class StudyResult:
    """What a study returns: its runs (tidy table), its verdicts, and anything the page plots.

    Attributes:
        study: the registered name.
        draws: the data draws used.
        seeds: training seeds per cell and draw.
        table: one row per training run.
        claims: the verdict table.
        extra: named intermediate results a page shows (effects, summaries).
    """

    study: str
    draws: list[int]
    seeds: int
    table: pd.DataFrame
    claims: list[Claim]
    extra: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict:
        """``{"study", "draws", "seeds", "claims": [...]}``, as ``run --json`` writes it."""
        return {
            "study": self.study,
            "draws": [int(d) for d in self.draws],
            "seeds": int(self.seeds),
            "claims": [c.as_dict() for c in self.claims],
        }

    def verdict_table(self) -> pd.DataFrame:
        """The claims as a table (one row per claim)."""
        return pd.DataFrame([c.as_dict() for c in self.claims])


@dataclass
class Study:
    """A registered study: its function and default design."""

    name: str
    fn: Callable[..., StudyResult]
    default_draws: list[int]
    default_seeds: int
    description: str


_STUDIES: dict[str, Study] = {}


def register_study(
    name: str,
    fn: Callable[..., StudyResult],
    *,
    default_draws: Iterable[int],
    default_seeds: int,
    description: str,
) -> Study:
    """Register ``fn`` under ``name`` (re-registering the same name replaces it).

    Raises:
        ValueError: empty ``name``, no default draws, or ``default_seeds`` below 1.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    draws = [int(d) for d in default_draws]
    if not draws:
        raise ValueError("default_draws must hold at least one draw")
    if isinstance(default_seeds, bool) or not isinstance(default_seeds, int) or default_seeds < 1:
        raise ValueError(f"default_seeds must be an integer >= 1, got {default_seeds!r}")
    study = Study(name, fn, draws, default_seeds, description)
    _STUDIES[name] = study
    return study


def _load() -> None:
    for module in STUDY_MODULES:
        importlib.import_module(module)


def study_names() -> list[str]:
    """Names of every registered study, sorted."""
    _load()
    return sorted(_STUDIES)


def get_study(name: str) -> Study:
    """The study registered under ``name``.

    Raises:
        ValueError: no such study (the message lists the known ones).
    """
    _load()
    if name not in _STUDIES:
        raise ValueError(f"name: no study {name!r}; known: {sorted(_STUDIES)}")
    return _STUDIES[name]


def run_study(name: str, draws: Sequence[int] | None = None, seeds: int | None = None, **kwargs: Any) -> StudyResult:
    """Run study ``name`` with its default draws/seeds unless given (what the CLI and the book call)."""
    study = get_study(name)
    return study.fn(list(study.default_draws if draws is None else draws),
                    study.default_seeds if seeds is None else seeds, **kwargs)


__all__.append("run_study")
