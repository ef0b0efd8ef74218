"""Tests for regnorm_lab.studies.norm_init: chapter 05's initialisation and depth studies."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from regnorm_lab.studies import experiments_norm as E
from regnorm_lab.studies.norm_init import (
    NETWORKS,
    baseline_loss,
    classification_draw,
    first_last_gradient_ratio,
    gradient_ratio_study,
    lr_study,
)


def test_baseline_loss_is_the_entropy_of_the_class_frequencies():
    y = torch.tensor([0, 0, 1, 2])
    expected = -(0.5 * math.log(0.5) + 2 * 0.25 * math.log(0.25))
    assert baseline_loss(y, 3) == pytest.approx(expected)
    assert baseline_loss(torch.tensor([1, 1]), 3) == 0.0  # one class present: nothing to learn


def test_gradient_ratio_of_a_hand_built_network():
    # Two hidden layers; the ratio is first-hidden over last-hidden gradient norm, the head excluded.
    model = E.make_deep_mlp(4, 2, generator=torch.Generator().manual_seed(0), depth=2, width=3)
    X = torch.randn(8, 4, generator=torch.Generator().manual_seed(1))
    y = torch.tensor([0, 1] * 4)
    ratio = first_last_gradient_ratio(model, X, y)
    linears = [m for m in model if isinstance(m, nn.Linear)]
    assert ratio == pytest.approx(float(linears[0].weight.grad.norm() / linears[1].weight.grad.norm()))
    with pytest.raises(ValueError, match="2 hidden"):
        first_last_gradient_ratio(E.make_deep_mlp(4, 2, generator=torch.Generator().manual_seed(0), depth=1), X, y)


@pytest.mark.slow
def test_batch_norm_gradients_explode_with_depth_and_he_plain_ones_do_not():
    torch.set_num_threads(1)
    t = gradient_ratio_study(depths=(20,), runs=(0, 1), networks=(("batch", "default"), ("none", "he")))
    bn = t[t.norm == "batch"].ratio
    plain = t[t.norm == "none"].ratio
    assert (bn > 3).all() and (plain < 1).all()  # Yang et al. 2019: BN's gradient grows towards the input
    assert len(t) == 4 and set(t.columns) == {"depth", "run", "norm", "init", "ratio"}


def test_classification_draws_differ_and_are_z_scored():
    X0, y0, k = classification_draw(0, n_train=64)
    X1, _, _ = classification_draw(1, n_train=64)
    assert k == 3 and X0.shape == (64, 20) and y0.dtype == torch.int64
    assert np.allclose(X0.mean(0).numpy(), 0, atol=1e-5)
    assert not torch.equal(X0, X1)


def test_lr_study_marks_divergence_unstable():
    torch.set_num_threads(1)
    t = lr_study([0.1, 1000.0], draws=(0,), epochs=2)
    assert len(t) == 2 * len(NETWORKS)
    huge = t[t.lr == 1000.0]
    assert not huge.stable.any()  # a learning rate of 1000 diverges (or stalls) for every network
    assert (t.largest_stable_lr.dropna() <= 0.1).all()
