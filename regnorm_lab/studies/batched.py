"""Train K seed-003 MLPs at once, as one vectorised model, with the single trainer's random streams.

A study runs hundreds of small trainings (configurations x data draws x
seeds). Run one by one with :func:`~regnorm_lab.studies.training.train_mlp`,
each optimizer step of the 2x128 MLP costs about 0.6 ms of Python and
dispatch overhead for 6 MFLOP of arithmetic. Here the K models' weights are
stacked along a leading model axis and every layer is one batched matmul, so
the overhead is paid once per step for all K. The step itself
(:mod:`~regnorm_lab.studies.batched_mlp`) is a hand-written forward and
backward pass into preallocated buffers plus torch's fused Adam kernel, with
no autograd graph.

Where the time goes (K = 64, one thread, ``benchmarks/batched_trainer.py``):
the three 128x128 matmuls per step (forward, weight gradient, input
gradient) are about half of it and set a floor; the dropout masks' uniform
draws are the next floor: each model must draw its own masks from its own
Mersenne-Twister generator, serially, to reproduce ``train_mlp``'s stream,
so that cost is per model whatever K. Together they bound the speed-up over
a loop of ``train_mlp`` runs at about 5-8x on the course machine (the
benchmark prints the bound it measures); the rest is Adam (memory-bound) and
elementwise passes.

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

Internally the models are reordered (dropout models first, equal learning
rates side by side; results come back in the caller's order), which changes
no model's numbers: a model's result does not depend on its neighbours or on
K (checked bit for bit in float32 for chunks of 64 vs 16). Against
``train_mlp`` it agrees to ~1e-10 in float64; in float32 the two trainers sum
in different orders, and rounding differences grow over hundreds of Adam
steps (L1's ``sign(W)`` and ReLU boundaries flip), so a float32 run's R²
differs between them by ~1e-3 (up to a few 1e-2 on the collapsing L1 cells):
seed-level noise, far below the spread over seeds.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..combining import build_model
from .batched_autograd import initial_parameters, train_autograd
from .batched_mlp import PARAM_NAMES, FusedAdam, Switches, Workspace, loss_grads, predict
from .training import TrainConfig

__all__ = ["BatchedResult", "train_batched", "SHARED_FIELDS", "KERNELS"]

#: TrainConfig fields every model of one batched run must share.
SHARED_FIELDS = ("hidden", "epochs", "batch_size", "optimizer")
_MOMENTUM_BN = 0.1


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


def _rest_penalised(c: TrainConfig) -> bool:
    """Whether ``c`` penalises the second and third kernels too."""
    return c.penalty_layers == "all" and (c.l1 > 0 or c.l2 > 0)


def _model_order(configs: list[TrainConfig]) -> list[int]:
    """The internal order of the models: dropout first, equal learning rates side by side.

    Models are independent, so any order gives the same results; this one
    makes the dropout models one range ``[0, n_drop)``, the models penalising
    every kernel one range around its end (last among the dropout models,
    first among the others), and each learning rate a few contiguous ranges
    (one fused Adam call each).
    """

    def key(k: int) -> tuple:
        c = configs[k]
        rest = _rest_penalised(c)
        return (c.dropout == 0, (not rest) if c.dropout == 0 else rest, c.lr)

    return sorted(range(len(configs)), key=key)


def _lr_ranges(configs: list[TrainConfig]) -> list[tuple[int, int, float]]:
    """``[(start, stop, lr), ...]``: the maximal runs of equal learning rate, in model order."""
    ranges, start = [], 0
    for k in range(1, len(configs) + 1):
        if k == len(configs) or configs[k].lr != configs[start].lr:
            ranges.append((start, k, configs[start].lr))
            start = k
    return ranges


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
    kernel: str = "fast",
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
        kernel: ``"fast"`` (hand-written backward, :mod:`.batched_mlp`) or
            ``"autograd"`` (the first implementation,
            :mod:`.batched_autograd`, about 2x slower): the same training,
            equal in float64; in float32 they round differently, so only
            ``"autograd"`` reproduces results computed before ``"fast"``
            existed bit for bit.

    Returns:
        A :class:`BatchedResult`.

    Raises:
        ValueError: configs empty, not sharing :data:`SHARED_FIELDS`, or not
            Adam; tasks of different shapes or count; a bad ``dtype``,
            ``num_threads``, ``eval_chunk`` or ``kernel``.

    Shape:
        ``X_train`` of every task: ``(n_train, n_features)``.
    """
    configs = _check_configs(configs)
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype!r}")
    if isinstance(eval_chunk, bool) or not isinstance(eval_chunk, int) or eval_chunk < 1:
        raise ValueError(f"eval_chunk must be an integer >= 1, got {eval_chunk!r}")
    if kernel not in _KERNELS:
        raise ValueError(f"kernel must be one of {sorted(_KERNELS)}, got {kernel!r}")
    train = _KERNELS[kernel]
    if num_threads is None:
        return train(tasks, configs, dtype, eval_chunk)
    if isinstance(num_threads, bool) or not isinstance(num_threads, int) or num_threads < 1:
        raise ValueError(f"num_threads must be None or an integer >= 1, got {num_threads!r}")
    before = torch.get_num_threads()
    torch.set_num_threads(num_threads)
    try:
        return train(tasks, configs, dtype, eval_chunk)
    finally:
        torch.set_num_threads(before)


def _train(tasks, configs: list[TrainConfig], dtype: torch.dtype, eval_chunk: int) -> BatchedResult:
    K = len(configs)
    order = _model_order(configs)
    cfg = [configs[k] for k in order]
    if isinstance(tasks, Sequence):
        if len(tasks) != K:
            raise ValueError(f"tasks must be one task or one per config ({K}), got {len(tasks)}")
        tasks = [tasks[k] for k in order]
    data = _stack_data(tasks, K, dtype)
    X, y = data["X_train"], data["y_train"]
    n, n_features = X.shape[1], X.shape[2]
    if n < 2:
        raise ValueError(f"tasks must have at least 2 training rows, got {n}")
    c0 = cfg[0]
    hidden = c0.hidden
    batch = n if c0.batch_size is None else min(c0.batch_size, n)
    starts = [s for s in range(0, n, batch) if n - s >= 2]  # as train_mlp: no 1-row tail
    sizes = [min(batch, n - s) for s in starts]
    gens = [torch.Generator().manual_seed(c.seed) for c in cfg]
    params = initial_parameters(n_features, cfg, gens, dtype)
    adam = FusedAdam(params, _lr_ranges(cfg))

    def col(values) -> torch.Tensor:
        return torch.tensor(values, dtype=dtype).view(-1, 1, 1)

    rest = [k for k, c in enumerate(cfg) if _rest_penalised(c)]
    nd = sum(c.dropout > 0 for c in cfg)
    sw = Switches(
        bn=col([float(c.batch_norm) for c in cfg]),
        n_drop=nd,
        l1=col([c.l1 for c in cfg]),
        l2=col([c.l2 for c in cfg]),
        l1_rest=col([c.l1 if _rest_penalised(c) else 0.0 for c in cfg]),
        l2_rest=col([c.l2 if _rest_penalised(c) else 0.0 for c in cfg]),
        rest=(rest[0], rest[-1] + 1) if rest else (0, 0),
    )
    # Dropout: regnorm_lab.dropout.Dropout draws bernoulli_(keep) per layer and step, which on the CPU is one
    # uniform double per element, compared with keep, drawn serially from the generator. Nothing else draws
    # between an epoch's randperm and its last step, so one uniform_ per model and epoch yields the same numbers
    # (about twice as fast as bernoulli_), and the masks are ready for every step of the epoch.
    per_epoch = sum(2 * b for b in sizes) * hidden
    keep = [1.0 - c.dropout for c in cfg[:nd]]  # compared in float64, as bernoulli_ does
    scale = 1.0 / torch.tensor([1.0 - c.dropout for c in cfg[:nd]], dtype=dtype).unsqueeze(1)  # as .div_(keep)
    u = torch.empty(per_epoch, dtype=torch.float64)  # one model's uniforms at a time: stays in cache
    masks_epoch = torch.empty(nd, per_epoch, dtype=dtype)
    running_mean = torch.zeros(K, n_features, dtype=dtype)
    running_var = torch.ones(K, n_features, dtype=dtype)
    rows = torch.arange(K).unsqueeze(1) * n  # first flat row of each model
    X_flat, y_flat = X.reshape(K * n, n_features), y.reshape(K * n)
    workspaces = {size: Workspace(params, size) for size in set(sizes)}

    for _ in range(c0.epochs):
        if batch < n:
            perm = torch.stack([torch.randperm(n, generator=g) for g in gens])
            # the epoch's batches, each model in its own order (index_select on the flat rows: 4x faster than X[rows, perm])
            flat = (perm + rows).view(-1)
            Xe, ye = X_flat.index_select(0, flat).view(K, n, n_features), y_flat.index_select(0, flat).view(K, n)
        else:
            Xe, ye = X, y
        if nd:
            for k in range(nd):
                torch.lt(u.uniform_(generator=gens[k]), keep[k], out=masks_epoch[k])
            masks_epoch.mul_(scale)  # 1/keep where kept, else 0
        offset = 0
        for s, size in zip(starts, sizes):
            masks = None
            if nd:
                m = masks_epoch[:, offset : offset + 2 * size * hidden].view(nd, 2, size, hidden)
                offset += 2 * size * hidden
                masks = (m[:, 0], m[:, 1])
            ws = workspaces[size]
            _, mean, var = loss_grads(params, Xe[:, s : s + size], ye[:, s : s + size], sw, masks, ws)
            adam.step(ws.grads)
            running_mean.mul_(1 - _MOMENTUM_BN).add_(mean, alpha=_MOMENTUM_BN)
            running_var.mul_(1 - _MOMENTUM_BN).add_(var * (size / (size - 1)), alpha=_MOMENTUM_BN)

    inverse = torch.as_tensor(np.argsort(order))
    scores: dict[str, np.ndarray] = {}
    with torch.inference_mode():
        for split in [s for s in ("train", "val", "test") if f"X_{s}" in data]:
            Xs, ys = data[f"X_{split}"], data[f"y_{split}"]
            parts = []
            for a in range(0, K, eval_chunk):
                sl = slice(a, a + eval_chunk)
                pc = {name: t[sl] for name, t in params.items()}
                parts.append(_r2(ys[sl], predict(pc, Xs[sl], sw.bn[sl], running_mean[sl], running_var[sl])))
            scores[f"{split}_r2"] = np.concatenate(parts)[inverse.numpy()]
    out = {name: t[inverse] for name, t in params.items()}  # back to the caller's order (index makes copies)
    out.update(running_mean=running_mean[inverse], running_var=running_var[inverse])
    return BatchedResult(configs=[dataclasses.replace(c) for c in configs], scores=scores, params=out)


def _train_autograd(tasks, configs: list[TrainConfig], dtype: torch.dtype, eval_chunk: int) -> BatchedResult:
    data = _stack_data(tasks, len(configs), dtype)
    if data["X_train"].shape[1] < 2:
        raise ValueError(f"tasks must have at least 2 training rows, got {data['X_train'].shape[1]}")
    scores, params = train_autograd(data, configs, dtype, eval_chunk)
    return BatchedResult(configs=[dataclasses.replace(c) for c in configs], scores=scores, params=params)


_KERNELS = {"fast": _train, "autograd": _train_autograd}
#: The names ``train_batched(kernel=...)`` accepts.
KERNELS: tuple[str, ...] = tuple(_KERNELS)
