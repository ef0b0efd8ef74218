"""The batched trainer equals the single-model trainer, model by model (float64), and checks its input."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from sklearn.metrics import r2_score as sk_r2_score

from regnorm_lab.studies.batched import train_batched
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


@pytest.mark.parametrize("share_task", [True, False])
def test_batched_equals_single_trainer_in_float64(tasks: list[RegressionTask], share_task: bool) -> None:
    data = tasks[0] if share_task else tasks
    batched = train_batched(data, CONFIGS, dtype=torch.float64)
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
    ],
)
def test_bad_input_raises_naming_the_argument(kwargs: dict, name: str) -> None:
    kwargs.setdefault("tasks", _task(0))
    with pytest.raises(ValueError, match=name):
        train_batched(**kwargs)


def test_penalty_layers_is_validated() -> None:
    with pytest.raises(ValueError, match="penalty_layers"):
        TrainConfig(penalty_layers="last")
