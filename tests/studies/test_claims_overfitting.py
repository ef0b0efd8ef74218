"""Tests for regnorm_lab.studies.claims_overfitting: the normalization-vs-overfitting study."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from regnorm_lab.combining import build_model
from regnorm_lab.studies.claims_overfitting import Variant, overfitting_study, with_hidden_batch_norm, z_scored
from regnorm_lab.studies.datasets import make_regression_task


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
