"""The batched trainer equals the single-model trainer, model by model (float64), and checks its input; its hand-written backward equals autograd and its Adam equals torch's."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from sklearn.metrics import r2_score as sk_r2_score

from regnorm_lab.studies.batched import train_batched
from regnorm_lab.studies.batched_mlp import FusedAdam, Switches, Workspace, loss_grads
from regnorm_lab.studies.datasets import RegressionTask, make_regression_task
from regnorm_lab.studies.training import TrainConfig, kernel_penalty, train_mlp

BASE = TrainConfig(hidden=16, epochs=12, batch_size=16, eval_every=12)

# Every per-model knob at once: seeds, L1/L2, first-kernel vs all kernels, dropout, BN on/off, two learning rates.
CONFIGS = [
    replace(BASE, seed=1, l1=0.01, dropout=0.2, penalty_layers="first"),
    replace(BASE, seed=2, l2=0.02, batch_norm=False),
    replace(BASE, seed=3, l1=0.003, l2=0.01, dropout=0.4, lr=3e-3),
    replace(BASE, seed=3, l1=0.003, l2=0.01, dropout=0.4, lr=3e-3, penalty_layers="first"),
    replace(BASE, seed=5, lr=3e-3, batch_norm=False, dropout=0.1),
]


def _task(seed: int) -> RegressionTask:
    return make_regression_task(n_train=70, n_val=96, n_features=8, n_informative=3, rng=np.random.default_rng(seed))


@pytest.fixture(scope="module")
def tasks() -> list[RegressionTask]:
    return [_task(s) for s in range(len(CONFIGS))]


@pytest.mark.parametrize("share_task, kernel", [(True, "fast"), (False, "fast"), (False, "autograd")])
def test_batched_equals_single_trainer_in_float64(tasks: list[RegressionTask], share_task: bool, kernel: str) -> None:
    data = tasks[0] if share_task else tasks
    batched = train_batched(data, CONFIGS, dtype=torch.float64, kernel=kernel)
    for k, config in enumerate(CONFIGS):
        task = tasks[0] if share_task else tasks[k]
        single = train_mlp(task, config, dtype=torch.float64)
        want, got = single.model.state_dict(), batched.model(k).state_dict()
        assert want.keys() == got.keys()
        for name in want:
            if want[name].is_floating_point():
                torch.testing.assert_close(got[name], want[name], rtol=1e-9, atol=1e-11, msg=f"model {k}: {name}")
        # the scores are R² of the final model, as sklearn computes them
        with torch.no_grad():
            pred = single.model(torch.as_tensor(task.X_val, dtype=torch.float64)).reshape(-1).numpy()
        assert batched.scores["val_r2"][k] == pytest.approx(sk_r2_score(task.y_val.astype(np.float64), pred), abs=1e-9)
        assert batched.scores["train_r2"][k] == pytest.approx(single.final_train_r2, abs=1e-9)


def test_models_differ_when_configs_do(tasks: list[RegressionTask]) -> None:
    batched = train_batched(tasks[0], CONFIGS[2:4], dtype=torch.float64)
    # same seed and data, only the penalty's reach differs: the second kernel must end up different
    w_all, w_first = batched.params["w2"][0], batched.params["w2"][1]
    assert (w_all - w_first).abs().max() > 1e-4


def test_first_kernel_penalty_touches_only_the_first_linear() -> None:
    config = TrainConfig(l1=0.5, l2=0.25, penalty_layers="first", hidden=4)
    model = train_mlp(_task(0), replace(config, epochs=1)).model
    first = next(m for m in model.modules() if isinstance(m, torch.nn.Linear))
    want = 0.5 * first.weight.abs().sum() + 0.25 * first.weight.pow(2).sum()
    assert float(kernel_penalty(model, config).detach()) == pytest.approx(float(want.detach()), rel=1e-6)
    assert float(kernel_penalty(model, replace(config, penalty_layers="all")).detach()) > float(want.detach())


def test_test_split_is_scored_when_present() -> None:
    class WithTest:
        def __init__(self, t: RegressionTask, extra: RegressionTask) -> None:
            self.X_train, self.y_train, self.X_val, self.y_val = t.X_train, t.y_train, t.X_val, t.y_val
            self.X_test, self.y_test = extra.X_val, extra.y_val

    batched = train_batched(WithTest(_task(0), _task(1)), CONFIGS[:2], dtype=torch.float64)
    assert set(batched.scores) == {"train_r2", "val_r2", "test_r2"}
    assert batched.scores["test_r2"].shape == (2,)
    assert not np.allclose(batched.scores["test_r2"], batched.scores["val_r2"])


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"configs": []}, "configs"),
        ({"configs": [BASE, replace(BASE, hidden=8)]}, "hidden"),
        ({"configs": [replace(BASE, optimizer="sgd")]}, "optimizer"),
        ({"configs": [BASE], "dtype": torch.float16}, "dtype"),
        ({"configs": [BASE], "num_threads": 0}, "num_threads"),
        ({"configs": [BASE, BASE], "tasks": [_task(0)]}, "tasks"),
        ({"configs": [BASE], "kernel": "jit"}, "kernel"),
    ],
)
def test_bad_input_raises_naming_the_argument(kwargs: dict, name: str) -> None:
    kwargs.setdefault("tasks", _task(0))
    with pytest.raises(ValueError, match=name):
        train_batched(**kwargs)


def test_penalty_layers_is_validated() -> None:
    with pytest.raises(ValueError, match="penalty_layers"):
        TrainConfig(penalty_layers="last")


# --------------------------------------------------------------------------- the kernel: hand-written backward, Adam


def _reference_loss(p: dict[str, torch.Tensor], x, y, bn, masks, l1, l2, l1_rest, l2_rest) -> torch.Tensor:
    """Sum over models of the per-model training loss, written with torch.nn.functional for autograd."""
    total = torch.zeros((), dtype=x.dtype)
    for k in range(x.shape[0]):
        h = x[k]
        if bn[k]:
            h = torch.nn.functional.batch_norm(h, None, None, p["bn_weight"][k], p["bn_bias"][k], training=True)
        h = torch.relu(torch.nn.functional.linear(h, p["w1"][k], p["b1"][k]))
        if masks[k] is not None:
            h = h * masks[k][0]
        h = torch.relu(torch.nn.functional.linear(h, p["w2"][k], p["b2"][k]))
        if masks[k] is not None:
            h = h * masks[k][1]
        out = torch.nn.functional.linear(h, p["w3"][k], p["b3"][k]).reshape(-1)
        loss = torch.nn.functional.mse_loss(out, y[k])
        loss = loss + l1[k] * p["w1"][k].abs().sum() + l2[k] * p["w1"][k].pow(2).sum()
        for w in (p["w2"][k], p["w3"][k]):
            loss = loss + l1_rest[k] * w.abs().sum() + l2_rest[k] * w.pow(2).sum()
        total = total + loss
    return total


def test_hand_written_backward_equals_autograd() -> None:
    K, B, F, H = 6, 9, 5, 7
    g = torch.Generator().manual_seed(0)
    d = torch.float64

    def rand(*shape: int, scale: float = 1.0) -> torch.Tensor:
        return (torch.randn(*shape, generator=g, dtype=d) * scale).contiguous()

    p = {"bn_weight": 1 + rand(K, F, scale=0.3), "bn_bias": rand(K, F, scale=0.3), "w1": rand(K, H, F, scale=0.5),
         "b1": rand(K, H, scale=0.1), "w2": rand(K, H, H, scale=0.4), "b2": rand(K, H, scale=0.1),
         "w3": rand(K, 1, H, scale=0.4), "b3": rand(K, 1, scale=0.1)}
    p["w1"][0, 0, 0] = 0.0  # sign(0) = 0, as autograd's abs
    x, y = rand(K, B, F, scale=3.0) + 1.0, rand(K, B)
    bn = [True, False, True, True, False, True]
    n_drop = 3
    keep = [0.7, 0.5, 0.9]
    masks = [tuple((torch.rand(B, H, generator=g, dtype=d) < q).to(d) / q for _ in range(2)) for q in keep]
    l1, l2 = [0.01, 0.0, 0.02, 0.0, 0.03, 0.005], [0.0, 0.02, 0.01, 0.0, 0.0, 0.04]
    l1_rest, l2_rest = [0.0, 0.0, 0.02, 0.0, 0.03, 0.0], [0.0, 0.0, 0.01, 0.0, 0.0, 0.0]

    def col(v) -> torch.Tensor:
        return torch.tensor(v, dtype=d).view(-1, 1, 1)

    sw = Switches(bn=col([float(b) for b in bn]), n_drop=n_drop, l1=col(l1), l2=col(l2), l1_rest=col(l1_rest),
                  l2_rest=col(l2_rest), rest=(2, 5))
    ws = Workspace(p, B)
    m1 = torch.stack([m[0] for m in masks])
    m2 = torch.stack([m[1] for m in masks])
    mse, mean, var = loss_grads(p, x, y, sw, (m1, m2), ws)

    leaves = {n: t.clone().requires_grad_() for n, t in p.items()}
    ref = _reference_loss(leaves, x, y, bn, masks + [None] * (K - n_drop), l1, l2, l1_rest, l2_rest)
    grads = torch.autograd.grad(ref, list(leaves.values()))
    for (name, want) in zip(leaves, grads):
        if name.startswith("bn_"):
            want = want * torch.tensor([float(b) for b in bn], dtype=d).unsqueeze(1)  # BN off: no update
        torch.testing.assert_close(ws.grads[name], want, rtol=1e-11, atol=1e-13, msg=name)
    torch.testing.assert_close(mean, x.mean(1))
    torch.testing.assert_close(var, x.var(1, unbiased=False))
    assert mse.shape == (K,)


def test_fused_adam_on_model_ranges_equals_torch_adam() -> None:
    g = torch.Generator().manual_seed(1)
    params = {"a": torch.randn(4, 3, 2, generator=g), "b": torch.randn(4, 5, generator=g)}
    lrs = [0.01, 0.01, 0.003, 0.03]
    ours = FusedAdam({n: t.clone() for n, t in params.items()}, [(0, 2, 0.01), (2, 3, 0.003), (3, 4, 0.03)])
    theirs = [{n: t[k].clone().requires_grad_() for n, t in params.items()} for k in range(4)]
    opts = [torch.optim.Adam(list(theirs[k].values()), lr=lrs[k], fused=True) for k in range(4)]
    for _ in range(3):
        grads = {n: torch.randn(t.shape, generator=g) for n, t in params.items()}
        ours.step(grads)
        for k in range(4):
            for n, leaf in theirs[k].items():
                leaf.grad = grads[n][k].clone()
            opts[k].step()
    for k in range(4):
        for n in params:
            assert torch.equal(ours.params[n][k], theirs[k][n].detach()), (k, n)


def test_model_order_does_not_change_a_model(tasks: list[RegressionTask]) -> None:
    # train_batched reorders models internally (dropout first, learning rates side by side); results come back
    # in the caller's order whatever order the caller used
    forward = train_batched(tasks, CONFIGS, dtype=torch.float64)
    backward = train_batched(tasks[::-1], CONFIGS[::-1], dtype=torch.float64)
    for name, t in forward.params.items():
        torch.testing.assert_close(backward.params[name].flip(0), t, rtol=1e-12, atol=1e-14, msg=name)
    np.testing.assert_allclose(backward.scores["val_r2"][::-1], forward.scores["val_r2"], rtol=0, atol=1e-12)


def test_a_models_result_does_not_depend_on_its_chunk(tasks: list[RegressionTask]) -> None:
    # run_design trains chunks of any size on any scheduler: a model's float32 result must not depend on the
    # others trained with it (they are independent; only summation order could differ, and it does not here)
    together = train_batched(tasks, CONFIGS)
    for k in (0, 3):
        alone = train_batched(tasks[k], [CONFIGS[k]])
        for name, t in alone.params.items():
            torch.testing.assert_close(t[0], together.params[name][k], rtol=1e-6, atol=1e-7, msg=name)
