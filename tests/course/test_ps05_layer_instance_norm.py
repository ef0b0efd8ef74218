"""ps05_layer_instance_norm through the real nbgrader pipeline: planted submissions, autograde, feedback.

The standard variants: the instructor's solution (full marks), the untouched release
(0), one single-mistake answer per function (loses only that behaviour's cells:
an ignored ``eps``, a backward pass that forgets the variance term, an in-place
instance norm, strided instead of consecutive channel groups) and answers that
delegate to torch or ``regnorm_lab`` (no points, and the feedback says why).
"""

from __future__ import annotations

import pytest

from . import harness as H

pytestmark = pytest.mark.slow
A = "ps05_layer_instance_norm"
SPEC = H.spec(H.EXERCISES, A)
SOLUTION = H.solution_answers(H.EXERCISES, A)
OWNER = H.test_cells_of(H.EXERCISES, A)
MAX = H.autograded_max(SPEC)
VARIANTS = H.standard_variants(SPEC, SOLUTION)


def test_every_contract_function_has_an_answer_cell_a_mistake_and_a_shortcut() -> None:
    functions = ["layernorm_forward", "layernorm_backward", "instancenorm_forward", "groupnorm_forward"]
    assert H.functions_of(H.EXERCISES, A) == functions
    assert sorted(SPEC.MISTAKES) == sorted(SPEC.SHORTCUTS) == sorted(functions)
    assert set(OWNER.values()) == set(functions)


class TestPs05(H.standard_suite(A, max_points=22.0, variants=VARIANTS, timeout=60)):
    """The standard tests (H.standard_suite) and ps05's own."""

    def test_delegating_answers_earn_nothing_and_feedback_says_why(self, graded: H.Graded) -> None:
        super().test_delegating_answers_earn_nothing_and_feedback_says_why(graded)
        text = graded.feedback_text("shortcuts")
        # each one hides the call differently: getattr at run time, a module object, a layer, the reference
        assert "layernorm_forward calls torch.layer_norm: write it yourself" in text
        # decided from the source: the routine the answer names (nn.InstanceNorm2d runs F.instance_norm)
        assert "instancenorm_forward calls torch.nn.InstanceNorm2d: write it yourself" in text
        assert "groupnorm_forward calls torch.nn.GroupNorm: write it yourself" in text
        assert "layernorm_backward calls regnorm_lab" in text
        assert graded.score("shortcuts") == (0.0, MAX)

    def test_a_failed_cell_shows_our_message_and_its_behaviour_not_the_hidden_code(self, graded: H.Graded) -> None:
        # strided groups already fail the visible 2-group example: its worded message is shown,
        # and the cell's hidden part is replaced by the behaviour's name
        text = graded.feedback_text("mistake_groupnorm_forward")
        assert "groupnorm_forward with 2 groups on a (2, 4, 2, 3) input" in text
        assert "(hidden test: groupnorm_forward normalises each group of consecutive channels, then applies gamma and beta per channel)" in text

    def test_hidden_tests_stay_hidden(self, graded: H.Graded) -> None:
        super().test_hidden_tests_stay_hidden(graded)
        H.check_feedback_for_all(graded, VARIANTS)
