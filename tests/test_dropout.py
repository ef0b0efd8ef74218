"""Tests for regnorm_lab.dropout (ps02): statistics of the mask, edge cases, gradients, torch module."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays
from torch import nn

from regnorm_lab.dropout import Dropout, dropout_backward, dropout_forward
from regnorm_lab.gradcheck import numerical_gradient_array, rel_error

PS = [0.1, 0.3, 0.5, 0.8]


# --- numpy forward: statistics ---------------------------------------------------------------------


@pytest.mark.parametrize("p", PS)
def test_kept_fraction_is_within_a_binomial_bound(p):
    n = 200_000
    _, mask = dropout_forward(np.ones(n), p, rng=np.random.default_rng(1))
    se = np.sqrt(p * (1 - p) / n)
    assert abs(mask.mean() - (1 - p)) < 5 * se


@pytest.mark.parametrize("p", PS)
def test_mean_is_preserved_within_a_clt_bound(p):
    n = 200_000
    x = np.random.default_rng(2).uniform(0.5, 1.5, size=n)
    out, _ = dropout_forward(x, p, rng=np.random.default_rng(3))
    # out_i - x_i has mean 0 and variance x_i**2 * p / (1 - p).
    se = np.sqrt(np.sum(x**2) * p / (1 - p)) / n
    assert abs(out.mean() - x.mean()) < 5 * se


@pytest.mark.parametrize("p", PS)
def test_kept_units_are_scaled_and_dropped_units_are_zero(p, rng):
    x = rng.normal(size=(30, 40))
    out, mask = dropout_forward(x, p, rng=rng)
    assert mask.dtype == np.bool_ and mask.shape == x.shape
    assert out.shape == x.shape
    np.testing.assert_allclose(out[mask], x[mask] / (1 - p), rtol=1e-12)
    np.testing.assert_array_equal(out[~mask], 0.0)
    assert 0 < mask.sum() < mask.size  # both outcomes occur


def test_same_seed_same_mask_different_seed_different_mask():
    x = np.ones((50, 50))
    _, m1 = dropout_forward(x, 0.5, rng=np.random.default_rng(7))
    _, m2 = dropout_forward(x, 0.5, rng=np.random.default_rng(7))
    _, m3 = dropout_forward(x, 0.5, rng=np.random.default_rng(8))
    np.testing.assert_array_equal(m1, m2)
    assert np.any(m1 != m3)


def test_rng_none_draws_a_fresh_mask():
    x = np.ones((40, 40))
    out, mask = dropout_forward(x, 0.5)
    assert mask.shape == x.shape and 0 < mask.sum() < mask.size
    np.testing.assert_allclose(out, 2.0 * mask)


# --- numpy forward: edge cases ---------------------------------------------------------------------


@pytest.mark.parametrize(("p", "training"), [(0.0, True), (0.5, False), (1.0, False), (0.0, False)])
def test_identity_cases(p, training, rng):
    x = rng.normal(size=(4, 5))
    out, mask = dropout_forward(x, p, training=training, rng=rng)
    np.testing.assert_array_equal(out, x)
    assert mask.dtype == np.bool_ and mask.shape == x.shape and mask.all()
    assert not np.shares_memory(out, x)


def test_p_one_drops_everything(rng):
    x = rng.normal(size=(3, 4))
    out, mask = dropout_forward(x, 1.0, rng=rng)
    np.testing.assert_array_equal(out, np.zeros_like(x))
    assert mask.dtype == np.bool_ and mask.shape == x.shape and not mask.any()


def test_float32_stays_float32_and_zero_d_works(rng):
    out, mask = dropout_forward(np.ones(10, dtype=np.float32), 0.5, rng=rng)
    assert out.dtype == np.float32
    out0, mask0 = dropout_forward(np.array(3.0), 0.5, rng=rng)
    assert isinstance(out0, np.ndarray) and out0.shape == () and mask0.shape == ()
    assert float(out0) in (0.0, 6.0)


def test_forward_does_not_modify_input(rng):
    x = rng.normal(size=(6, 7))
    before = x.copy()
    out, _ = dropout_forward(x, 0.4, rng=rng)
    np.testing.assert_array_equal(x, before)
    assert not np.shares_memory(out, x)


# --- numpy backward --------------------------------------------------------------------------------


@pytest.mark.parametrize("p", [0.0, 0.25, 0.6])
def test_backward_matches_numerical_gradient_for_a_fixed_mask(p, rng):
    x = rng.normal(size=(5, 6))
    dout = rng.normal(size=(5, 6))
    # Re-seeding inside f fixes the mask, so f is the (linear) map x -> dropout(x) for that mask.
    def f(z):
        return dropout_forward(z, p, rng=np.random.default_rng(11))[0]

    _, mask = dropout_forward(x, p, rng=np.random.default_rng(11))
    num = numerical_gradient_array(f, x, dout)
    assert rel_error(dropout_backward(dout, mask, p), num) < 1e-7


def test_backward_matches_torch_autograd(rng):
    p = 0.3
    x = rng.normal(size=(8, 3))
    dout = rng.normal(size=(8, 3))
    _, mask = dropout_forward(x, p, rng=rng)
    xt = torch.tensor(x, requires_grad=True)
    # The numpy forward as a torch expression for this mask; autograd supplies the reference gradient.
    (xt * torch.tensor(mask) / (1 - p)).backward(torch.tensor(dout))
    np.testing.assert_allclose(dropout_backward(dout, mask, p), xt.grad.numpy(), rtol=1e-12)


def test_backward_edge_cases(rng):
    dout = rng.normal(size=(3, 3))
    np.testing.assert_array_equal(dropout_backward(dout, np.zeros((3, 3), bool), 1.0), np.zeros((3, 3)))
    np.testing.assert_array_equal(dropout_backward(dout, np.ones((3, 3), bool), 0.0), dout)
    before = dout.copy()
    dx = dropout_backward(dout, np.ones((3, 3), bool), 0.5)
    np.testing.assert_array_equal(dout, before)
    assert not np.shares_memory(dx, dout)


def test_backward_rejects_mask_of_wrong_shape():
    with pytest.raises(ValueError, match=r"\bmask\b"):
        dropout_backward(np.ones((2, 3)), np.ones((3, 2), bool), 0.5)


# --- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan")])
def test_p_outside_unit_interval_raises_naming_p(p):
    with pytest.raises(ValueError, match=r"\bp\b"):
        dropout_forward(np.ones(3), p)
    with pytest.raises(ValueError, match=r"\bp\b"):
        dropout_backward(np.ones(3), np.ones(3, bool), p)
    with pytest.raises(ValueError, match=r"\bp\b"):
        Dropout(p)


def test_rng_must_be_a_generator():
    with pytest.raises(ValueError, match=r"\brng\b"):
        dropout_forward(np.ones(3), 0.5, rng=42)


# --- hypothesis: dropout preserves the mean in expectation ------------------------------------------


@settings(max_examples=25, deadline=None)
@given(
    x=arrays(np.float64, array_shapes(min_dims=1, max_dims=2, max_side=4), elements=st.floats(-10, 10)),
    p=st.floats(0.0, 0.9),
    seed=st.integers(0, 2**32 - 1),
)
def test_average_over_draws_converges_to_input(x, p, seed):
    draws = 2000
    rng = np.random.default_rng(seed)
    # One forward on a stacked batch = `draws` independent forwards on x.
    out, _ = dropout_forward(np.broadcast_to(x, (draws, *x.shape)), p, rng=rng)
    avg = out.mean(axis=0)
    se = np.abs(x) * np.sqrt(p / (1 - p) / draws)
    assert np.all(np.abs(avg - x) <= 6 * se + 1e-9)


# --- torch module ----------------------------------------------------------------------------------


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_module_is_an_nn_dropout_and_identity_in_eval():
    m = Dropout(0.5, generator=_gen(0))
    assert isinstance(m, nn.Dropout)
    x = torch.randn(10, 10, generator=_gen(1))
    m.eval()
    assert m(x) is x  # exactly what nn.Dropout (F.dropout with training=False) returns
    assert F.dropout(x, 0.5, training=False) is x


@pytest.mark.parametrize("p", [0.2, 0.5, 0.7])
def test_module_training_output_is_zero_or_scaled_input(p):
    x = torch.randn(300, 300, generator=_gen(2), dtype=torch.float64)
    out = Dropout(p, generator=_gen(3)).train()(x)
    kept = out != 0
    torch.testing.assert_close(out[kept], x[kept] / (1 - p), rtol=1e-12, atol=0)
    n = x.numel()
    assert abs(kept.double().mean().item() - (1 - p)) < 5 * np.sqrt(p * (1 - p) / n)


def test_module_gradient_is_mask_over_keep_probability():
    p = 0.4
    x = torch.randn(50, 20, generator=_gen(4), dtype=torch.float64, requires_grad=True)
    out = Dropout(p, generator=_gen(5))(x)
    out.sum().backward()
    expected = (out.detach() != 0).double() / (1 - p)
    torch.testing.assert_close(x.grad, expected)


def test_module_with_generator_is_reproducible_and_leaves_global_rng_alone():
    x = torch.ones(64, 64)
    global_state = torch.get_rng_state()
    a = Dropout(0.5, generator=_gen(9))(x)
    b = Dropout(0.5, generator=_gen(9))(x)
    c = Dropout(0.5, generator=_gen(10))(x)
    assert torch.equal(torch.get_rng_state(), global_state)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_module_without_generator_matches_nn_dropout_on_the_same_global_state():
    x = torch.randn(32, 32, generator=_gen(12))
    # fork_rng restores torch's global state on exit, so this test does not disturb others.
    with torch.random.fork_rng(devices=[]):
        state = torch.get_rng_state()
        expected = nn.Dropout(0.3)(x)
        torch.set_rng_state(state)
        got = Dropout(0.3)(x)
    assert torch.equal(got, expected)


def test_module_edge_cases():
    x = torch.randn(5, 6, generator=_gen(13))
    torch.testing.assert_close(Dropout(1.0, generator=_gen(0))(x), torch.zeros_like(x))
    assert torch.equal(Dropout(0.0, generator=_gen(0))(x), x)
    before = x.clone()
    Dropout(0.5, generator=_gen(0))(x)
    assert torch.equal(x, before)


def test_module_eval_propagates_through_sequential():
    model = nn.Sequential(nn.Linear(4, 4), Dropout(0.9, generator=_gen(0)))
    x = torch.randn(3, 4, generator=_gen(1))
    model.eval()
    torch.testing.assert_close(model(x), model[0](x))


def test_module_deepcopy_keeps_generator_state():
    m = Dropout(0.5, generator=_gen(21))
    m2 = copy.deepcopy(m)
    x = torch.ones(20, 20)
    assert torch.equal(m(x), m2(x))
    assert len(m.state_dict()) == 0  # the generator is not a parameter or buffer


def test_module_rejects_inplace_and_bad_generator():
    with pytest.raises(ValueError, match=r"\binplace\b"):
        Dropout(0.5, inplace=True)
    with pytest.raises(ValueError, match=r"\bgenerator\b"):
        Dropout(0.5, generator=np.random.default_rng(0))


# ---------------------------------------------------------------- the maths core the book shows


def test_train_core_is_inverted_dropout(rng):
    """dropout_train_forward/backward called directly: keep-mask, 1/(1-p) scale, same factor backward."""
    from regnorm_lab.dropout import dropout_train_backward, dropout_train_forward

    x = rng.uniform(0.5, 1.5, size=(200, 50))
    out, mask = dropout_train_forward(x, 0.3, np.random.default_rng(1))
    assert mask.dtype == np.bool_ and abs(1 - mask.mean() - 0.3) < 0.02
    np.testing.assert_allclose(out[mask], x[mask] / 0.7, rtol=1e-12)
    assert np.all(out[~mask] == 0)
    dout = rng.normal(size=x.shape)
    np.testing.assert_allclose(dropout_train_backward(dout, mask, 0.3), np.where(mask, dout / 0.7, 0.0), rtol=1e-12)
