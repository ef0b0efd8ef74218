"""The batched trainer's first step function (autograd over stacked weights), kept to reproduce earlier float32 results.

``train_batched(..., kernel="autograd")`` runs this; the default
(``kernel="fast"``, :mod:`~regnorm_lab.studies.batched_mlp`) computes the same
training in another summation order about 2x faster. Both equal
``train_mlp`` in float64; in float32 they differ by rounding that grows over
training (see :mod:`~regnorm_lab.studies.batched`), so results computed before
the fast kernel existed are reproduced bit for bit only by this one.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..combining import build_model
from .training import TrainConfig

__all__ = ["initial_parameters", "train_autograd"]

_EPS_BN = 1e-5
_MOMENTUM_BN = 0.1
_PARAM_NAMES = ("bn_weight", "bn_bias", "w1", "b1", "w2", "b2", "w3", "b3")


def initial_parameters(n_features: int, configs: list[TrainConfig], gens: list[torch.Generator],
                       dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """The K models' initial parameters, stacked; each drawn by the very call train_mlp makes, from its generator.

    Shape:
        Each value: ``(K, *shape of that parameter in one model)``, in ``dtype``.
    """
    per_model = []
    for c, g in zip(configs, gens):
        net = build_model(n_features, c.hidden, c.dropout, c.batch_norm, generator=g)
        lin = [m for m in net if isinstance(m, nn.Linear)]
        per_model.append(
            [torch.ones(n_features), torch.zeros(n_features)]
            + [t for m in lin for t in (m.weight.detach(), m.bias.detach())]
        )
    return {name: torch.stack([m[i] for m in per_model]).to(dtype).contiguous() for i, name in enumerate(_PARAM_NAMES)}


class _Stack:
    """The K models' parameters as leaf tensors, one set per learning-rate group (contiguous model ranges)."""

    def __init__(self, n_features: int, configs: list[TrainConfig], gens: list[torch.Generator], dtype: torch.dtype):
        init = initial_parameters(n_features, configs, gens, dtype)
        lrs = [c.lr for c in configs]
        self.groups: list[tuple[int, int]] = []  # [start, stop) of equal-lr runs, in model order
        start = 0
        for k in range(1, len(configs) + 1):
            if k == len(configs) or lrs[k] != lrs[start]:
                self.groups.append((start, k))
                start = k
        self.leaves: list[list[torch.Tensor]] = [
            [init[name][a:b].clone().requires_grad_() for name in _PARAM_NAMES] for a, b in self.groups
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



def train_autograd(data: dict[str, torch.Tensor], configs: list[TrainConfig], dtype: torch.dtype, eval_chunk: int) -> tuple[dict[str, np.ndarray], dict[str, torch.Tensor]]:
    """Train the K models with autograd (the first implementation); ``(scores, params)`` in the order given.

    Shape:
        ``data["X_train"]``: ``(K, n_train, n_features)``.
    """
    K = len(configs)
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
    return {k: np.concatenate(v) for k, v in scores.items()}, p
