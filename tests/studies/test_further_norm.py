"""regnorm_lab.studies.further_norm: each formula against torch or an independent computation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from regnorm_lab.dropout import Dropout
from regnorm_lab.studies import further_norm as fn


def test_channel_dropout_drops_whole_channels_at_rate_p():
    rng = np.random.default_rng(0)
    x = rng.uniform(0.5, 1.5, (300, 20, 3, 3))
    y, mask = fn.channel_dropout(x, 0.3, rng)
    assert mask.shape == (300, 20)
    np.testing.assert_array_equal(y[~mask], 0.0)
    np.testing.assert_allclose(y[mask], x[mask] / 0.7)
    assert abs((1 - mask.mean()) - 0.3) < 5 * np.sqrt(0.21 / mask.size)
    with pytest.raises(ValueError, match="p"):
        fn.channel_dropout(x, 1.0, rng)
    with pytest.raises(ValueError, match="x"):
        fn.channel_dropout(x[:, :, 0, 0], 0.3, rng)


def test_mc_dropout_keeps_bn_in_eval_and_restores_modes():
    g = torch.Generator().manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 8), nn.BatchNorm1d(8), Dropout(0.5, generator=g), nn.Linear(8, 1))
    model.train()
    x = torch.randn(5, 3, generator=g)
    running = model[1].running_mean.clone()
    mean, std = fn.mc_dropout_predict(model, x, 200)
    assert mean.shape == (5, 1) and torch.all(std > 0)
    assert torch.equal(model[1].running_mean, running)  # BN stayed in eval mode: no update
    assert all(m.training for m in model.modules())
    # Without dropout layers the passes are identical: zero spread, mean = the eval output.
    plain = nn.Sequential(nn.Linear(3, 2)).eval()
    m2, s2 = fn.mc_dropout_predict(plain, x, 3)
    assert torch.all(s2 == 0) and torch.allclose(m2, plain(x))
    with pytest.raises(ValueError, match="samples"):
        fn.mc_dropout_predict(model, x, 1)


def test_batchnorm2d_matches_torch():
    rng = np.random.default_rng(1)
    x = rng.normal(2.0, 3.0, (4, 3, 5, 6))
    gamma, beta = rng.normal(1, 0.3, 3), rng.normal(0, 0.3, 3)
    y, mean, var = fn.batchnorm2d_forward(x, gamma, beta)
    ref = torch.nn.functional.batch_norm(torch.tensor(x), None, None, torch.tensor(gamma), torch.tensor(beta),
                                         training=True, eps=1e-5)
    np.testing.assert_allclose(y, ref.numpy(), atol=1e-12)
    np.testing.assert_allclose(mean, x.transpose(1, 0, 2, 3).reshape(3, -1).mean(1))
    with pytest.raises(ValueError, match="x"):
        fn.batchnorm2d_forward(x[0], gamma, beta)


@pytest.mark.parametrize("conv", [True, False])
def test_folded_layer_reproduces_layer_then_bn(conv):
    g = torch.Generator().manual_seed(2)
    layer = nn.Conv2d(3, 4, 3, bias=conv).double() if conv else nn.Linear(5, 4).double()
    bn = nn.BatchNorm2d(4).double() if conv else nn.BatchNorm1d(4).double()
    with torch.no_grad():
        for t in (bn.running_mean, bn.weight, bn.bias):
            t.copy_(torch.randn(4, generator=g, dtype=torch.float64))
        bn.running_var.copy_(torch.rand(4, generator=g, dtype=torch.float64) + 0.5)
    bn.eval()
    x = torch.randn(2, 3, 7, 7, generator=g, dtype=torch.float64) if conv else torch.randn(6, 5, generator=g,
                                                                                          dtype=torch.float64)
    bias = None if layer.bias is None else layer.bias.detach().numpy()
    w, b = fn.fold_batchnorm(layer.weight.detach().numpy(), bias, bn.weight.detach().numpy(),
                             bn.bias.detach().numpy(), bn.running_mean.numpy(), bn.running_var.numpy(), bn.eps)
    op = torch.nn.functional.conv2d if conv else torch.nn.functional.linear
    folded = op(x, torch.tensor(w), torch.tensor(b))
    torch.testing.assert_close(folded, bn(layer(x)), rtol=1e-12, atol=1e-12)


def test_ghost_batchnorm_is_bn_per_chunk():
    x = np.random.default_rng(3).normal(size=(12, 4))
    out = fn.ghost_batchnorm(x, 4)
    for k in range(3):
        chunk = torch.tensor(x[4 * k:4 * k + 4])
        ref = torch.nn.functional.batch_norm(chunk, None, None, training=True, eps=1e-5)
        np.testing.assert_allclose(out[4 * k:4 * k + 4], ref.numpy(), atol=1e-12)
    with pytest.raises(ValueError, match="virtual_batch_size"):
        fn.ghost_batchnorm(x, 5)


def test_batch_renorm_equals_running_stat_normalisation_when_unclipped_and_bn_when_stats_match():
    rng = np.random.default_rng(4)
    x = rng.normal(1.0, 2.0, (16, 3))
    rm, rv = np.array([0.5, 1.0, 1.5]), np.array([3.0, 4.0, 5.0])
    out, r, d = fn.batch_renorm_forward(x, rm, rv, r_max=1e9, d_max=1e9)
    np.testing.assert_allclose(out, (x - rm) / np.sqrt(rv + 1e-5), atol=1e-12)
    out_bn, r1, d1 = fn.batch_renorm_forward(x, x.mean(0), x.var(0))
    np.testing.assert_allclose(r1, 1.0)
    np.testing.assert_allclose(d1, 0.0, atol=1e-12)
    np.testing.assert_allclose(out_bn, (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5), atol=1e-12)
    _, r2, _ = fn.batch_renorm_forward(x, rm, rv * 1e4, r_max=2.0, d_max=1.0)  # batch far narrower: r clipped
    _, _, d2 = fn.batch_renorm_forward(x, rm + 100, rv, r_max=2.0, d_max=1.0)  # batch far lower: d clipped
    assert np.all(r2 == 0.5) and np.all(d2 == -1.0)


def test_sync_stats_equal_full_batch_stats():
    chunks = [np.random.default_rng(k).normal(k, 1 + k, (n, 3)) for k, n in enumerate((3, 8, 5))]
    mean, var = fn.sync_batch_stats(chunks)
    full = np.concatenate(chunks)
    np.testing.assert_allclose(mean, full.mean(0))
    np.testing.assert_allclose(var, full.var(0))


def test_decay_param_groups_leave_out_norm_params_and_biases():
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.LayerNorm(8), nn.Linear(8, 2))
    groups = fn.decay_param_groups(model, 0.1)
    ids = lambda ps: {id(p) for p in ps}
    assert ids(groups[0]["params"]) == {id(model[0].weight), id(model[4].weight)}
    assert len(groups[1]["params"]) == 6 and groups[1]["weight_decay"] == 0.0
    opt = torch.optim.AdamW(groups, lr=0.1)
    before = model[1].weight.detach().clone()
    w_before = model[0].weight.detach().clone()
    for p in model.parameters():  # zero data gradients: only the decay moves anything
        p.grad = torch.zeros_like(p)
    opt.step()
    assert torch.equal(model[1].weight, before)  # gamma of BN: not decayed
    torch.testing.assert_close(model[0].weight.detach(), w_before * (1 - 0.1 * 0.1))  # weights: decayed


def test_weight_norm_matches_torch_parametrization():
    lin = nn.Linear(5, 3).double()
    wn = torch.nn.utils.parametrizations.weight_norm(lin)
    g = wn.parametrizations.weight.original0.detach().numpy().ravel()
    v = wn.parametrizations.weight.original1.detach().numpy()
    np.testing.assert_allclose(fn.weight_norm(v, g * 2), 2 * wn.weight.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(fn.weight_norm(v, g), axis=1), np.abs(g), atol=1e-12)


def test_weight_standardize_per_filter():
    w = np.random.default_rng(5).normal(3.0, 2.0, (4, 3, 3, 3))
    ws = fn.weight_standardize(w, eps=0.0)
    np.testing.assert_allclose(ws.reshape(4, -1).mean(1), 0.0, atol=1e-12)
    np.testing.assert_allclose(ws.reshape(4, -1).std(1), 1.0, atol=1e-12)


@pytest.mark.slow
def test_transformer_stack_layouts_and_xiong_scaling():
    g = torch.Generator().manual_seed(0)
    post, pre = fn.transformer_stack(False, 2, g, 16), fn.transformer_stack(True, 2, g, 16)
    assert post.norm is None and isinstance(pre.norm, nn.LayerNorm)
    assert not post.layers[0].norm_first and pre.layers[0].norm_first
    # Post-LN: the last layer's gradient does not shrink with depth; pre-LN: it does (about 1/sqrt(L)).
    post2, post8 = (np.mean([fn.last_ffn_grad_norm(False, L, s, 32) for s in range(2)]) for L in (2, 8))
    pre2, pre8 = (np.mean([fn.last_ffn_grad_norm(True, L, s, 32) for s in range(2)]) for L in (2, 8))
    assert 0.7 < post8 / post2 < 1.4 and 0.3 < pre8 / pre2 < 0.7  # sqrt(2/8) = 0.5
    with pytest.raises(ValueError, match="layers"):
        fn.transformer_stack(True, 0, g)


def test_pre_norm_residual_is_x_plus_sublayer_of_norm():
    g = torch.Generator().manual_seed(1)
    lin = nn.Linear(8, 8)
    block = fn.PreNormResidual(lin, nn.RMSNorm(8, eps=1e-6))
    x = torch.randn(3, 8, generator=g)
    expected = x + lin(x / torch.sqrt((x**2).mean(-1, keepdim=True) + 1e-6))
    torch.testing.assert_close(block(x), expected)
