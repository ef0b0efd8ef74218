"""Small, seeded experiments behind the normalization chapters (05, 07, 08, 10).

The training probe of chapter 10 (:func:`probe_training`) lives in
:mod:`~regnorm_lab.studies.norm_probe` and is re-exported here.

Everything here is synthetic-data, CPU-sized and deterministic given its
generators: each function takes an explicit ``torch.Generator`` or
``numpy.random.Generator`` and never touches a global seed. The chapters call
these functions and print the numbers they return; the tests in
``tests/studies/test_experiments_norm.py`` check the machinery against torch and
against formulas.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .._validation import check_nonnegative, check_positive
from .norm_probe import TrainingProbe, probe_training

__all__ = [
    "NoisyBatchNorm1d",
    "make_deep_mlp",
    "train_classifier",
    "SweepRow",
    "lr_sweep",
    "epochs_to_target",
    "largest_stable_lr",
    "TrainingProbe",
    "probe_training",
    "normalization_set",
    "adain",
]

_NORMS = ("none", "batch", "noisy_batch")


class NoisyBatchNorm1d(nn.Module):
    """``BatchNorm1d`` followed, in training mode only, by a fresh random per-unit affine map.

    This is the "noisy BatchNorm" of Santurkar et al. (2018): after
    normalising, every unit is multiplied by ``exp(0.5 * noise_scale * z1)``
    and shifted by ``noise_scale * z2`` with new ``z1, z2 ~ N(0, 1)`` drawn at
    every forward call, so the next layer sees a distribution that moves
    from step to step on purpose. In eval mode it is a plain ``BatchNorm1d``.

    Args:
        num_features: Number of units ``D``.
        noise_scale: Size of the injected shift (and half the log-scale spread), ``>= 0``.
        generator: The only source of the noise.

    Shape:
        Input ``(N, D)``; output ``(N, D)``.
    """

    def __init__(self, num_features: int, noise_scale: float, generator: torch.Generator) -> None:
        super().__init__()
        self.bn = nn.BatchNorm1d(num_features)
        self.noise_scale = check_nonnegative("noise_scale", noise_scale)
        self.generator = generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn(x)
        if not self.training or self.noise_scale == 0.0:
            return out
        d = x.shape[1]
        shift = torch.randn(d, generator=self.generator, dtype=x.dtype) * self.noise_scale
        scale = torch.exp(torch.randn(d, generator=self.generator, dtype=x.dtype) * (0.5 * self.noise_scale))
        return out * scale + shift


def _init_linear(layer: nn.Linear, generator: torch.Generator, init: str = "default") -> None:
    """torch's default ``nn.Linear`` initialisation (or He's, ``init="he"``), drawn from ``generator``."""
    fan_in = layer.in_features
    with torch.no_grad():
        if init == "he":
            # He et al. (2015): variance 2 / fan_in keeps the ReLU signal's scale constant with depth.
            nn.init.kaiming_uniform_(layer.weight, a=0.0, nonlinearity="relu", generator=generator)
        else:
            # torch's default: uniform(+-1/sqrt(fan_in)), a third of He's variance, so the signal shrinks with depth.
            nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=generator)
        bound = 1.0 / math.sqrt(fan_in)
        nn.init.uniform_(layer.bias, -bound, bound, generator=generator)


def make_deep_mlp(
    n_in: int,
    n_out: int,
    *,
    generator: torch.Generator,
    depth: int = 5,
    width: int = 64,
    norm: str = "none",
    noise_scale: float = 0.3,
    noise_generator: torch.Generator | None = None,
    init: str = "default",
) -> nn.Sequential:
    """A ReLU MLP with ``depth`` hidden layers and an optional normalization after every hidden ``Linear``.

    Layers: ``[Linear, (norm), ReLU] * depth, Linear``. ``norm`` is ``"none"``,
    ``"batch"`` (``torch.nn.BatchNorm1d``) or ``"noisy_batch"``
    (:class:`NoisyBatchNorm1d`). Weights use torch's default ``nn.Linear``
    initialisation drawn from ``generator``, so two calls with equally seeded
    generators build identical networks, and the plain and normalised
    networks share their ``Linear`` weights.

    Args:
        n_in: Input features.
        n_out: Outputs (classes for cross-entropy).
        generator: Source of the initial weights.
        depth: Hidden layers, ``>= 1``.
        width: Units per hidden layer.
        norm: Which normalization follows each hidden ``Linear``.
        noise_scale: For ``"noisy_batch"``: see :class:`NoisyBatchNorm1d`.
        noise_generator: For ``"noisy_batch"``: source of the noise (required then).
        init: ``"default"`` (torch's ``nn.Linear`` initialisation) or ``"he"``
            (He/Kaiming uniform for ReLU).

    Returns:
        The network, in training mode.

    Shape:
        Input ``(N, n_in)``; output ``(N, n_out)``.
    """
    if norm not in _NORMS:
        raise ValueError(f"norm must be one of {_NORMS}, got {norm!r}")
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth!r}")
    if init not in ("default", "he"):
        raise ValueError(f"init must be 'default' or 'he', got {init!r}")
    if norm == "noisy_batch" and noise_generator is None:
        raise ValueError("noise_generator must be a torch.Generator when norm='noisy_batch'")
    layers: list[nn.Module] = []
    d = n_in
    for _ in range(depth):
        lin = nn.Linear(d, width)
        _init_linear(lin, generator, init)
        layers.append(lin)
        if norm == "batch":
            layers.append(nn.BatchNorm1d(width))
        elif norm == "noisy_batch":
            layers.append(NoisyBatchNorm1d(width, noise_scale, noise_generator))  # type: ignore[arg-type]
        layers.append(nn.ReLU())
        d = width
    head = nn.Linear(d, n_out)
    _init_linear(head, generator, init)
    layers.append(head)
    return nn.Sequential(*layers)


def train_classifier(
    model: nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    lr: float,
    epochs: int,
    generator: torch.Generator,
    batch_size: int = 64,
) -> list[float]:
    """Plain mini-batch SGD on cross-entropy; returns the mean training loss of every epoch.

    Training stops early (and the last entry is ``inf``) as soon as a loss is
    not finite, because a diverged run only wastes time. ``model`` is trained
    in place (it is the object under study); ``X`` and ``y`` are not modified.

    Args:
        model: The network to train.
        X: Features.
        y: Integer class labels.
        lr: SGD learning rate, ``> 0``.
        epochs: Passes over the data.
        generator: Source of the shuffling order.
        batch_size: Rows per step.

    Returns:
        One float per completed epoch (mean of that epoch's mini-batch losses).

    Shape:
        X: ``(N, D)``; y: ``(N,)``.
    """
    check_positive("lr", lr)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    n = X.shape[0]
    history: list[float] = []
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(n, generator=generator)
        total, count = 0.0, 0
        for start in range(0, n - 1, batch_size):
            idx = perm[start : start + batch_size]
            if idx.numel() < 2:  # BatchNorm cannot normalise a batch of one
                continue
            loss = F.cross_entropy(model(X[idx]), y[idx])
            if not torch.isfinite(loss):
                history.append(math.inf)
                return history
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * idx.numel()
            count += idx.numel()
        history.append(total / count)
    return history


@dataclass(frozen=True)
class SweepRow:
    """One run of a learning-rate sweep: its settings and per-epoch training losses."""

    norm: str
    lr: float
    seed: int
    losses: tuple[float, ...]

    @property
    def final(self) -> float:
        """The last epoch's loss (``inf`` if the run diverged)."""
        return self.losses[-1]


def lr_sweep(
    X: torch.Tensor,
    y: torch.Tensor,
    n_classes: int,
    lrs: Sequence[float],
    *,
    norms: Sequence[str] = ("none", "batch"),
    seeds: Sequence[int] = (0,),
    epochs: int = 15,
    batch_size: int = 64,
    depth: int = 5,
    width: int = 64,
    init: str = "default",
) -> list[SweepRow]:
    """Train one deep MLP per (norm, lr, seed) with SGD and record its loss curve.

    For a given seed every network starts from the same ``Linear`` weights and
    sees the same mini-batch order, so the only difference between ``norm``
    settings is the normalization layer itself. ``init`` is passed to
    :func:`make_deep_mlp` (``"default"`` or ``"he"``).

    Shape:
        X: ``(N, D)``; y: ``(N,)``.
    """
    rows: list[SweepRow] = []
    for seed in seeds:
        for norm in norms:
            for lr in lrs:
                model = make_deep_mlp(
                    X.shape[1], n_classes, generator=torch.Generator().manual_seed(seed), depth=depth, width=width,
                    norm=norm, init=init,
                )
                losses = train_classifier(
                    model, X, y, lr=lr, epochs=epochs, generator=torch.Generator().manual_seed(10_000 + seed), batch_size=batch_size
                )
                rows.append(SweepRow(norm, float(lr), int(seed), tuple(losses)))
    return rows


def epochs_to_target(losses: Sequence[float], target: float) -> int | None:
    """The first epoch (1-based) whose loss is at or below ``target``, or ``None`` if none is."""
    for i, value in enumerate(losses, start=1):
        if value <= target:
            return i
    return None


def largest_stable_lr(rows: Sequence[SweepRow], norm: str, baseline_loss: float) -> float | None:
    """The largest learning rate at which every seed of ``norm`` ended finite and below ``baseline_loss``.

    "Stable" means the run neither diverged nor stalled: its final loss is
    finite and lower than ``baseline_loss``, which the chapters set to the
    loss of always predicting the class frequencies (the entropy of the
    labels), the best a network that learned nothing about the inputs can do.
    """
    by_lr: dict[float, list[float]] = {}
    for r in rows:
        if r.norm == norm:
            by_lr.setdefault(r.lr, []).append(r.final)
    ok = [lr for lr, finals in by_lr.items() if all(math.isfinite(f) and f < baseline_loss for f in finals)]
    return max(ok) if ok else None


def normalization_set(kind: str, shape: tuple[int, int, int], num_groups: int = 2) -> np.ndarray:
    """Which entries of an ``(N, C, L)`` activation share their mean and variance with entry ``(0, 0, 0)``.

    ``kind`` is ``"batch"`` (over N and L, per channel), ``"layer"`` (over C
    and L, per sample), ``"instance"`` (over L, per sample and channel) or
    ``"group"`` (over a group of ``C // num_groups`` channels and L, per
    sample), as in Wu & He (2018), figure 2. Used to draw that figure.

    Shape:
        Returns a boolean array of ``shape`` ``(N, C, L)``.
    """
    n, c, length = shape
    mask = np.zeros(shape, dtype=bool)
    if kind == "batch":
        mask[:, 0, :] = True
    elif kind == "layer":
        mask[0, :, :] = True
    elif kind == "instance":
        mask[0, 0, :] = True
    elif kind == "group":
        if num_groups < 1 or c % num_groups != 0:
            raise ValueError(f"num_groups must divide the channel count {c}, got {num_groups!r}")
        mask[0, : c // num_groups, :] = True
    else:
        raise ValueError(f"kind must be 'batch', 'layer', 'instance' or 'group', got {kind!r}")
    return mask


def adain(content: np.ndarray, style: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """Adaptive instance normalization (Huang & Belongie, 2017): content's planes with style's per-channel statistics.

    Each ``(n, c)`` plane of ``content`` is instance-normalised (mean 0,
    variance 1 over its spatial positions, biased variance) and then given
    the mean and standard deviation of the matching plane of ``style``.
    Neither input is modified.

    Shape:
        content, style: ``(N, C, H, W)``; returns ``(N, C, H, W)``.
    """
    check_positive("eps", eps)
    content = np.asarray(content, dtype=np.float64)
    style = np.asarray(style, dtype=np.float64)
    if content.ndim != 4 or content.shape[:2] != style.shape[:2] or style.ndim != 4:
        raise ValueError(f"content and style must be (N, C, H, W) with equal N and C, got {content.shape} and {style.shape}")
    c_mean = content.mean(axis=(2, 3), keepdims=True)
    c_std = np.sqrt(content.var(axis=(2, 3), keepdims=True) + eps)
    s_mean = style.mean(axis=(2, 3), keepdims=True)
    s_std = np.sqrt(style.var(axis=(2, 3), keepdims=True) + eps)
    return (content - c_mean) / c_std * s_std + s_mean
