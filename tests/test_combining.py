"""ps06 references: r2_score against scikit-learn, weight_penalty against hand sums and autograd, build_model's layers."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.metrics import r2_score as sk_r2_score
from torch import nn

from regnorm_lab.combining import build_model, r2_score, weight_penalty

# --------------------------------------------------------------------------- r2_score


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("n", [2, 7, 100, 5000])
def test_r2_score_matches_sklearn_on_random_data(rng: np.random.Generator, n: int, dtype: torch.dtype) -> None:
    y = rng.normal(3.0, 2.0, size=n)
    pred = y + rng.normal(0.0, 1.5, size=n)
    expected = sk_r2_score(y.astype(np.float32) if dtype == torch.float32 else y, pred.astype(np.float32) if dtype == torch.float32 else pred)
    got = r2_score(torch.tensor(y, dtype=dtype), torch.tensor(pred, dtype=dtype))
    assert isinstance(got, float)
    assert got == pytest.approx(expected, rel=1e-5, abs=1e-6)


def test_r2_score_bad_model_is_negative_like_sklearn(rng: np.random.Generator) -> None:
    y = rng.normal(size=50)
    pred = -y + 5.0
    got = r2_score(torch.tensor(y), torch.tensor(pred))
    assert got < 0
    assert got == pytest.approx(sk_r2_score(y, pred), rel=1e-12)


def test_r2_score_perfect_prediction_is_one(rng: np.random.Generator) -> None:
    y = torch.tensor(rng.normal(size=30))
    assert r2_score(y, y.clone()) == 1.0


def test_r2_score_predicting_the_mean_is_zero(rng: np.random.Generator) -> None:
    y = rng.normal(size=40)
    pred = np.full_like(y, y.mean())
    got = r2_score(torch.tensor(y), torch.tensor(pred))
    assert got == pytest.approx(sk_r2_score(y, pred), abs=1e-12)
    assert got == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("pred_kind", ["exact", "off"])
def test_r2_score_constant_target_follows_sklearn(pred_kind: str) -> None:
    y = np.full(10, 2.5)
    pred = y.copy() if pred_kind == "exact" else y + np.linspace(-1, 1, 10)
    expected = sk_r2_score(y, pred)  # sklearn's force_finite default: 1.0 exact, 0.0 otherwise
    assert r2_score(torch.tensor(y), torch.tensor(pred)) == expected
    assert expected == (1.0 if pred_kind == "exact" else 0.0)


def test_r2_score_accepts_a_column_and_graph_tensors(rng: np.random.Generator) -> None:
    y = rng.normal(size=(25, 1))
    pred = torch.tensor(y + 0.3 * rng.normal(size=(25, 1)), requires_grad=True)
    got = r2_score(torch.tensor(y), pred)
    assert got == pytest.approx(sk_r2_score(y.ravel(), pred.detach().numpy().ravel()), rel=1e-12)


def test_r2_score_does_not_modify_inputs(rng: np.random.Generator) -> None:
    y = torch.tensor(rng.normal(size=20), dtype=torch.float32)
    p = torch.tensor(rng.normal(size=20), dtype=torch.float32)
    y0, p0 = y.clone(), p.clone()
    r2_score(y, p)
    assert torch.equal(y, y0) and torch.equal(p, p0)


@pytest.mark.parametrize(
    ("y_true", "y_pred", "name"),
    [
        (torch.zeros(5), torch.zeros(4), "y_pred"),
        (torch.zeros(5, 2), torch.zeros(5, 2), "y_true"),
        (torch.zeros(1), torch.zeros(1), "y_true"),
    ],
)
def test_r2_score_bad_shapes_raise_naming_the_argument(y_true: torch.Tensor, y_pred: torch.Tensor, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        r2_score(y_true, y_pred)


# --------------------------------------------------------------------------- weight_penalty


def _seeded_model(dropout: float = 0.0, batch_norm: bool = True, seed: int = 0) -> nn.Sequential:
    return build_model(6, hidden=9, dropout=dropout, batch_norm=batch_norm, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize(("l1", "l2"), [(0.01, 0.0), (0.0, 0.03), (0.02, 0.05), (0.0, 0.0)])
def test_weight_penalty_equals_hand_sum_over_linear_weights(l1: float, l2: float) -> None:
    model = _seeded_model()
    with torch.no_grad():  # make BN's affine parameters non-trivial: they must not count
        model[0].weight.fill_(3.0)
        model[0].bias.fill_(-2.0)
    linears = [m for m in model if isinstance(m, nn.Linear)]
    assert len(linears) == 3
    expected = sum(l1 * m.weight.detach().double().abs().sum().item() + l2 * (m.weight.detach().double() ** 2).sum().item() for m in linears)
    got = weight_penalty(model, l1=l1, l2=l2)
    assert isinstance(got, torch.Tensor) and got.ndim == 0
    assert got.item() == pytest.approx(expected, rel=1e-5, abs=1e-12)


def test_weight_penalty_gradient_is_l1_sign_plus_2_l2_w_and_nothing_else() -> None:
    l1, l2 = 0.03, 0.07
    model = _seeded_model(dropout=0.2)
    params = dict(model.named_parameters())
    grads = torch.autograd.grad(weight_penalty(model, l1=l1, l2=l2), list(params.values()), allow_unused=True)
    n_weights = 0
    for (name, p), g in zip(params.items(), grads):
        module = model[int(name.split(".")[0])]
        if isinstance(module, nn.Linear) and name.endswith("weight"):
            n_weights += 1
            expected = l1 * torch.sign(p.detach()) + 2 * l2 * p.detach()
            torch.testing.assert_close(g, expected, rtol=1e-5, atol=1e-7)
        else:  # biases and BatchNorm's gamma/beta: no penalty gradient
            assert g is None or torch.count_nonzero(g) == 0, name
    assert n_weights == 3


def test_weight_penalty_gradient_matches_finite_differences() -> None:
    torch_model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double()
    l1, l2 = 0.1, 0.2
    w = torch_model[0].weight
    analytic = torch.autograd.grad(weight_penalty(torch_model, l1, l2), w)[0]
    numeric = torch.zeros_like(w)
    h = 1e-6
    with torch.no_grad():
        for idx in itertools.product(range(w.shape[0]), range(w.shape[1])):
            old = w[idx].item()
            w[idx] = old + h
            plus = weight_penalty(torch_model, l1, l2).item()
            w[idx] = old - h
            minus = weight_penalty(torch_model, l1, l2).item()
            w[idx] = old
            numeric[idx] = (plus - minus) / (2 * h)
    torch.testing.assert_close(analytic, numeric, rtol=1e-6, atol=1e-7)


def test_weight_penalty_finds_nested_linears_and_ignores_other_layers() -> None:
    inner = nn.Sequential(nn.Linear(2, 2, bias=False), nn.LayerNorm(2))
    model = nn.Sequential(nn.Conv1d(1, 1, 1), inner, nn.BatchNorm1d(2))
    with torch.no_grad():
        inner[0].weight.copy_(torch.tensor([[1.0, -2.0], [0.5, 0.0]]))
        model[0].weight.fill_(100.0)
    # by hand: l1 * (1 + 2 + 0.5) + l2 * (1 + 4 + 0.25)
    assert weight_penalty(model, l1=0.1, l2=1.0).item() == pytest.approx(0.35 + 5.25)


def test_weight_penalty_without_linear_layers_is_zero() -> None:
    assert weight_penalty(nn.Sequential(nn.ReLU()), l1=1.0, l2=1.0).item() == 0.0


@pytest.mark.parametrize("name", ["l1", "l2"])
def test_weight_penalty_negative_coefficient_raises_naming_it(name: str) -> None:
    with pytest.raises(ValueError, match=name):
        weight_penalty(_seeded_model(), **{name: -0.1})


def test_weight_penalty_leaves_the_model_unchanged() -> None:
    model = _seeded_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    weight_penalty(model, l1=0.5, l2=0.5).backward()
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k


# --------------------------------------------------------------------------- build_model


@pytest.mark.parametrize(("dropout", "batch_norm"), list(itertools.product([0.0, 0.25], [True, False])))
@pytest.mark.parametrize("seeded", [False, True])
def test_build_model_layer_list_matches_the_contract(dropout: float, batch_norm: bool, seeded: bool) -> None:
    n_features, hidden = 7, 11
    gen = torch.Generator().manual_seed(1) if seeded else None
    model = build_model(n_features, hidden=hidden, dropout=dropout, batch_norm=batch_norm, generator=gen)
    assert isinstance(model, nn.Sequential)
    expected: list[type] = ([nn.BatchNorm1d] if batch_norm else []) + [nn.Linear, nn.ReLU]
    expected += ([nn.Dropout] if dropout else []) + [nn.Linear, nn.ReLU] + ([nn.Dropout] if dropout else []) + [nn.Linear]
    assert len(model) == len(expected)
    for layer, kind in zip(model, expected):
        assert isinstance(layer, kind), (layer, kind)
    linears = [m for m in model if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(n_features, hidden), (hidden, hidden), (hidden, 1)]
    assert all(m.bias is not None for m in linears)
    if batch_norm:
        bn = model[0]
        assert bn.num_features == n_features and bn.affine and bn.track_running_stats
        assert bn.momentum == 0.1 and bn.eps == 1e-5
    for d in (m for m in model if isinstance(m, nn.Dropout)):
        assert d.p == dropout
    x = torch.randn(5, n_features, generator=torch.Generator().manual_seed(2))
    assert model(x).shape == (5, 1)
    model.eval()
    assert model(x[:1]).shape == (1, 1)


def test_build_model_defaults_are_the_seed_003_model() -> None:
    model = build_model(20)
    kinds = [type(m) for m in model]
    assert kinds == [nn.BatchNorm1d, nn.Linear, nn.ReLU, nn.Linear, nn.ReLU, nn.Linear]
    assert model[1].out_features == 128 and model[3].in_features == 128


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"dropout": -0.1}, "dropout"),
        ({"dropout": 1.0}, "dropout"),
        ({"dropout": 1.5}, "dropout"),
        ({"hidden": 0}, "hidden"),
        ({"hidden": 2.5}, "hidden"),
        ({"n_features": 0}, "n_features"),
    ],
)
def test_build_model_bad_arguments_raise_naming_them(kwargs: dict, name: str) -> None:
    args = {"n_features": 3, **kwargs}
    with pytest.raises(ValueError, match=name):
        build_model(**args)


def test_build_model_with_generator_is_reproducible_and_leaves_global_rng_alone() -> None:
    state = torch.get_rng_state()
    a = build_model(8, hidden=16, dropout=0.3, generator=torch.Generator().manual_seed(5))
    b = build_model(8, hidden=16, dropout=0.3, generator=torch.Generator().manual_seed(5))
    c = build_model(8, hidden=16, dropout=0.3, generator=torch.Generator().manual_seed(6))
    assert torch.equal(torch.get_rng_state(), state)
    for (name, pa), pb, pc in zip(a.named_parameters(), b.parameters(), c.parameters()):
        assert torch.equal(pa, pb), name
        if name.startswith(("1.", "4.", "7.")):  # Linear layers: different seed, different draw
            assert not torch.equal(pa, pc), name
    # dropout masks come from the generator too: same seed -> same training-mode output
    x = torch.ones(4, 8)
    torch.testing.assert_close(a(x), b(x), rtol=0, atol=0)
    assert torch.equal(torch.get_rng_state(), state)


def test_build_model_seeded_init_has_torch_default_distribution() -> None:
    # torch's default Linear init is U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases.
    model = build_model(400, hidden=300, batch_norm=False, generator=torch.Generator().manual_seed(0))
    for layer in (model[0], model[2]):
        bound = 1 / math.sqrt(layer.in_features)
        w = layer.weight.detach()
        assert w.abs().max() <= bound
        assert w.abs().max() > 0.99 * bound
        assert w.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.02)
        assert w.mean().item() == pytest.approx(0.0, abs=0.01 * bound)
        b = layer.bias.detach()
        assert b.abs().max() <= bound and b.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.25)


# --------------------------------------------------------------------------- property check


_finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.integers(2, 40), elements=_finite), st.data())
def test_r2_score_matches_sklearn_property(y: np.ndarray, data: st.DataObject) -> None:
    # A constant y is covered above; here sklearn's mean of equal floats may round
    # to a tiny non-zero spread and give -1e31 where the exact answer is 0.
    assume(np.ptp(y) > 1e-6)
    pred = data.draw(arrays(np.float64, y.shape, elements=_finite))
    expected = sk_r2_score(y, pred)
    got = r2_score(torch.tensor(y), torch.tensor(pred))
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-9)


# ---------------------------------------------------------------- the maths cores the book shows


def test_cores_compute_the_formulas():
    """r2_score_core, weight_penalty_core and build_model_core called directly."""
    from sklearn.metrics import r2_score as sk_r2

    from regnorm_lab.combining import build_model_core, r2_score_core, weight_penalty_core

    gen = torch.Generator().manual_seed(0)
    y, p = torch.randn(30, generator=gen, dtype=torch.float64), torch.randn(30, generator=gen, dtype=torch.float64)
    assert r2_score_core(y, p) == pytest.approx(sk_r2(y.numpy(), p.numpy()), rel=1e-12)
    model = build_model_core(5, 8, 0.25, True, torch.nn.Linear, torch.nn.Dropout)
    kinds = [type(m).__name__ for m in model]
    assert kinds == ["BatchNorm1d", "Linear", "ReLU", "Dropout", "Linear", "ReLU", "Dropout", "Linear"]
    kernels = [m.weight for m in model if isinstance(m, torch.nn.Linear)]
    expected = sum(0.1 * w.abs().sum() + 0.2 * (w**2).sum() for w in kernels)
    assert weight_penalty_core(model, 0.1, 0.2).item() == pytest.approx(expected.item(), rel=1e-6)
