"""Train K seed-003 MLPs at once, as one vectorised model, with the single trainer's random streams.

A study runs hundreds of small trainings (configurations x data draws x
seeds). Run one by one with :func:`~regnorm_lab.studies.training.train_mlp`,
each optimizer step of the 2x128 MLP costs about 0.6 ms of Python and
dispatch overhead for 6 MFLOP of arithmetic. Here the K models' weights are
stacked along a leading model axis and every layer is one batched matmul
(``torch.baddbmm``), so the overhead is paid once per step for all K.

Each model keeps its own everything:

- **data**: its own task (data draw) and its own batch order;
- **randomness**: its own ``torch.Generator(seed)``, drawn from in exactly
  the order :func:`train_mlp` draws (the initial weights by
  :func:`~regnorm_lab.combining.build_model`, then per epoch one
  ``randperm``, then per step one Bernoulli mask per dropout layer), so for
  the same config and seed the trained weights equal the single trainer's
  (``tests/studies/test_batched.py`` checks it in float64);
- **hyperparameters**: ``l1``, ``l2``, ``penalty_layers``, ``dropout``,
  ``batch_norm`` (a per-model mask: a model without it passes its input
  through, and its unused BatchNorm parameters get zero gradients, which
  Adam turns into zero updates) and ``lr`` (models are grouped by learning
  rate into parameter groups of one fused Adam).

What must be shared is the shape of the computation: ``hidden``,
``epochs``, ``batch_size``, the number of training rows and features, and
the optimizer (Adam, as the seed's model). Only the final model is
evaluated (train, validation and, when the task has one, test R²).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..combining import build_model
from .training import TrainConfig

__all__ = ["BatchedResult", "train_batched", "SHARED_FIELDS"]

#: TrainConfig fields every model of one batched run must share.
SHARED_FIELDS = ("hidden", "epochs", "batch_size", "optimizer")
_EPS_BN = 1e-5
_MOMENTUM_BN = 0.1
_PARAM_NAMES = ("bn_weight", "bn_bias", "w1", "b1", "w2", "b2", "w3", "b3")


@dataclass
class BatchedResult:
    """The K trained models of one batched run: final scores and stacked weights.

    Attributes:
        configs: the K configurations, in the order given.
        scores: ``{"train_r2", "val_r2", "test_r2"}`` -> float64 arrays of
            length K (``test_r2`` only when every task has a test split).
        params: stacked final parameters, torch's layout with a leading model
            axis (``w1`` is ``(K, hidden, n_features)``), plus
            ``running_mean``/``running_var`` of the input BatchNorm.

    Shape:
        every ``scores`` array: ``(K,)``; ``params[name]``: ``(K, *shape)``.
    """

    configs: list[TrainConfig]
    scores: dict[str, np.ndarray]
    params: dict[str, torch.Tensor]

    def model(self, k: int) -> nn.Sequential:
        """Model ``k`` as the ``nn.Sequential`` that :func:`build_model` makes, with its trained weights (eval mode)."""
        c = self.configs[k]
        n_features = self.params["w1"].shape[2]
        net = build_model(n_features, c.hidden, c.dropout, c.batch_norm).to(self.params["w1"].dtype)
        linears = [m for m in net if isinstance(m, nn.Linear)]
        with torch.no_grad():
            for i, lin in enumerate(linears, start=1):
                lin.weight.copy_(self.params[f"w{i}"][k])
                lin.bias.copy_(self.params[f"b{i}"][k])
            if c.batch_norm:
                bn = net[0]
                bn.weight.copy_(self.params["bn_weight"][k])
                bn.bias.copy_(self.params["bn_bias"][k])
                bn.running_mean.copy_(self.params["running_mean"][k])
                bn.running_var.copy_(self.params["running_var"][k])
        return net.eval()


def _check_configs(configs: Sequence[TrainConfig]) -> list[TrainConfig]:
    configs = list(configs)
    if not configs:
        raise ValueError("configs must hold at least one TrainConfig")
    for c in configs:
        if not isinstance(c, TrainConfig):
            raise ValueError(f"configs must hold TrainConfig objects, got {type(c).__name__}")
    for name in SHARED_FIELDS:
        values = {getattr(c, name) for c in configs}
        if len(values) > 1:
            raise ValueError(f"configs must share {name} in one batched run, got {sorted(map(str, values))}")
    if configs[0].optimizer != "adam":
        raise ValueError(f"configs: the batched trainer implements optimizer='adam' only, got {configs[0].optimizer!r}")
    return configs


def _stack_data(tasks: Sequence, K: int, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """Each split of the K tasks stacked along a new leading model axis (a single task is shared)."""
    if not isinstance(tasks, Sequence):
        tasks = [tasks] * K
    if len(tasks) != K:
        raise ValueError(f"tasks must be one task or one per config ({K}), got {len(tasks)}")
    splits = ["train", "val"] + (["test"] if all(hasattr(t, "X_test") for t in tasks) else [])
    out: dict[str, torch.Tensor] = {}
    for split in splits:
        for part in ("X", "y"):
            arrays = [np.asarray(getattr(t, f"{part}_{split}")) for t in tasks]
            if len({a.shape for a in arrays}) > 1:
                raise ValueError(f"tasks must have equal shapes, {part}_{split} differs")
            out[f"{part}_{split}"] = torch.as_tensor(np.stack(arrays)).to(dtype)
    return out


class _Stack:
    """The K models' parameters as leaf tensors, one set per learning-rate group (contiguous model ranges)."""

    def __init__(self, n_features: int, configs: list[TrainConfig], gens: list[torch.Generator], dtype: torch.dtype):
        per_model = []
        for c, g in zip(configs, gens):
            # The very call train_mlp makes, so the generator is consumed identically.
            net = build_model(n_features, c.hidden, c.dropout, c.batch_norm, generator=g)
            lin = [m for m in net if isinstance(m, nn.Linear)]
            per_model.append(
                [torch.ones(n_features), torch.zeros(n_features)]
                + [t for m in lin for t in (m.weight.detach(), m.bias.detach())]
            )
        lrs = [c.lr for c in configs]
        self.groups: list[tuple[int, int]] = []  # [start, stop) of equal-lr runs, in model order
        start = 0
        for k in range(1, len(configs) + 1):
            if k == len(configs) or lrs[k] != lrs[start]:
                self.groups.append((start, k))
                start = k
        self.leaves: list[list[torch.Tensor]] = [
            [torch.stack([per_model[k][i] for k in range(a, b)]).to(dtype).requires_grad_() for i in range(8)]
            for a, b in self.groups
        ]

    def tensors(self) -> dict[str, torch.Tensor]:
        """The stacked parameters over all K models (a cat when there are several lr groups)."""
        if len(self.leaves) == 1:
            return dict(zip(_PARAM_NAMES, self.leaves[0]))
        return {n: torch.cat([g[i] for g in self.leaves]) for i, n in enumerate(_PARAM_NAMES)}


def _forward(
    p: dict[str, torch.Tensor],
    x: torch.Tensor,
    bn_on: torch.Tensor,
    stats: tuple[torch.Tensor, torch.Tensor] | None,
    masks: tuple[torch.Tensor, torch.Tensor] | None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The K MLPs on their own batches; ``stats`` given means eval mode (running statistics).

    Returns:
        ``(out, batch_mean, batch_var_biased)``.

    Shape:
        ``x``: ``(K, B, F)``; ``out``: ``(K, B)``.
    """
    if stats is None:
        mean = x.mean(1, keepdim=True)
        var = x.var(1, unbiased=False, keepdim=True)
    else:
        mean, var = stats[0].unsqueeze(1), stats[1].unsqueeze(1)
    xn = (x - mean) / torch.sqrt(var + _EPS_BN) * p["bn_weight"].unsqueeze(1) + p["bn_bias"].unsqueeze(1)
    h = torch.where(bn_on, xn, x)
    h = torch.relu(torch.baddbmm(p["b1"].unsqueeze(1), h, p["w1"].transpose(1, 2)))
    if masks is not None:
        h = h * masks[0]
    h = torch.relu(torch.baddbmm(p["b2"].unsqueeze(1), h, p["w2"].transpose(1, 2)))
    if masks is not None:
        h = h * masks[1]
    out = torch.baddbmm(p["b3"].unsqueeze(1), h, p["w3"].transpose(1, 2)).squeeze(2)
    return out, mean.squeeze(1), var.squeeze(1)


def _r2(y: torch.Tensor, pred: torch.Tensor) -> np.ndarray:
    """R² of each model's predictions, in float64 (as ``combining.r2_score``). Shape: ``(K, N)`` -> ``(K,)``."""
    y, pred = y.double(), pred.double()
    ss_res = ((y - pred) ** 2).sum(1)
    ss_tot = ((y - y.mean(1, keepdim=True)) ** 2).sum(1)
    return (1.0 - ss_res / ss_tot).numpy()


def train_batched(
    tasks,
    configs: Sequence[TrainConfig],
    *,
    dtype: torch.dtype = torch.float32,
    num_threads: int | None = 1,
    eval_chunk: int = 16,
) -> BatchedResult:
    """Train one seed-003 MLP per config, all at once, and score the final models.

    Equivalent, model by model, to ``train_mlp(task_k, configs[k], dtype=dtype)``
    followed by scoring its final model (up to summation order: the same
    weights to ~1e-10 in float64 after hundreds of steps).

    Args:
        tasks: one task shared by every model, or one per config. A task has
            ``X_train, y_train, X_val, y_val`` arrays (and optionally
            ``X_test, y_test``); all tasks must have the same shapes.
        configs: K configurations sharing :data:`SHARED_FIELDS`; Adam only.
        dtype: ``torch.float32`` (studies) or ``torch.float64`` (tests).
        num_threads: torch intra-op threads during the run (restored after);
            ``None`` leaves the setting alone.
        eval_chunk: models evaluated at once at the end (bounds memory).

    Returns:
        A :class:`BatchedResult`.

    Raises:
        ValueError: configs empty, not sharing :data:`SHARED_FIELDS`, or not
            Adam; tasks of different shapes or count; a bad ``dtype``,
            ``num_threads`` or ``eval_chunk``.

    Shape:
        ``X_train`` of every task: ``(n_train, n_features)``.
    """
    configs = _check_configs(configs)
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype!r}")
    if isinstance(eval_chunk, bool) or not isinstance(eval_chunk, int) or eval_chunk < 1:
        raise ValueError(f"eval_chunk must be an integer >= 1, got {eval_chunk!r}")
    if num_threads is None:
        return _train(tasks, configs, dtype, eval_chunk)
    if isinstance(num_threads, bool) or not isinstance(num_threads, int) or num_threads < 1:
        raise ValueError(f"num_threads must be None or an integer >= 1, got {num_threads!r}")
    before = torch.get_num_threads()
    torch.set_num_threads(num_threads)
    try:
        return _train(tasks, configs, dtype, eval_chunk)
    finally:
        torch.set_num_threads(before)


def _train(tasks, configs: list[TrainConfig], dtype: torch.dtype, eval_chunk: int) -> BatchedResult:
    K = len(configs)
    data = _stack_data(tasks, K, dtype)
    X, y = data["X_train"], data["y_train"]
    n, n_features = X.shape[1], X.shape[2]
    if n < 2:
        raise ValueError(f"tasks must have at least 2 training rows, got {n}")
    c0 = configs[0]
    batch = n if c0.batch_size is None else min(c0.batch_size, n)
    starts = [s for s in range(0, n, batch) if n - s >= 2]  # as train_mlp: no 1-row tail
    gens = [torch.Generator().manual_seed(c.seed) for c in configs]
    stack = _Stack(n_features, configs, gens, dtype)
    opt = torch.optim.Adam(
        [{"params": leaves, "lr": configs[a].lr} for leaves, (a, _) in zip(stack.leaves, stack.groups)],
        lr=c0.lr,
        fused=True,
    )

    def col(values) -> torch.Tensor:
        return torch.tensor(values, dtype=dtype)

    bn_on = torch.tensor([c.batch_norm for c in configs]).view(K, 1, 1)
    l1, l2 = col([c.l1 for c in configs]), col([c.l2 for c in configs])
    l1_rest = col([c.l1 if c.penalty_layers == "all" else 0.0 for c in configs])
    l2_rest = col([c.l2 if c.penalty_layers == "all" else 0.0 for c in configs])
    any_l1, any_l2, any_rest = bool(l1.any()), bool(l2.any()), bool(l1_rest.any() or l2_rest.any())
    drop = [k for k, c in enumerate(configs) if c.dropout > 0]
    sizes = [min(batch, n - s) for s in starts]
    per_epoch = sum(2 * b for b in sizes) * c0.hidden  # uniforms one model's two dropout layers use per epoch
    # A model without dropout keeps u = 0 < keep = 1 everywhere: mask 1 / 1 = 1, and its generator is never read.
    keep = torch.tensor([1.0 - c.dropout for c in configs], dtype=torch.float64).unsqueeze(1)
    scale = (1.0 / col([1.0 - c.dropout for c in configs])).unsqueeze(1)  # 1 / keep in dtype, as bernoulli_(keep).div_(keep)
    u = torch.zeros(K, per_epoch if drop else 0, dtype=torch.float64)
    hidden = c0.hidden
    running_mean = torch.zeros(K, n_features, dtype=dtype)
    running_var = torch.ones(K, n_features, dtype=dtype)
    rows = torch.arange(K).unsqueeze(1)

    for _ in range(c0.epochs):
        if batch < n:
            order = torch.stack([torch.randperm(n, generator=g) for g in gens])
        if drop:
            # regnorm_lab.dropout.Dropout draws bernoulli_(keep) per layer and step, which on the CPU is one
            # uniform double per element, compared with keep, drawn serially from the generator. Nothing else
            # draws between the epoch's randperm and its last step, so one uniform_ per model and epoch yields
            # the same numbers, about twice as fast as bernoulli_, with K calls per epoch instead of 2K per step.
            for k in drop:
                u[k].uniform_(generator=gens[k])
            epoch_masks = torch.where(u < keep, scale, 0.0)
        offset = 0
        for s, size in zip(starts, sizes):
            if batch < n:
                idx = order[:, s : s + batch]
                xb, yb = X[rows, idx], y[rows, idx]
            else:
                xb, yb = X, y
            masks = None
            if drop:
                m = epoch_masks[:, offset : offset + 2 * size * hidden].view(K, 2, size, hidden)
                offset += 2 * size * hidden
                masks = (m[:, 0], m[:, 1])
            p = stack.tensors()
            out, mean, var = _forward(p, xb, bn_on, None, masks)
            loss = ((out - yb) ** 2).mean(1)
            if any_l1:
                loss = loss + l1 * p["w1"].abs().sum((1, 2))
            if any_l2:
                loss = loss + l2 * p["w1"].pow(2).sum((1, 2))
            if any_rest:
                for w in (p["w2"], p["w3"]):
                    if any_l1:
                        loss = loss + l1_rest * w.abs().sum((1, 2))
                    if any_l2:
                        loss = loss + l2_rest * w.pow(2).sum((1, 2))
            opt.zero_grad(set_to_none=True)
            loss.sum().backward()  # models are independent: d(sum)/d(model k) = d(loss k)/d(model k)
            opt.step()
            with torch.no_grad():
                m = xb.shape[1]
                running_mean.mul_(1 - _MOMENTUM_BN).add_(mean.detach(), alpha=_MOMENTUM_BN)
                running_var.mul_(1 - _MOMENTUM_BN).add_(var.detach() * (m / (m - 1)), alpha=_MOMENTUM_BN)

    with torch.no_grad():
        p = {k: v.detach().clone() for k, v in stack.tensors().items()}
        scores: dict[str, list[np.ndarray]] = {}
        for split in [s for s in ("train", "val", "test") if f"X_{s}" in data]:
            Xs, ys = data[f"X_{split}"], data[f"y_{split}"]
            for a in range(0, K, eval_chunk):
                sl = slice(a, a + eval_chunk)
                pc = {name: t[sl] for name, t in p.items()}
                out, _, _ = _forward(pc, Xs[sl], bn_on[sl], (running_mean[sl], running_var[sl]), None)
                scores.setdefault(f"{split}_r2", []).append(_r2(ys[sl], out))
    p.update(running_mean=running_mean, running_var=running_var)
    return BatchedResult(
        configs=[dataclasses.replace(c) for c in configs],
        scores={k: np.concatenate(v) for k, v in scores.items()},
        params=p,
    )
