"""Tests for regnorm_lab.studies.claims_overfitting: the normalization-vs-overfitting study."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from regnorm_lab.combining import build_model
from regnorm_lab.studies.claims_overfitting import (
    Variant,
    overfitting_study,
    train_transformed,
    with_hidden_batch_norm,
    z_scored,
)
from regnorm_lab.studies.datasets import make_regression_task
from regnorm_lab.studies.training import TrainConfig, train_mlp


def test_hidden_batch_norm_follows_each_hidden_linear_and_keeps_the_weights():
    base = build_model(5, 8, 0.0, True, generator=torch.Generator().manual_seed(0))
    model = with_hidden_batch_norm(base)
    kinds = [type(m).__name__ for m in model]
    assert kinds == ["BatchNorm1d", "Linear", "BatchNorm1d", "ReLU", "Linear", "BatchNorm1d", "ReLU", "Linear"]
    for a, b in zip([m for m in base if isinstance(m, nn.Linear)], [m for m in model if isinstance(m, nn.Linear)]):
        assert torch.equal(a.weight, b.weight)
    # The hidden BN makes the output invariant to the scale of the first Linear's weights (training mode).
    x = torch.randn(16, 5, generator=torch.Generator().manual_seed(1))
    out = model(x)
    with torch.no_grad():
        model[1].weight.mul_(3.0)
        model[1].bias.mul_(3.0)
    assert torch.allclose(model(x), out, atol=1e-4)


def test_z_scored_task_has_standardised_training_columns():
    task = z_scored(make_regression_task(n_train=64, n_val=32, rng=np.random.default_rng(0)))
    assert np.allclose(task.X_train.mean(0), 0, atol=1e-5)
    assert np.allclose(task.X_train.std(0), 1, atol=1e-4)
    assert task.X_train.dtype == np.float32


def test_variant_rejects_unknown_inputs_and_dropout_with_hidden_bn():
    with pytest.raises(ValueError, match="inputs"):
        Variant("scaled")
    with pytest.raises(ValueError, match="dropout"):
        Variant("z", hidden_bn=True, config={"dropout": 0.3})


def test_overfitting_study_table_is_tidy_and_reproducible():
    torch.set_num_threads(1)
    kw = dict(variants=["z-scored, no BN", "z-scored + hidden BN"], draws=(0, 1), seeds=(0,), epochs=3)
    a = overfitting_study(**kw)
    b = overfitting_study(**kw)
    assert list(a.columns) == ["draw", "seed", "model", "train_r2", "val_r2", "gap"]
    assert len(a) == 4
    assert np.array_equal(a[["train_r2", "val_r2"]].to_numpy(), b[["train_r2", "val_r2"]].to_numpy())
    assert np.allclose(a["gap"], a["train_r2"] - a["val_r2"])
    # The hidden BN changes the result (it is really in the model that was trained).
    wide = a.pivot_table(index=["draw", "seed"], columns="model", values="train_r2")
    assert not np.allclose(wide["z-scored, no BN"], wide["z-scored + hidden BN"])


def test_overfitting_study_rejects_unknown_variants():
    with pytest.raises(ValueError, match="variants"):
        overfitting_study(["no such model"])
    with pytest.raises(ValueError, match="seeds"):
        overfitting_study(["z-scored, no BN"], seeds=())


def test_train_transformed_is_train_mlp_when_the_transform_is_the_identity():
    # The hidden-BN runs are paired with the batched ones only if this loop draws exactly as train_mlp does.
    torch.set_num_threads(1)
    task = make_regression_task(n_train=64, n_val=32, rng=np.random.default_rng(3))
    config = TrainConfig(seed=7, epochs=4, eval_every=4, batch_size=16)
    ref = train_mlp(task, config, dtype=torch.float64)
    got = train_transformed(task, config, lambda m: m, dtype=torch.float64)
    assert got == pytest.approx((ref.final_train_r2, ref.final_val_r2), abs=1e-12)
    hidden = train_transformed(task, config, with_hidden_batch_norm, dtype=torch.float64)
    assert abs(hidden[0] - got[0]) > 1e-6  # the transform is really in the trained model
    with pytest.raises(ValueError, match="config"):
        train_transformed(task, TrainConfig(l1=0.01), with_hidden_batch_norm)


def test_overfitting_study_runs_equal_single_trainer_runs():
    # The batched variants are train_mlp's runs of the same seed (float32: up to summation order).
    torch.set_num_threads(1)
    table = overfitting_study(["input BN, raw inputs", "input BN + dropout 0.3"], draws=(0, 1), seeds=(1,), epochs=3)
    for d in (0, 1):
        task = make_regression_task(rng=np.random.default_rng(d))
        for name, extra in (("input BN, raw inputs", {}), ("input BN + dropout 0.3", {"dropout": 0.3})):
            r = train_mlp(task, TrainConfig(batch_norm=True, seed=1000 * d + 1, epochs=3, eval_every=3, **extra))
            row = table[(table.draw == d) & (table.model == name)].iloc[0]
            assert row.val_r2 == pytest.approx(r.final_val_r2, abs=1e-4)
