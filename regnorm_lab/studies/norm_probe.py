"""Santurkar et al.'s probes of a training run: moment shift, gradient ICS and loss-landscape smoothness.

:func:`probe_training` trains a deep MLP of
:mod:`~regnorm_lab.studies.experiments_norm` with SGD and measures along
the way what Santurkar et al. (2018) measured; chapter 10's study
(:mod:`~regnorm_lab.studies.norm_ics`) runs it over data draws and seeds.
Split from ``experiments_norm`` (one idea per module), which re-exports
both names.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

from .._validation import check_positive

__all__ = ["TrainingProbe", "probe_training"]


@dataclass
class TrainingProbe:
    """What :func:`probe_training` measured along one SGD run.

    Attributes:
        losses: Training loss at every step.
        mean_shift: Per step, ``||mu_t - mu_{t-1}||`` of the probed layer's input
            (per-unit means over a fixed probe batch; includes injected noise).
        var_shift: The same for the per-unit variances.
        ics: Santurkar et al.'s internal covariate shift of the probed layer,
            ``||G - G'|| / ||G||``: ``G`` is its weight gradient, ``G'`` the
            same gradient after only the *earlier* layers took their SGD step.
        loss_range: Per probe, ``max - min`` of the loss at ``w - eta g`` over the step sizes.
        grad_change: Per probe, ``max_eta ||g(w) - g(w - eta g)|| / (eta ||g||)``,
            an effective smoothness (beta) along the gradient direction.
        grad_norm: Per probe, ``||g||`` over all parameters.
    """

    losses: list[float] = field(default_factory=list)
    mean_shift: list[float] = field(default_factory=list)
    var_shift: list[float] = field(default_factory=list)
    ics: list[float] = field(default_factory=list)
    loss_range: list[float] = field(default_factory=list)
    grad_change: list[float] = field(default_factory=list)
    grad_norm: list[float] = field(default_factory=list)


def _loss_and_grads(model: nn.Module, xb: torch.Tensor, yb: torch.Tensor) -> tuple[float, list[torch.Tensor]]:
    model.zero_grad()
    loss = F.cross_entropy(model(xb), yb)
    loss.backward()
    return loss.item(), [p.grad.detach().clone() for p in model.parameters()]  # type: ignore[union-attr]


def probe_training(
    model: nn.Sequential,
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    lr: float,
    steps: int,
    generator: torch.Generator,
    batch_size: int = 64,
    probe_layer: int = 3,
    step_multipliers: Sequence[float] = (1.0, 3.0, 10.0, 30.0),
    every: int = 10,
    probe_size: int = 256,
) -> TrainingProbe:
    """Train ``model`` with SGD for ``steps`` steps and measure, along the way, what Santurkar et al. measured.

    Every step: the loss, and the per-unit mean and variance of the input to
    the ``probe_layer``-th ``nn.Linear`` on a fixed probe batch (the first
    ``probe_size`` rows), computed on a copy of the model in training mode
    with the same noise the real step sees. Every ``every`` steps, on that
    step's mini-batch: the gradient-based ICS of the probed layer, and the
    loss and gradient at ``w - eta g`` for ``eta = lr * m``, ``m`` in
    ``step_multipliers``. Probes use copies, so they never change the
    training run itself. ``model`` is trained in place.

    Shape:
        X: ``(N, D)``; y: ``(N,)``.
    """
    # Imported here: experiments_norm re-exports this module's names, so a top-level import would be circular.
    from .experiments_norm import NoisyBatchNorm1d

    check_positive("lr", lr)
    linears = [m for m in model if isinstance(m, nn.Linear)]
    if not 1 <= probe_layer < len(linears):
        raise ValueError(f"probe_layer must index a Linear layer after the first (1..{len(linears) - 1}), got {probe_layer!r}")
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    # Position of the probed weight in parameters(): copies keep the order, so it finds the copy's weight too.
    w_index = [id(p) for p in model.parameters()].index(id(linears[probe_layer].weight))
    probe_x = X[:probe_size]
    out = TrainingProbe()
    prev: tuple[torch.Tensor, torch.Tensor] | None = None
    model.train()
    for t in range(steps):
        idx = torch.randint(0, X.shape[0], (batch_size,), generator=generator)
        xb, yb = X[idx], y[idx]

        # The distribution the probed layer sees. The probe forward must not change the run: save and restore
        # the BN running statistics and the noise generators' states (cheaper than copying the model every step).
        buffers = [b.clone() for b in model.buffers()]
        gens = {id(m.generator): (m.generator, m.generator.get_state()) for m in model.modules() if isinstance(m, NoisyBatchNorm1d)}
        seen: dict[str, torch.Tensor] = {}
        handle = linears[probe_layer].register_forward_pre_hook(lambda _m, inp: seen.__setitem__("x", inp[0].detach()))
        with torch.no_grad():
            model(probe_x)
            for b, saved in zip(model.buffers(), buffers):
                b.copy_(saved)
        handle.remove()
        for gen, state in gens.values():
            gen.set_state(state)
        mu, var = seen["x"].mean(0), seen["x"].var(0, unbiased=False)
        if prev is not None:
            out.mean_shift.append((mu - prev[0]).norm().item())
            out.var_shift.append((var - prev[1]).norm().item())
        prev = (mu, var)

        if t % every == 0:
            # Evaluate on a copy so the probes below see the same weights and noise state as the real step.
            base = copy.deepcopy(model)
            _, grads = _loss_and_grads(copy.deepcopy(base), xb, yb)
            gnorm = math.sqrt(sum(float((g**2).sum()) for g in grads))
            losses, changes = [], []
            for mult in step_multipliers:
                eta = lr * mult
                moved = copy.deepcopy(base)
                with torch.no_grad():
                    for p, g in zip(moved.parameters(), grads):
                        p -= eta * g
                l_eta, g_eta = _loss_and_grads(moved, xb, yb)
                losses.append(l_eta)
                diff = math.sqrt(sum(float(((a - b) ** 2).sum()) for a, b in zip(g_eta, grads)))
                changes.append(diff / (eta * gnorm) if gnorm > 0 else 0.0)
            out.loss_range.append(max(losses) - min(losses))
            out.grad_change.append(max(changes))
            out.grad_norm.append(gnorm)

            # Santurkar's ICS: move only the layers before the probed Linear, recompute its gradient.
            shifted = copy.deepcopy(base)
            earlier: set[int] = set()
            probed = [m for m in shifted if isinstance(m, nn.Linear)][probe_layer]
            for mod in shifted:
                if mod is probed:
                    break
                earlier.update(id(p) for p in mod.parameters())
            with torch.no_grad():
                for p, g in zip(shifted.parameters(), grads):
                    if id(p) in earlier:
                        p -= lr * g
            shifted.zero_grad()
            F.cross_entropy(shifted(xb), yb).backward()
            g_before = grads[w_index]
            g_after = probed.weight.grad
            denom = float(g_before.norm())
            out.ics.append(float((g_before - g_after).norm()) / denom if denom > 0 else 0.0)

        loss = F.cross_entropy(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        out.losses.append(loss.item())
    return out
