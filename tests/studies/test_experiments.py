"""Tests for regnorm_lab.studies.experiments: statistics against scipy and formulas, grids' shape and determinism.

Training runs here are tiny (a few epochs on a few dozen rows): the tests check
the machinery (rows, columns, pairing, seeding), not the book's conclusions,
which the chapters print next to their figures.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from regnorm_lab.studies.datasets import make_regression_task
from regnorm_lab.studies.experiments import (
    dropout_bn_variance_shift,
    learning_curves,
    penalty_sweep,
    variance_decomposition,
    weight_stats,
)
from regnorm_lab.studies.training import TrainConfig

TINY = TrainConfig(epochs=3, hidden=8, batch_size=16)


@pytest.fixture(scope="module")
def task():
    return make_regression_task(n_train=48, n_val=32, n_features=5, n_informative=2, rng=np.random.default_rng(3))


# --- weight_stats ---------------------------------------------------------------------------------


def test_weight_stats_matches_hand_computed_norms_and_ignores_biases():
    model = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[3.0, 0.0], [-4.0, 0.0]]))  # input 1 is dead
        model[0].bias.fill_(100.0)  # biases must not count
        model[2].weight.copy_(torch.tensor([[0.0005, -12.0]]))
        model[2].bias.fill_(-100.0)
    s = weight_stats(model, tol=1e-3)
    assert s["weight_l1"] == pytest.approx(3 + 4 + 0.0005 + 12)
    assert s["weight_l2"] == pytest.approx(math.sqrt(9 + 16 + 0.0005**2 + 144))
    assert s["sparsity"] == pytest.approx(3 / 6)  # two exact zeros and 0.0005 < tol
    assert s["dead_inputs"] == pytest.approx(1 / 2)
    # relative: layer 0 max 4 -> zeros below 0.04 (two exact zeros); layer 2 max 12 -> 0.0005 counts
    assert s["rel_sparsity"] == pytest.approx(3 / 6)


def test_rel_sparsity_is_scale_free_but_sees_zeros():
    model = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 1))
    with torch.no_grad():
        model[0].weight.copy_(torch.arange(1.0, 13.0).reshape(3, 4))
        model[1].weight.copy_(torch.tensor([[1.0, 2.0, 3.0]]))
    before = weight_stats(model)
    with torch.no_grad():
        for m in model:
            m.weight.mul_(1e-5)  # uniform shrinkage: absolute sparsity jumps, relative does not move
    shrunk = weight_stats(model)
    assert before["rel_sparsity"] == shrunk["rel_sparsity"] == 0.0
    assert shrunk["sparsity"] == 1.0
    with torch.no_grad():
        model[0].weight[0].zero_()
    assert weight_stats(model)["rel_sparsity"] == pytest.approx(4 / 15)


def test_weight_stats_rejects_nonpositive_tol():
    with pytest.raises(ValueError, match="tol"):
        weight_stats(nn.Linear(2, 2), tol=0.0)
    with pytest.raises(ValueError, match="rel_tol"):
        weight_stats(nn.Linear(2, 2), rel_tol=-1.0)


# --- penalty_sweep, learning_curves, variance shift, variance decomposition ---------------------


def test_penalty_sweep_rows_and_penalty_shrinks_weights(task):
    df = penalty_sweep(task, [0.0, 1.0], kinds=("l1", "l2"), seeds=(0,), base=TrainConfig(epochs=5, hidden=8, batch_size=None, lr=0.05))
    assert len(df) == 4
    assert set(df.kind) == {"l1", "l2"}
    for kind in ("l1", "l2"):
        d = df[df.kind == kind].set_index("strength")
        other = "l2" if kind == "l1" else "l1"
        assert d.loc[1.0, kind] == 1.0 and d.loc[1.0, other] == 0.0  # the strength went into the right field
        assert d.loc[1.0, "weight_l1"] < d.loc[0.0, "weight_l1"]
    with pytest.raises(ValueError, match="kinds"):
        penalty_sweep(task, [0.0], kinds=("l3",), base=TINY)


def test_learning_curves_long_form(task):
    df = learning_curves(task, {"plain": TINY, "dropout": TrainConfig(epochs=3, hidden=8, batch_size=16, dropout=0.5)})
    assert list(df.label.unique()) == ["plain", "dropout"]
    assert list(df[df.label == "plain"].epoch) == [1, 2, 3]
    assert {"train_r2", "val_r2", "train_loss", "val_loss"} <= set(df.columns)


# --- dropout before BatchNorm -------------------------------------------------------------------


def _relu_normal_ratio(p: float) -> float:
    """Eval/train variance ratio of a unit fed by inverted dropout of relu(N(0,1)) inputs (formula)."""
    ex = 1.0 / math.sqrt(2.0 * math.pi)  # E[relu(z)]
    ex2 = 0.5  # E[relu(z)^2]
    return (ex2 - ex**2) / (ex2 / (1.0 - p) - ex**2)


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_variance_shift_matches_formula_when_dropout_precedes_bn(p):
    shift = dropout_bn_variance_shift(p, n_batches=60, generator=torch.Generator().manual_seed(0))
    assert shift.running_var.shape == (32,)
    assert shift.ratio == pytest.approx(_relu_normal_ratio(p), rel=0.05)
    # what BN outputs in eval mode shrinks by the same ratio
    assert float(np.mean(shift.eval_out_var)) == pytest.approx(_relu_normal_ratio(p), rel=0.05)


def test_no_variance_shift_when_dropout_follows_bn():
    shift = dropout_bn_variance_shift(0.5, order="bn->dropout", n_batches=60, generator=torch.Generator().manual_seed(0))
    assert shift.ratio == pytest.approx(1.0, rel=0.05)


def test_variance_shift_bad_arguments():
    g = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match="p"):
        dropout_bn_variance_shift(1.0, generator=g)
    with pytest.raises(ValueError, match="order"):
        dropout_bn_variance_shift(0.5, order="sideways", generator=g)
    with pytest.raises(ValueError, match="batch_size"):
        dropout_bn_variance_shift(0.5, batch_size=1, generator=g)


# --- variance over training sets -----------------------------------------------------------------


def test_variance_decomposition_identity_and_rows(task):
    out = variance_decomposition(task, {"plain": TINY, "l2": TrainConfig(epochs=3, hidden=8, batch_size=16, l2=0.1)}, n_splits=3)
    assert list(out.label) == ["plain", "l2"]
    assert (out.n_train == 16).all()  # 48 rows dealt into 3 sets
    # average error of one model = error of the average model + (K-1)/K * sample variance (squared error)
    np.testing.assert_allclose(out.mean_mse, out.mse_of_mean + (2 / 3) * out.variance, rtol=1e-9)
    np.testing.assert_allclose(out.mean_mse, out.bias_noise + out.variance, rtol=1e-9)
    assert (out.variance > 0).all()
    with pytest.raises(ValueError, match="n_splits"):
        variance_decomposition(task, {"plain": TINY}, n_splits=1)
    with pytest.raises(ValueError, match="n_splits"):
        variance_decomposition(task, {"plain": TINY}, n_splits=30)

