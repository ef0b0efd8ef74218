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
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

from .._validation import check_positive

__all__ = ["TrainingProbe", "probe_training", "probe_training_batched"]


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


def _stack_models(models: Sequence[nn.Sequential], dtype: torch.dtype) -> tuple[list[str], dict[str, torch.Tensor], list]:
    """The K models' layer kinds and their parameters stacked along a leading model axis.

    Returns ``kinds`` (per module: ``"linear"``, ``"bn"``, ``"noisy"`` or ``"relu"``),
    ``params`` (``"w{i}"``, ``"b{i}"``, ``"g{i}"``, ``"beta{i}"`` by module index ``i``)
    and, per model, the noise layers' ``(generator, noise_scale)`` in order.
    """
    from .experiments_norm import NoisyBatchNorm1d

    def kind(m: nn.Module) -> str:
        if isinstance(m, nn.Linear):
            return "linear"
        if isinstance(m, NoisyBatchNorm1d):
            return "noisy"
        if isinstance(m, nn.BatchNorm1d):
            return "bn"
        if isinstance(m, nn.ReLU):
            return "relu"
        raise ValueError(f"models: unsupported layer {type(m).__name__} (Linear, BatchNorm1d, NoisyBatchNorm1d, ReLU only)")

    kinds = [kind(m) for m in models[0]]
    shapes = [tuple(p.shape) for p in models[0].parameters()]
    for j, model in enumerate(models):
        if [kind(m) for m in model] != kinds or [tuple(p.shape) for p in model.parameters()] != shapes:
            raise ValueError(f"models: model {j} differs in architecture from model 0 (all must share it)")
    params: dict[str, torch.Tensor] = {}
    for i, k in enumerate(kinds):
        if k == "linear":
            params[f"w{i}"] = torch.stack([m[i].weight.detach() for m in models]).to(dtype)
            params[f"b{i}"] = torch.stack([m[i].bias.detach() for m in models]).to(dtype)
        elif k in ("bn", "noisy"):
            bns = [m[i].bn if k == "noisy" else m[i] for m in models]
            params[f"g{i}"] = torch.stack([b.weight.detach() for b in bns]).to(dtype)
            params[f"beta{i}"] = torch.stack([b.bias.detach() for b in bns]).to(dtype)
    noise = [[(m[i].generator, m[i].noise_scale) for i, k in enumerate(kinds) if k == "noisy"] for m in models]
    return kinds, params, noise


def _stacked_forward(
    kinds: Sequence[str],
    params: dict[str, torch.Tensor],
    x: torch.Tensor,
    noise: dict[int, tuple[torch.Tensor, torch.Tensor]],
    stop: int | None = None,
) -> torch.Tensor:
    """Training-mode forward of K stacked models; ``stop``: return the input of module ``stop`` instead.

    Shape:
        x: ``(K, B, D)``; returns ``(K, B, n_out)`` (or the ``stop`` module's input).
    """
    h = x
    for i, k in enumerate(kinds):
        if i == stop:
            return h
        if k == "linear":
            h = torch.baddbmm(params[f"b{i}"].unsqueeze(1), h, params[f"w{i}"].transpose(1, 2))
        elif k == "relu":
            h = torch.relu(h)
        else:
            # BatchNorm1d in training mode: per-model batch statistics (biased variance), eps as torch's.
            # (torch's var over a middle axis is a slow strided reduction; the mean of squares is not).
            centred = h - h.mean(1, keepdim=True)
            var = (centred * centred).mean(1, keepdim=True)
            h = centred * (torch.rsqrt(var + 1e-5) * params[f"g{i}"].unsqueeze(1)) + params[f"beta{i}"].unsqueeze(1)
            if k == "noisy":
                scale, shift = noise[i]
                h = h * scale.unsqueeze(1) + shift.unsqueeze(1)
    return h


def _stacked_loss(kinds, params, xb, yb, noise) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-model mean cross-entropy ``(K,)`` and its sum (whose gradient is every model's own)."""
    logits = _stacked_forward(kinds, params, xb, noise)
    K, B, C = logits.shape
    per = F.cross_entropy(logits.reshape(K * B, C), yb.reshape(K * B), reduction="none").view(K, B).mean(1)
    return per, per.sum()


def _per_model_norm(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    """``sqrt(sum of squares)`` per model over stacked tensors, ``(K,)``."""
    return torch.sqrt(sum(t.reshape(t.shape[0], -1).pow(2).sum(1) for t in tensors))


def probe_training_batched(
    models: Sequence[nn.Sequential],
    Xs: Sequence[torch.Tensor],
    ys: Sequence[torch.Tensor],
    *,
    lr: float,
    steps: int,
    generators: Sequence[torch.Generator],
    batch_size: int = 64,
    probe_layer: int = 3,
    step_multipliers: Sequence[float] = (1.0, 3.0, 10.0, 30.0),
    every: int = 10,
    probe_size: int = 256,
    dtype: torch.dtype | None = None,
) -> list[TrainingProbe]:
    """:func:`probe_training` for K models of one architecture at once, as one stacked model.

    Model ``k`` trains on ``Xs[k], ys[k]`` with its own batch order
    (``generators[k]``) and its own noisy-BN noise (its layers' generators),
    drawn in the order :func:`probe_training` draws them, so run ``k``
    measures what ``probe_training(models[k], Xs[k], ys[k], ...)`` measures
    (``tests/studies/test_norm_probe.py`` checks it in float64). Every layer
    is one batched matmul over the K models, so the per-step Python and
    dispatch overhead is paid once for all of them; the probes reuse the
    training step's gradient (the single version recomputes it on a copy)
    and evaluate moved weights functionally instead of on deep copies.
    The ``models`` are not modified (their noise generators are consumed).

    Shape:
        Xs[k]: ``(N, D)`` (the same ``N``, ``D`` for every k); ys[k]: ``(N,)``.

    Raises:
        ValueError: no models, lists of different lengths, differing architectures or data shapes,
            or a ``probe_layer`` that is not a ``Linear`` after the first.
    """
    check_positive("lr", lr)
    K = len(models)
    if K == 0 or not len(Xs) == len(ys) == len(generators) == K:
        raise ValueError(f"models, Xs, ys and generators must be non-empty and of equal length, got "
                         f"{K}, {len(Xs)}, {len(ys)}, {len(generators)}")
    if len({tuple(X.shape) for X in Xs}) != 1:
        raise ValueError(f"Xs must share one shape, got {sorted({tuple(X.shape) for X in Xs})}")
    dtype = dtype or Xs[0].dtype
    kinds, params, noise_layers = _stack_models(models, dtype)
    lin_idx = [i for i, k in enumerate(kinds) if k == "linear"]
    if not 1 <= probe_layer < len(lin_idx):
        raise ValueError(f"probe_layer must index a Linear layer after the first (1..{len(lin_idx) - 1}), got {probe_layer!r}")
    probed = lin_idx[probe_layer]
    w_name = f"w{probed}"
    # The parameters of the modules before the probed Linear: the ones the ICS probe moves.
    earlier = {n for n in params if int(re.sub(r"\D", "", n)) < probed}
    noisy_idx = [i for i, k in enumerate(kinds) if k == "noisy"]
    X = torch.stack([x.to(dtype) for x in Xs])
    Y = torch.stack(list(ys))
    N = X.shape[1]
    probe_x = X[:, :probe_size]
    rows = torch.arange(K).unsqueeze(1)
    outs = [TrainingProbe() for _ in range(K)]
    prev: tuple[torch.Tensor, torch.Tensor] | None = None
    for t in range(steps):
        idx = torch.stack([torch.randint(0, N, (batch_size,), generator=g) for g in generators])
        xb, yb = X[rows, idx], Y[rows, idx]
        # This step's noise, per model and layer: shift then scale, as NoisyBatchNorm1d draws them.
        noise: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        if noisy_idx:
            shifts, scales = [[] for _ in noisy_idx], [[] for _ in noisy_idx]
            for layers in noise_layers:
                for j, (gen, s) in enumerate(layers):
                    d = params[f"g{noisy_idx[j]}"].shape[1]
                    shifts[j].append(torch.randn(d, generator=gen, dtype=dtype) * s)
                    scales[j].append(torch.exp(torch.randn(d, generator=gen, dtype=dtype) * (0.5 * s)))
            noise = {i: (torch.stack(scales[j]), torch.stack(shifts[j])) for j, i in enumerate(noisy_idx)}

        with torch.no_grad():
            seen = _stacked_forward(kinds, params, probe_x, noise, stop=probed)
        mu = seen.mean(1)
        var = (seen - mu.unsqueeze(1)).pow(2).mean(1)
        if prev is not None:
            for k, (dm, dv) in enumerate(zip((mu - prev[0]).norm(dim=1).tolist(), (var - prev[1]).norm(dim=1).tolist())):
                outs[k].mean_shift.append(dm)
                outs[k].var_shift.append(dv)
        prev = (mu, var)

        leaves = {n: p.detach().requires_grad_() for n, p in params.items()}
        per, total = _stacked_loss(kinds, leaves, xb, yb, noise)
        grads = dict(zip(leaves, torch.autograd.grad(total, list(leaves.values()))))
        losses_t = per.tolist()

        if t % every == 0:
            gnorm = _per_model_norm(list(grads.values()))
            safe = torch.where(gnorm > 0, gnorm, torch.ones_like(gnorm))
            l_eta, changes = [], []
            for mult in step_multipliers:
                eta = lr * mult
                moved = {n: (params[n] - eta * grads[n]).requires_grad_() for n in params}
                per_eta, tot_eta = _stacked_loss(kinds, moved, xb, yb, noise)
                g_eta = torch.autograd.grad(tot_eta, list(moved.values()))
                diff = _per_model_norm([a - grads[n] for a, n in zip(g_eta, moved)])
                l_eta.append(per_eta.detach())
                changes.append(torch.where(gnorm > 0, diff / (eta * safe), torch.zeros_like(diff)))
            l_eta_t, ch_t = torch.stack(l_eta), torch.stack(changes)
            loss_range = (l_eta_t.max(0).values - l_eta_t.min(0).values).tolist()
            grad_change = ch_t.max(0).values.tolist()

            # Santurkar's ICS: move only the layers before the probed Linear, recompute its gradient.
            shifted = {n: (params[n] - lr * grads[n] if n in earlier else params[n]).detach() for n in params}
            shifted[w_name] = shifted[w_name].requires_grad_()
            _, tot_s = _stacked_loss(kinds, shifted, xb, yb, noise)
            (g_after,) = torch.autograd.grad(tot_s, [shifted[w_name]])
            g_before = grads[w_name]
            denom = _per_model_norm([g_before])
            ics = torch.where(denom > 0, _per_model_norm([g_before - g_after]) / torch.where(denom > 0, denom, 1.0),
                              torch.zeros_like(denom)).tolist()
            for k, out in enumerate(outs):
                out.loss_range.append(loss_range[k])
                out.grad_change.append(grad_change[k])
                out.grad_norm.append(float(gnorm[k]))
                out.ics.append(ics[k])

        with torch.no_grad():
            params = {n: p - lr * grads[n] for n, p in params.items()}
        for k, out in enumerate(outs):
            out.losses.append(losses_t[k])
    return outs
