"""Tests for regnorm_lab.studies.experiments: statistics against scipy and formulas, grids' shape and determinism.

Training runs here are tiny (a few epochs on a few dozen rows): the tests check
the machinery (rows, columns, pairing, seeding), not the book's conclusions,
which the chapters print next to their figures.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats
from torch import nn

from regnorm_lab.studies.datasets import make_regression_task
from regnorm_lab.studies.experiments import (
    CONFIG_COLUMNS,
    combination_grid,
    dropout_bn_variance_shift,
    interaction_effect,
    learning_curves,
    paired_effect,
    penalty_sweep,
    summarise_grid,
    t_interval,
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


# --- t_interval / summarise_grid -----------------------------------------------------------------


def test_t_interval_matches_table_value_for_three_points():
    # t_{0.975, 2} = 4.302652729911275 (statistical tables); s = 1 for [1, 2, 3].
    mean, low, high = t_interval([1.0, 2.0, 3.0], 0.95)
    assert mean == pytest.approx(2.0)
    assert high - mean == pytest.approx(4.302652729911275 / math.sqrt(3))
    assert mean - low == pytest.approx(4.302652729911275 / math.sqrt(3))


@pytest.mark.parametrize("confidence", [0.8, 0.95, 0.99])
def test_t_interval_matches_scipy(rng, confidence):
    x = rng.normal(size=7)
    low_ref, high_ref = stats.t.interval(confidence, df=len(x) - 1, loc=x.mean(), scale=stats.sem(x))
    mean, low, high = t_interval(x, confidence)
    assert mean == pytest.approx(x.mean())
    assert (low, high) == pytest.approx((low_ref, high_ref))


@pytest.mark.parametrize(
    "values, confidence, name",
    [([1.0], 0.95, "values"), ([1.0, np.nan], 0.95, "values"), ([1.0, 2.0], 1.0, "confidence"), ([1.0, 2.0], 0.0, "confidence")],
)
def test_t_interval_bad_input(values, confidence, name):
    with pytest.raises(ValueError, match=name):
        t_interval(values, confidence)


def _fake_grid(rng: np.random.Generator) -> pd.DataFrame:
    rows = []
    for l1 in (0.0, 0.1):
        for p in (0.0, 0.5):
            for seed in range(4):
                rows.append(
                    {"l1": l1, "l2": 0.0, "dropout": p, "batch_norm": True, "seed": seed, "final_val_r2": rng.normal()}
                )
    return pd.DataFrame(rows)


def test_summarise_grid_one_row_per_config_with_scipy_intervals(rng):
    df = _fake_grid(rng)
    summary = summarise_grid(df, confidence=0.9)
    assert len(summary) == 4
    assert list(summary.columns) == [*CONFIG_COLUMNS, "n", "mean", "std", "ci_low", "ci_high", "half_width"]
    for _, row in summary.iterrows():
        x = df[(df.l1 == row.l1) & (df.dropout == row.dropout)]["final_val_r2"].to_numpy()
        low, high = stats.t.interval(0.9, df=len(x) - 1, loc=x.mean(), scale=stats.sem(x))
        assert row.n == 4
        assert row["mean"] == pytest.approx(x.mean())
        assert row["std"] == pytest.approx(x.std(ddof=1))
        assert (row.ci_low, row.ci_high) == pytest.approx((low, high))


def test_summarise_grid_names_missing_column(rng):
    with pytest.raises(ValueError, match="accuracy"):
        summarise_grid(_fake_grid(rng), value="accuracy")


def test_paired_effect_cancels_the_shared_seed_effect():
    # value = large per-seed offset + 0.1 when dropout is on (+0.2 more when l1 is on too):
    # the paired difference is exact, an unpaired comparison would drown in the seed offsets.
    rows = []
    offsets = [5.0, -3.0, 1.0, 8.0]
    for l1 in (0.0, 0.1):
        for p in (0.0, 0.5):
            for seed, off in enumerate(offsets):
                effect = (0.1 + (0.2 if l1 else 0.0)) if p else 0.0
                rows.append({"l1": l1, "l2": 0.0, "dropout": p, "batch_norm": True, "seed": seed, "final_val_r2": off + effect})
    eff = paired_effect(pd.DataFrame(rows), "dropout", 0.0, 0.5)
    assert list(eff.l1) == [0.0, 0.1]
    assert list(eff.n) == [4, 4]
    np.testing.assert_allclose(eff["mean"], [0.1, 0.3])
    np.testing.assert_allclose(eff.ci_high - eff.ci_low, [0.0, 0.0], atol=1e-12)


def test_interaction_effect_is_the_difference_of_paired_effects():
    # Same construction: dropout adds 0.1 without L1 and 0.3 with it, so the interaction is +0.2 exactly,
    # whatever the per-seed offsets; swapping the roles of the factors gives the same contrast.
    rows = []
    for l1 in (0.0, 0.1):
        for p in (0.0, 0.5):
            for bn in (False, True):
                for seed, off in enumerate([5.0, -3.0, 1.0]):
                    effect = (0.1 + (0.2 if l1 else 0.0)) if p else 0.0
                    rows.append({"l1": l1, "l2": 0.0, "dropout": p, "batch_norm": bn, "seed": seed, "final_val_r2": off + effect + bn})
    df = pd.DataFrame(rows)
    out = interaction_effect(df, ("dropout", 0.0, 0.5), ("l1", 0.0, 0.1))
    assert list(out.batch_norm) == [False, True]
    np.testing.assert_allclose(out["mean"], [0.2, 0.2])
    np.testing.assert_allclose(out.ci_high - out.ci_low, [0.0, 0.0], atol=1e-12)
    swapped = interaction_effect(df, ("l1", 0.0, 0.1), ("dropout", 0.0, 0.5))
    np.testing.assert_allclose(swapped["mean"], out["mean"])
    with pytest.raises(ValueError, match="different"):
        interaction_effect(df, ("l1", 0.0, 0.1), ("l1", 0.0, 0.1))


def test_paired_effect_rejects_unknown_factor(rng):
    with pytest.raises(ValueError, match="factor"):
        paired_effect(_fake_grid(rng), "momentum", 0.0, 0.9)


# --- grids ----------------------------------------------------------------------------------------


def test_combination_grid_shape_columns_and_determinism(task):
    kwargs = dict(l1_values=(0.0, 1e-2), dropout_values=(0.0, 0.3), batch_norm_values=(True,), seeds=(0, 1), base=TINY)
    a = combination_grid(task, **kwargs)
    b = combination_grid(task, **kwargs)
    assert len(a) == 2 * 2 * 1 * 2
    for col in [*CONFIG_COLUMNS, "seed", "final_train_r2", "final_val_r2", "best_val_r2", "gap", "weight_l1", "sparsity"]:
        assert col in a.columns
    assert set(map(tuple, a[["l1", "dropout", "seed"]].to_numpy())) == {
        (l1, p, s) for l1 in (0.0, 1e-2) for p in (0.0, 0.3) for s in (0, 1)
    }
    assert (a.epochs == TINY.epochs).all() and (a.hidden == TINY.hidden).all()  # base settings are kept
    pd.testing.assert_frame_equal(a, b)  # same seeds, same numbers
    # different seeds are different runs
    s0 = a[(a.l1 == 0) & (a.dropout == 0) & (a.seed == 0)].final_val_r2.item()
    s1 = a[(a.l1 == 0) & (a.dropout == 0) & (a.seed == 1)].final_val_r2.item()
    assert s0 != s1


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(l1_values=(-1.0,)), "l1_values"),
        (dict(dropout_values=(1.0,)), "dropout_values"),
        (dict(dropout_values=()), "dropout_values"),
        (dict(seeds=(0, 0)), "seeds"),
        (dict(seeds=()), "seeds"),
    ],
)
def test_combination_grid_bad_arguments(task, kwargs, name):
    with pytest.raises(ValueError, match=name):
        combination_grid(task, base=TINY, **kwargs)


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

