"""train_mlp / train_many: reproducibility, loss composition, decoupled decay, overfitting direction, quiet by default."""

from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import r2_score as sk_r2_score
from torch import nn

from regnorm_lab.combining import build_model
from regnorm_lab.studies.datasets import RegressionTask, make_regression_task
from regnorm_lab.studies.training import History, TrainConfig, TrainResult, train_many, train_mlp


@pytest.fixture(scope="module")
def small_task() -> RegressionTask:
    return make_regression_task(n_train=64, n_val=128, n_features=8, n_informative=3, rng=np.random.default_rng(11))


@pytest.fixture(scope="module")
def overfit_task() -> RegressionTask:
    return make_regression_task(n_val=1024, rng=np.random.default_rng(0))


FAST = TrainConfig(hidden=32, epochs=6, batch_size=16)


def _histories_equal(a: History, b: History) -> bool:
    return a == b  # dataclass equality compares every list exactly


def test_same_seed_gives_identical_history_and_weights(small_task: RegressionTask) -> None:
    cfg = replace(FAST, dropout=0.3, seed=4)
    a, b = train_mlp(small_task, cfg), train_mlp(small_task, cfg)
    assert _histories_equal(a.history, b.history)
    for pa, pb in zip(a.model.parameters(), b.model.parameters()):
        assert torch.equal(pa, pb)


def test_different_seed_gives_a_different_run(small_task: RegressionTask) -> None:
    a = train_mlp(small_task, replace(FAST, seed=0))
    b = train_mlp(small_task, replace(FAST, seed=1))
    assert a.history.val_loss != b.history.val_loss


def test_training_leaves_global_torch_rng_alone(small_task: RegressionTask) -> None:
    state = torch.get_rng_state()
    train_mlp(small_task, replace(FAST, dropout=0.2))
    assert torch.equal(torch.get_rng_state(), state)


def test_history_is_eval_mode_data_loss_of_the_final_model(small_task: RegressionTask) -> None:
    cfg = replace(FAST, l1=0.01, dropout=0.2)
    result = train_mlp(small_task, cfg)
    h = result.history
    assert h.epoch == list(range(1, cfg.epochs + 1))
    for series in (h.train_loss, h.val_loss, h.train_r2, h.val_r2, h.penalty):
        assert len(series) == cfg.epochs
    model = result.model
    assert not model.training
    X_train, y_train, X_val, y_val = small_task.tensors()
    with torch.no_grad():
        p_train = model(X_train).reshape(-1)
        p_val = model(X_val).reshape(-1)
    # data MSE only (no penalty), in eval mode: recomputed here independently
    assert h.train_loss[-1] == pytest.approx(F.mse_loss(p_train, y_train).item(), rel=1e-5)
    assert h.val_loss[-1] == pytest.approx(F.mse_loss(p_val, y_val).item(), rel=1e-5)
    assert h.train_r2[-1] == pytest.approx(sk_r2_score(small_task.y_train, p_train.numpy()), rel=1e-4, abs=1e-5)
    assert h.val_r2[-1] == pytest.approx(sk_r2_score(small_task.y_val, p_val.numpy()), rel=1e-4, abs=1e-5)
    hand_penalty = 0.01 * sum(m.weight.abs().sum().item() for m in model.modules() if isinstance(m, nn.Linear))
    assert h.penalty[-1] == pytest.approx(hand_penalty, rel=1e-5)
    assert result.final_val_r2 == h.val_r2[-1]
    assert result.best_val_r2 == max(h.val_r2)
    assert result.gap == pytest.approx(h.train_r2[-1] - h.val_r2[-1])


def test_eval_every_records_every_kth_epoch_and_the_last(small_task: RegressionTask) -> None:
    full = train_mlp(small_task, replace(FAST, epochs=7))
    sparse = train_mlp(small_task, replace(FAST, epochs=7, eval_every=3))
    assert sparse.history.epoch == [3, 6, 7]
    # evaluation does not change training: the recorded epochs agree with the full history
    for i, e in enumerate(sparse.history.epoch):
        assert sparse.history.val_loss[i] == full.history.val_loss[e - 1]


def test_one_step_sgd_update_is_mse_plus_keras_l1_penalty(small_task: RegressionTask) -> None:
    """Full batch, one SGD step: W <- W - lr * (dMSE/dW + l1 * sign(W)); biases get the MSE gradient only."""
    lr, l1 = 0.05, 0.02
    start = build_model(small_task.n_features, hidden=16, generator=torch.Generator().manual_seed(3))
    snapshot = copy.deepcopy(start.state_dict())
    cfg = TrainConfig(hidden=16, epochs=1, batch_size=None, optimizer="sgd", lr=lr, l1=l1)
    trained = train_mlp(small_task, cfg, model=start).model

    # the model passed in is not modified
    for k, v in start.state_dict().items():
        assert torch.equal(v, snapshot[k]), k

    ref = copy.deepcopy(start).train()
    X, y, _, _ = small_task.tensors()
    loss = F.mse_loss(ref(X).reshape(-1), y)
    names = [n for n, _ in ref.named_parameters()]
    grads = torch.autograd.grad(loss, list(ref.parameters()))
    trained_params = dict(trained.named_parameters())
    for name, p, g in zip(names, ref.parameters(), grads):
        is_kernel = isinstance(ref[int(name.split(".")[0])], nn.Linear) and name.endswith("weight")
        expected = p.detach() - lr * (g + (l1 * torch.sign(p.detach()) if is_kernel else 0.0))
        torch.testing.assert_close(trained_params[name].detach(), expected, rtol=1e-5, atol=1e-6)


def test_decoupled_weight_decay_reaches_linear_weights_only(small_task: RegressionTask) -> None:
    """SGD with weight_decay wd: kernels get an extra -lr*wd*W; biases and BatchNorm parameters none."""
    lr, wd = 0.05, 0.5
    start = build_model(small_task.n_features, hidden=16, generator=torch.Generator().manual_seed(5))
    base = TrainConfig(hidden=16, epochs=1, batch_size=None, optimizer="sgd", lr=lr)
    plain = dict(train_mlp(small_task, base, model=start).model.named_parameters())
    decayed = dict(train_mlp(small_task, replace(base, weight_decay=wd), model=start).model.named_parameters())
    start_params = dict(start.named_parameters())
    for name, p0 in start_params.items():
        is_kernel = isinstance(start[int(name.split(".")[0])], nn.Linear) and name.endswith("weight")
        diff = decayed[name].detach() - plain[name].detach()
        expected = -lr * wd * p0.detach() if is_kernel else torch.zeros_like(p0)
        torch.testing.assert_close(diff, expected, rtol=1e-4, atol=1e-6)


def test_adamw_weight_decay_shrinks_the_kernels(small_task: RegressionTask) -> None:
    base = replace(FAST, optimizer="adamw", epochs=10)
    a = train_mlp(small_task, base).model
    b = train_mlp(small_task, replace(base, weight_decay=5.0)).model
    norm = lambda m: sum(l.weight.norm().item() for l in m.modules() if isinstance(l, nn.Linear))  # noqa: E731
    assert norm(b) < 0.8 * norm(a)


def test_unregularised_run_overfits_and_l1_or_dropout_narrow_the_gap(overfit_task: RegressionTask) -> None:
    cfg = TrainConfig(epochs=100, eval_every=100)
    none = train_mlp(overfit_task, cfg)
    l1 = train_mlp(overfit_task, replace(cfg, l1=1e-2))
    drop = train_mlp(overfit_task, replace(cfg, dropout=0.5))
    # measured (torch 2.13 CPU): none 0.99 / 0.51 (gap 0.48); l1 0.82 / 0.62 (gap 0.20); dropout 0.95 / 0.56 (gap 0.38)
    assert none.final_train_r2 > 0.95
    assert none.gap > 0.3
    assert l1.gap < none.gap - 0.15
    assert l1.final_val_r2 > none.final_val_r2
    assert drop.gap < none.gap - 0.05


def test_without_input_batch_norm_raw_scales_hurt(overfit_task: RegressionTask) -> None:
    cfg = TrainConfig(epochs=40, eval_every=40)
    with_bn = train_mlp(overfit_task, cfg)
    without = train_mlp(overfit_task, replace(cfg, batch_norm=False))
    assert with_bn.final_train_r2 > without.final_train_r2 + 0.2


class _ThreadProbe(nn.Module):
    """Wraps a model and records torch's thread setting whenever it runs."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.seen: set[int] = set()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.add(torch.get_num_threads())
        return self.inner(x)


@pytest.mark.parametrize("num_threads", [1, 2])
def test_runs_on_the_requested_threads_and_restores_the_setting(small_task: RegressionTask, num_threads: int) -> None:
    before = torch.get_num_threads()
    probe = _ThreadProbe(build_model(small_task.n_features, hidden=8, generator=torch.Generator().manual_seed(0)))
    try:
        torch.set_num_threads(3)
        trained = train_mlp(small_task, replace(FAST, epochs=1), model=probe, num_threads=num_threads).model
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)
    assert trained.seen == {num_threads}


def test_num_threads_none_keeps_the_setting_and_bad_values_raise(small_task: RegressionTask) -> None:
    before = torch.get_num_threads()
    probe = _ThreadProbe(build_model(small_task.n_features, hidden=8, generator=torch.Generator().manual_seed(0)))
    trained = train_mlp(small_task, replace(FAST, epochs=1), model=probe, num_threads=None).model
    assert trained.seen == {before}
    with pytest.raises(ValueError, match="num_threads"):
        train_mlp(small_task, FAST, num_threads=0)


def test_progress_false_prints_nothing(small_task: RegressionTask, capsys: pytest.CaptureFixture[str]) -> None:
    train_mlp(small_task, FAST, progress=False)
    train_many(small_task, [FAST], progress=False)
    out, err = capsys.readouterr()
    assert out == "" and err == ""


def test_progress_true_shows_a_bar(small_task: RegressionTask, capsys: pytest.CaptureFixture[str]) -> None:
    train_mlp(small_task, FAST, progress=True)
    _, err = capsys.readouterr()
    assert "epochs" in err


def test_train_many_matches_individual_runs_in_order(small_task: RegressionTask, capsys: pytest.CaptureFixture[str]) -> None:
    configs = [replace(FAST, seed=s, l2=l2) for s, l2 in [(0, 0.0), (1, 0.01), (2, 0.0)]]
    results = train_many(small_task, configs)
    assert "runs" in capsys.readouterr().err
    assert [r.config for r in results] == configs
    for r, c in zip(results, configs):
        assert isinstance(r, TrainResult)
        assert r.history == train_mlp(small_task, c).history


@pytest.mark.parametrize("batch_size", [None, 21, 63, 64, 1000])
def test_any_batch_size_trains_including_a_one_row_tail(small_task: RegressionTask, batch_size: int | None) -> None:
    # 64 rows: batch 21 leaves a 1-row tail, which BatchNorm cannot take; it is skipped.
    result = train_mlp(small_task, replace(FAST, epochs=2, batch_size=batch_size))
    assert np.isfinite(result.history.train_loss).all()


@pytest.mark.parametrize("optimizer", ["adam", "adamw", "sgd"])
def test_every_optimizer_reduces_the_training_loss(small_task: RegressionTask, optimizer: str) -> None:
    cfg = replace(FAST, optimizer=optimizer, epochs=15, lr=1e-2 if optimizer != "sgd" else 5e-2, momentum=0.9 if optimizer == "sgd" else 0.0)
    h = train_mlp(small_task, cfg).history
    assert h.train_loss[-1] < 0.5 * h.train_loss[0]


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"l1": -1.0}, "l1"),
        ({"l2": -1.0}, "l2"),
        ({"weight_decay": -1.0}, "weight_decay"),
        ({"weight_decay": 0.1}, "weight_decay"),  # with plain Adam: coupled, use l2 or adamw
        ({"dropout": 1.0}, "dropout"),
        ({"dropout": -0.5}, "dropout"),
        ({"lr": 0.0}, "lr"),
        ({"epochs": 0}, "epochs"),
        ({"hidden": 0}, "hidden"),
        ({"batch_size": 0}, "batch_size"),
        ({"optimizer": "rmsprop"}, "optimizer"),
        ({"eval_every": 0}, "eval_every"),
        ({"momentum": -0.1}, "momentum"),
    ],
)
def test_bad_config_raises_naming_the_field(kwargs: dict, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        TrainConfig(**kwargs)


def test_summary_row_has_config_and_scores(small_task: RegressionTask) -> None:
    r = train_mlp(small_task, replace(FAST, l1=0.001))
    row = r.summary()
    assert row["l1"] == 0.001 and row["hidden"] == 32
    assert row["final_val_r2"] == r.history.val_r2[-1] and row["best_val_r2"] == max(r.history.val_r2)
