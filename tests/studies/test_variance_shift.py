"""Variance shift at the second batch norm of two stacked blocks: theory (1 - p) and Li et al.'s fixes."""

from __future__ import annotations

import pytest
import torch

from regnorm_lab.studies.variance_shift import Uout, stacked_variance_shift


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # tiny tensors: with two threads on a shared machine OpenMP's spinning costs 20x the work
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _shift(p: float, arrangement: str) -> float:
    return stacked_variance_shift(p, arrangement, n_batches=100, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_stacked_bn_dropout_shifts_by_one_minus_p(p: float) -> None:
    # BN1's output has mean ~0 per unit, so inverted dropout multiplies its variance by 1/(1-p) in training
    # only; the second Linear passes that on, and BN2 then divides eval inputs by a variance 1/(1-p) too large.
    assert _shift(p, "bn->dropout x2") == pytest.approx(1 - p, abs=0.05)


def test_the_fixes_remove_most_of_the_shift() -> None:
    after_last = [_shift(p, "dropout after last bn") for p in (0.2, 0.5)]
    assert after_last == pytest.approx([1.0, 1.0], abs=0.05)
    assert _shift(0.5, "bn->uout x2") == pytest.approx(1.0, abs=0.05)
    assert _shift(0.5, "bn->uout x2") > _shift(0.5, "bn->dropout x2") + 0.3


def test_uout_is_identity_in_eval_and_bad_input_raises() -> None:
    u = Uout(0.1, generator=torch.Generator().manual_seed(0)).eval()
    x = torch.randn(4, 3)
    assert torch.equal(u(x), x)
    with pytest.raises(ValueError, match="beta"):
        Uout(1.5, generator=torch.Generator())
    with pytest.raises(ValueError, match="arrangement"):
        stacked_variance_shift(0.1, "dropout first", generator=torch.Generator())
