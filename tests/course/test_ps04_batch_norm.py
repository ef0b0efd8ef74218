"""ps04_batch_norm through the real nbgrader pipeline: planted submissions, autograde, feedback.

Besides the standard variants (solution, blank, one mistake per function, the
delegating shortcuts) this plants answers that show the ps04-specific rules: the
backward tests accept any cache layout, an in-place running-statistics update
loses only the no-in-place points, and a failure found only by a hidden check is
named in words in the feedback without its code.
"""

from __future__ import annotations

import pytest

from . import harness as H

pytestmark = pytest.mark.slow
A = "ps04_batch_norm"
SPEC = H.spec(H.EXERCISES, A)
SOLUTION = H.solution_answers(H.EXERCISES, A)
MAX = H.autograded_max(SPEC)

# A correct pair with a completely different cache: a tuple holding the raw input.
OTHER_CACHE_FORWARD = '''
def batchnorm_forward(x, gamma, beta, running_mean, running_var, training=True, momentum=0.1, eps=1e-5):
    if eps <= 0:
        raise ValueError("eps must be positive")
    if momentum < 0 or momentum > 1:
        raise ValueError("momentum must lie in [0, 1]")
    x = np.array(x, dtype=float)
    n = len(x)
    if training and n == 1:
        raise ValueError("x: batch norm needs N > 1 when training")
    if training:
        mu = np.sum(x, axis=0) / n
        var = np.sum((x - mu) ** 2, axis=0) / n
        rm = momentum * mu + (1 - momentum) * np.asarray(running_mean)
        rv = momentum * var * n / (n - 1) + (1 - momentum) * np.asarray(running_var)
    else:
        mu, var = np.asarray(running_mean), np.asarray(running_var)
        rm, rv = np.array(running_mean, dtype=float), np.array(running_var, dtype=float)
    out = (x - mu) / np.sqrt(var + eps) * gamma + beta
    return out, (x, np.array(gamma, dtype=float), eps), rm, rv
'''
OTHER_CACHE_BACKWARD = '''
def batchnorm_backward(dout, cache):
    x, gamma, eps = cache
    n = x.shape[0]
    mu = x.mean(axis=0)
    xc = x - mu
    var = (xc ** 2).mean(axis=0)
    std = np.sqrt(var + eps)
    x_hat = xc / std
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=0)
    dx_hat = dout * gamma
    dvar = np.sum(dx_hat * xc, axis=0) * -0.5 * std ** -3
    dmu = -np.sum(dx_hat / std, axis=0) - 2.0 * dvar * xc.mean(axis=0)
    dx = dx_hat / std + dvar * 2.0 * xc / n + dmu / n
    return dx, dgamma, dbeta
'''
# Two slips a visible check does not see, in one answer (one notebook less to grade):
# it updates the caller's running mean in place, and it refuses N == 1 in evaluation
# mode too (only a hidden check, N=1 when not training, finds that).
SLIPS = (
    SOLUTION["batchnorm_forward"]
    .replace(
        "new_running_mean = (1 - momentum) * running_mean + momentum * mean",
        "running_mean *= 1 - momentum\n        running_mean += momentum * mean\n        new_running_mean = running_mean",
    )
    .replace("    running_mean = np.asarray(running_mean, dtype=np.float64)\n", "")
    .replace("if training:\n        if n < 2:", "if n < 2:\n        raise ValueError(f'x must have N >= 2, got N={n}')\n    if training:\n        if n < 2:", 1)
)

VARIANTS = {
    **H.standard_variants(SPEC, SOLUTION),
    "other_cache": {"answers": {**SOLUTION, "batchnorm_forward": OTHER_CACHE_FORWARD, "batchnorm_backward": OTHER_CACHE_BACKWARD}},
    "slips": {"answers": {**SOLUTION, "batchnorm_forward": SLIPS}},
}


def test_variants_are_what_they_claim() -> None:
    assert "running_mean *= 1 - momentum" in SLIPS and "running_mean = np.asarray" not in SLIPS
    assert SLIPS.count("if n < 2:") == 2


class TestPs04(H.standard_suite(A, max_points=19.0, variants=VARIANTS, timeout=60)):
    """The standard tests (H.standard_suite) and ps04's own."""

    def test_delegating_answers_earn_nothing_and_feedback_says_why(self, graded: H.Graded) -> None:
        super().test_delegating_answers_earn_nothing_and_feedback_says_why(graded)
        text = graded.feedback_text("shortcuts")
        assert "batchnorm_forward calls torch.nn.functional.batch_norm: write it yourself" in text
        assert "batchnorm_backward calls regnorm_lab" in text
        assert graded.score("shortcuts") == (0.0, MAX)

    def test_every_variant_is_graded(self, graded: H.Graded) -> None:
        H.check_all_graded(graded, VARIANTS)

    def test_backward_is_graded_on_the_students_own_cache(self, graded: H.Graded) -> None:
        H.check_full_marks(graded, "other_cache")

    def test_slips_lose_only_their_behaviours_and_hidden_failures_are_named_without_code(self, graded: H.Graded) -> None:
        cells = graded.cells("slips")
        assert {k for k, (s, m) in cells.items() if s < m} == {"test_batchnorm_forward_no_inplace", "test_batchnorm_forward_eval"}
        text = graded.feedback_text("slips")
        assert "modified its argument 4 in place" in text
        behaviour = "batchnorm_forward in evaluation mode normalises with the running statistics and returns them unchanged"
        assert f"(hidden test: {behaviour})" in text
        after = text.split(f"(hidden test: {behaviour})", 1)[1][:600]
        assert "ValueError" in after and "Traceback" not in after and "_torch" not in after

    def test_hidden_tests_stay_hidden(self, graded: H.Graded) -> None:
        super().test_hidden_tests_stay_hidden(graded)
        H.check_feedback_for_all(graded, VARIANTS)
