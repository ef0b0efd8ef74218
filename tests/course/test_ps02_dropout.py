"""ps02_dropout through the real nbgrader pipeline: solution, blank, single mistakes, delegating answers."""

from __future__ import annotations

import pytest

from . import harness as H

pytestmark = pytest.mark.slow
A = "ps02_dropout"
SPEC = H.spec(H.EXERCISES, A)
SOLUTION = H.solution_answers(H.EXERCISES, A)
OWNER = H.test_cells_of(H.EXERCISES, A)


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> H.Graded:
    return H.grade_variants(tmp_path_factory.mktemp(A), A, H.standard_variants(SPEC, SOLUTION), timeout=30)


def test_solution_full_marks_and_blank_zero(graded: H.Graded) -> None:
    H.check_full_marks(graded, "solution")
    H.check_zero(graded, "blank")


@pytest.mark.parametrize("fn", sorted(SPEC.MISTAKES))
def test_a_single_mistake_loses_only_that_behaviour(graded: H.Graded, fn: str) -> None:
    H.check_mistake(graded, fn, SPEC.MISTAKES[fn][1])


def test_delegating_answers_earn_nothing_and_feedback_says_why(graded: H.Graded) -> None:
    H.check_shortcuts(graded, SPEC.SHORTCUTS, OWNER)


def test_hidden_tests_stay_hidden(graded: H.Graded) -> None:
    H.check_no_hidden_leak(graded)
