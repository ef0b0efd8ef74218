"""Shared pytest fixtures for the regnorm-lab test suite."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture
def rng() -> np.random.Generator:
    """A fresh, seeded generator per test: tests never touch global seeds."""
    return np.random.default_rng(20261122)


@pytest.fixture(scope="session")
def repo_root() -> pathlib.Path:
    return REPO_ROOT
