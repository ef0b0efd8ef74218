"""Tests for regnorm_lab.studies.experiments_norm: the machinery behind the normalization chapters."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from regnorm_lab.studies import experiments_norm as E


def _data(n: int = 128, d: int = 6, classes: int = 3, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g)
    y = (X[:, 0] > 0).long() + (X[:, 1] > 0.5).long()
    return X, y.clamp_max(classes - 1)


# ---------------------------------------------------------------- networks


def test_default_init_matches_torch_linear_init_distribution():
    # torch's nn.Linear draws weights and biases from U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    model = E.make_deep_mlp(400, 2, generator=torch.Generator().manual_seed(0), depth=1, width=300)
    w = model[0].weight.detach()
    bound = 1 / math.sqrt(400)
    assert w.abs().max() <= bound
    assert w.var().item() == pytest.approx(bound**2 / 3, rel=0.02)


def test_he_init_has_variance_two_over_fan_in():
    model = E.make_deep_mlp(400, 2, generator=torch.Generator().manual_seed(0), depth=1, width=300, init="he")
    assert model[0].weight.detach().var().item() == pytest.approx(2 / 400, rel=0.02)


def test_same_seed_same_weights_and_plain_and_bn_share_linears():
    a = E.make_deep_mlp(5, 3, generator=torch.Generator().manual_seed(7), norm="none")
    b = E.make_deep_mlp(5, 3, generator=torch.Generator().manual_seed(7), norm="batch")
    la = [m.weight for m in a if isinstance(m, nn.Linear)]
    lb = [m.weight for m in b if isinstance(m, nn.Linear)]
    assert len(la) == len(lb) == 6
    for wa, wb in zip(la, lb):
        assert torch.equal(wa, wb)
    assert sum(isinstance(m, nn.BatchNorm1d) for m in b) == 5
    assert not any(isinstance(m, nn.BatchNorm1d) for m in a)


def test_make_deep_mlp_rejects_bad_arguments():
    g = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match="norm"):
        E.make_deep_mlp(3, 2, generator=g, norm="layer")
    with pytest.raises(ValueError, match="noise_generator"):
        E.make_deep_mlp(3, 2, generator=g, norm="noisy_batch")
    with pytest.raises(ValueError, match="init"):
        E.make_deep_mlp(3, 2, generator=g, init="xavier")


def test_noisy_batchnorm_is_batchnorm_in_eval_and_with_zero_noise():
    x = torch.randn(16, 4, generator=torch.Generator().manual_seed(1)) * 3 + 2
    ref = nn.BatchNorm1d(4)
    noisy0 = E.NoisyBatchNorm1d(4, 0.0, torch.Generator().manual_seed(2))
    torch.testing.assert_close(noisy0(x), ref(x))
    noisy = E.NoisyBatchNorm1d(4, 0.5, torch.Generator().manual_seed(2))
    noisy(x)  # updates its running stats like ref did once
    noisy.eval(), ref.eval()
    torch.testing.assert_close(noisy(x), ref(x))


def test_noisy_batchnorm_applies_the_documented_affine_noise():
    x = torch.randn(32, 5, generator=torch.Generator().manual_seed(1))
    noisy = E.NoisyBatchNorm1d(5, 0.4, torch.Generator().manual_seed(3))
    out = noisy(x)
    g = torch.Generator().manual_seed(3)
    shift = torch.randn(5, generator=g) * 0.4
    scale = torch.exp(torch.randn(5, generator=g) * 0.2)
    expected = F.batch_norm(x, None, None, training=True) * scale + shift
    torch.testing.assert_close(out, expected)
    assert not torch.allclose(out.mean(0), torch.zeros(5), atol=1e-3)


# ---------------------------------------------------------------- training and sweeps


def test_train_classifier_learns_and_is_reproducible():
    X, y = _data()
    losses = []
    for _ in range(2):
        model = E.make_deep_mlp(6, 3, generator=torch.Generator().manual_seed(0), depth=2, width=16, norm="batch")
        losses.append(E.train_classifier(model, X, y, lr=0.1, epochs=20, generator=torch.Generator().manual_seed(1)))
    assert losses[0] == losses[1]
    assert len(losses[0]) == 20
    assert losses[0][-1] < 0.6 * losses[0][0]


def test_train_classifier_stops_on_divergence():
    X, y = _data()
    model = E.make_deep_mlp(6, 3, generator=torch.Generator().manual_seed(0), depth=3, width=16)
    losses = E.train_classifier(model, X * 1e3, y, lr=1e3, epochs=50, generator=torch.Generator().manual_seed(1))
    assert losses[-1] == math.inf
    assert len(losses) < 50


def test_epochs_to_target_and_largest_stable_lr():
    assert E.epochs_to_target([1.0, 0.8, 0.5, 0.4], 0.5) == 3
    assert E.epochs_to_target([1.0, 0.8], 0.5) is None
    rows = [
        E.SweepRow("none", 0.1, 0, (1.0, 0.5)),
        E.SweepRow("none", 1.0, 0, (1.0, math.inf)),
        E.SweepRow("none", 0.3, 0, (1.0, 0.9)),
        E.SweepRow("none", 0.3, 1, (1.0, 1.2)),  # one stalled seed makes lr 0.3 unstable
        E.SweepRow("batch", 1.0, 0, (1.0, 0.3)),
    ]
    assert E.largest_stable_lr(rows, "none", baseline_loss=1.1) == 0.1
    assert E.largest_stable_lr(rows, "batch", baseline_loss=1.1) == 1.0
    assert E.largest_stable_lr(rows, "group", baseline_loss=1.1) is None


def test_lr_sweep_records_every_setting():
    X, y = _data(n=64)
    rows = E.lr_sweep(X, y, 3, [0.01, 0.1], norms=("none", "batch"), seeds=(0, 1), epochs=2, depth=2, width=8)
    assert {(r.norm, r.lr, r.seed) for r in rows} == {(n, lr, s) for n in ("none", "batch") for lr in (0.01, 0.1) for s in (0, 1)}
    assert all(len(r.losses) == 2 for r in rows)


# ---------------------------------------------------------------- probes


def test_probe_does_not_change_the_training_run():
    X, y = _data()
    kwargs = dict(generator=torch.Generator().manual_seed(0), depth=3, width=16, norm="noisy_batch", noise_scale=0.3)
    probed = E.make_deep_mlp(6, 3, noise_generator=torch.Generator().manual_seed(9), **kwargs)
    kwargs["generator"] = torch.Generator().manual_seed(0)
    plain = E.make_deep_mlp(6, 3, noise_generator=torch.Generator().manual_seed(9), **kwargs)
    result = E.probe_training(probed, X, y, lr=0.1, steps=12, every=5, probe_layer=2, generator=torch.Generator().manual_seed(4))
    # The same SGD run without probes: identical losses and weights.
    gen = torch.Generator().manual_seed(4)
    opt = torch.optim.SGD(plain.parameters(), lr=0.1)
    losses = []
    for _ in range(12):
        idx = torch.randint(0, X.shape[0], (64,), generator=gen)
        loss = F.cross_entropy(plain(X[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert result.losses == losses
    for a, b in zip(probed.parameters(), plain.parameters()):
        assert torch.equal(a, b)
    assert len(result.mean_shift) == 11 and len(result.ics) == 3 and len(result.loss_range) == 3


def test_probe_measures_match_direct_computation_on_first_step():
    X, y = _data()
    model = E.make_deep_mlp(6, 3, generator=torch.Generator().manual_seed(0), depth=3, width=16, norm="none")
    ref = E.make_deep_mlp(6, 3, generator=torch.Generator().manual_seed(0), depth=3, width=16, norm="none")
    result = E.probe_training(
        model, X, y, lr=0.1, steps=1, every=1, probe_layer=2, step_multipliers=(1.0, 2.0), generator=torch.Generator().manual_seed(4)
    )
    idx = torch.randint(0, X.shape[0], (64,), generator=torch.Generator().manual_seed(4))
    xb, yb = X[idx], y[idx]
    params = list(ref.parameters())
    grads = torch.autograd.grad(F.cross_entropy(ref(xb), yb), params)
    gnorm = torch.sqrt(sum((g**2).sum() for g in grads)).item()
    assert result.grad_norm[0] == pytest.approx(gnorm, rel=1e-5)
    losses = []
    for eta in (0.1, 0.2):
        moved = [p.detach() - eta * g for p, g in zip(params, grads)]
        out = torch.func.functional_call(ref, dict(zip([n for n, _ in ref.named_parameters()], moved)), (xb,))
        losses.append(F.cross_entropy(out, yb).item())
    assert result.loss_range[0] == pytest.approx(abs(losses[0] - losses[1]), rel=1e-4, abs=1e-7)
    # ICS: the probed (third) Linear's weight gradient after moving only the layers below it.
    names = [n for n, _ in ref.named_parameters()]
    shifted = {n: (p.detach() - 0.1 * g if n.split(".")[0] in ("0", "2") else p.detach()) for n, p, g in zip(names, params, grads)}
    w_name = "4.weight"
    params_shifted = {n: t.clone().requires_grad_() for n, t in shifted.items()}
    loss_shifted = F.cross_entropy(torch.func.functional_call(ref, params_shifted, (xb,)), yb)
    (g_after,) = torch.autograd.grad(loss_shifted, [params_shifted[w_name]])
    g_before = grads[names.index(w_name)]
    expected = ((g_before - g_after).norm() / g_before.norm()).item()
    assert result.ics[0] == pytest.approx(expected, rel=1e-4)


def test_probe_rejects_first_layer():
    X, y = _data()
    model = E.make_deep_mlp(6, 3, generator=torch.Generator().manual_seed(0), depth=2, width=8)
    with pytest.raises(ValueError, match="probe_layer"):
        E.probe_training(model, X, y, lr=0.1, steps=1, probe_layer=0, generator=torch.Generator().manual_seed(0))


# ---------------------------------------------------------------- normalization sets and AdaIN


def _influence(kind: str, shape: tuple[int, int, int], groups: int) -> np.ndarray:
    """Entries whose torch-normalised output changes when entry (0, 0, 0) of the input changes."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(*shape, generator=g, dtype=torch.float64)
    fns = {
        "batch": lambda t: F.batch_norm(t, None, None, training=True),
        "layer": lambda t: F.layer_norm(t, t.shape[1:]),
        "instance": lambda t: F.instance_norm(t),
        "group": lambda t: F.group_norm(t, groups),
    }
    x2 = x.clone()
    x2[0, 0, 0] += 1.0
    return (fns[kind](x2) - fns[kind](x)).abs().numpy() > 1e-12


@pytest.mark.parametrize("kind", ["batch", "layer", "instance", "group"])
def test_normalization_set_matches_torch(kind):
    shape = (3, 4, 5)
    assert np.array_equal(E.normalization_set(kind, shape, num_groups=2), _influence(kind, shape, 2))


def test_normalization_set_rejects_bad_arguments():
    with pytest.raises(ValueError, match="kind"):
        E.normalization_set("rms", (2, 2, 2))
    with pytest.raises(ValueError, match="num_groups"):
        E.normalization_set("group", (2, 3, 2), num_groups=2)


def test_adain_gives_content_the_style_statistics_and_keeps_inputs():
    rng = np.random.default_rng(0)
    content = rng.normal(2.0, 3.0, size=(2, 3, 8, 8))
    style = rng.normal(-1.0, 0.5, size=(2, 3, 8, 8)) * np.arange(1, 4)[None, :, None, None]
    c0, s0 = content.copy(), style.copy()
    out = E.adain(content, style, eps=1e-12)
    np.testing.assert_allclose(out.mean(axis=(2, 3)), style.mean(axis=(2, 3)), atol=1e-10)
    np.testing.assert_allclose(out.std(axis=(2, 3)), style.std(axis=(2, 3)), rtol=1e-8)
    # What remains of the content is its instance-normalised pattern (as torch's instance_norm).
    inst = F.instance_norm(torch.tensor(content), eps=1e-12).numpy()
    s_std = style.std(axis=(2, 3), keepdims=True)
    np.testing.assert_allclose((out - style.mean(axis=(2, 3), keepdims=True)) / s_std, inst, atol=1e-8)
    assert np.array_equal(content, c0) and np.array_equal(style, s0)
    with pytest.raises(ValueError, match="content and style"):
        E.adain(content, style[:, :2])
