"""Chapter 05's studies: BN against a plain MLP at two initialisations, and BN's gradients at initialisation with depth.

Two questions the first version of chapter 05 left open:

- how much of BN's advantage over a plain deep MLP is only the plain
  network's bad start (torch's default ``nn.Linear`` initialisation, whose
  signal shrinks about six-fold in variance per ReLU layer)? :func:`lr_study`
  runs the learning-rate sweep for plain networks at torch's default and at
  He initialisation and for BN, over several data draws;
- does BN keep gradients at a steady scale in *deep* networks too? Yang et
  al. (ICLR 2019) prove that without skip connections it does not: at
  initialisation a BN network's gradients grow geometrically towards the
  input. :func:`gradient_ratio_study` measures the ratio of the first and the
  last hidden layer's weight-gradient norms at several depths.

Both return tidy tables, one row per run.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F

from ..feature_scaling import z_score
from .datasets import make_classification_task
from .experiments_norm import epochs_to_target, largest_stable_lr, lr_sweep, make_deep_mlp

__all__ = ["BOOK_LR_DRAWS", "BOOK_RATIO_RUNS", "NETWORKS", "classification_draw", "baseline_loss", "first_last_gradient_ratio", "gradient_ratio_study", "lr_study"]

#: The designs chapter 05 runs (chapter 13 cites them): draws of the lr study, runs of the gradient study.
BOOK_LR_DRAWS: tuple[int, ...] = (0, 1, 2, 3)
BOOK_RATIO_RUNS: tuple[int, ...] = (0, 1, 2, 3, 4)

#: The networks of the learning-rate study: display name -> (``norm``, ``init``) of ``make_deep_mlp``.
NETWORKS: dict[str, tuple[str, str]] = {
    "plain, default init": ("none", "default"),
    "plain, He init": ("none", "he"),
    "BN, default init": ("batch", "default"),
}


def classification_draw(draw: int, n_train: int = 1024) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Draw ``draw`` of the course's classification task, z-scored with its training statistics.

    Returns:
        ``(X, y, n_classes)``: float32 training features, int64 labels and the class count.

    Shape:
        X: ``(n_train, 20)``; y: ``(n_train,)``.
    """
    task = make_classification_task(n_train=n_train, rng=np.random.default_rng(draw))
    X = torch.tensor(z_score(task.X_train, task.X_val)[0], dtype=torch.float32)
    return X, torch.tensor(task.y_train), task.n_classes


def baseline_loss(y: torch.Tensor, n_classes: int) -> float:
    """Cross-entropy of always predicting the class frequencies: what a network that learned nothing reaches.

    Shape:
        y: ``(N,)`` integer labels.
    """
    freq = np.bincount(y.numpy(), minlength=n_classes) / len(y)
    freq = freq[freq > 0]
    return float(-(freq * np.log(freq)).sum())


def first_last_gradient_ratio(model: nn.Sequential, X: torch.Tensor, y: torch.Tensor) -> float:
    """``||grad W_1|| / ||grad W_L||``: first over last *hidden* ``Linear``'s weight-gradient norm, one full batch.

    Above 1 the gradient grows from the output towards the input (explodes
    with depth if it does so geometrically); below 1 it vanishes.

    Shape:
        X: ``(N, D)``; y: ``(N,)``.
    """
    model.zero_grad()
    F.cross_entropy(model(X), y).backward()
    hidden = [m for m in model if isinstance(m, nn.Linear)][:-1]  # the head is not a hidden layer
    if len(hidden) < 2:
        raise ValueError("model must have at least 2 hidden Linear layers")
    return float(hidden[0].weight.grad.norm() / hidden[-1].weight.grad.norm())  # type: ignore[union-attr]


def gradient_ratio_study(
    depths: Sequence[int] = (5, 20, 40),
    runs: Sequence[int] = BOOK_RATIO_RUNS,
    networks: Sequence[tuple[str, str]] = (("batch", "default"), ("batch", "he"), ("none", "he")),
    width: int = 64,
) -> pd.DataFrame:
    """The first/last hidden gradient ratio at initialisation, per depth, network and run.

    Run ``r`` uses data draw ``r`` and weight seed ``r``: every run is an
    independent draw of both, so an interval over runs covers both sources of
    variation. The networks are in training mode (BN with batch statistics,
    as in the first step of training), on all 1024 training rows.

    Returns:
        Columns ``depth``, ``run``, ``norm``, ``init``, ``ratio``.
    """
    if any(d < 2 for d in depths):
        raise ValueError(f"depths must all be >= 2, got {list(depths)!r}")
    rows: list[dict[str, float | int | str]] = []
    for r in runs:
        X, y, n_classes = classification_draw(int(r))
        for depth in depths:
            for norm, init in networks:
                model = make_deep_mlp(X.shape[1], n_classes, generator=torch.Generator().manual_seed(int(r)),
                                      depth=int(depth), width=width, norm=norm, init=init)
                rows.append({"depth": int(depth), "run": int(r), "norm": norm, "init": init,
                             "ratio": first_last_gradient_ratio(model, X, y)})
    return pd.DataFrame(rows)


def lr_study(
    lrs: Sequence[float],
    draws: Sequence[int] = BOOK_LR_DRAWS,
    *,
    epochs: int = 15,
    target: float = 0.7,
) -> pd.DataFrame:
    """The chapter's learning-rate sweep for every network of :data:`NETWORKS` on every data draw.

    Draw ``d`` trains with seed ``d`` (weights and batch order), so each draw
    is one independent run of data and seed, and the three networks of a
    draw start from the same ``Linear`` weights up to the initialisation's
    scale (He's weights are the default ones times ``sqrt(6)``, drawn from the
    same generator) and see the same mini-batches.

    Returns:
        One row per (draw, network, lr): columns ``draw``, ``seed``, ``model``, ``lr``,
        ``final`` (last epoch's loss, ``inf`` if diverged), ``epochs_to_target`` (``nan`` if never),
        ``stable`` (final loss finite and below the draw's :func:`baseline_loss`).
    """
    rows: list[dict[str, float | int | str | bool]] = []
    for d in draws:
        X, y, n_classes = classification_draw(int(d))
        base = baseline_loss(y, n_classes)
        for name, (norm, init) in NETWORKS.items():
            sweep = lr_sweep(X, y, n_classes, lrs, norms=(norm,), seeds=(int(d),), epochs=epochs, init=init)
            stable_max = largest_stable_lr(sweep, norm, base)
            for r in sweep:
                hit = epochs_to_target(r.losses, target)
                rows.append({"draw": int(d), "seed": int(d), "model": name, "lr": r.lr, "final": r.final,
                             "epochs_to_target": np.nan if hit is None else float(hit),
                             "stable": bool(np.isfinite(r.final) and r.final < base),
                             "largest_stable_lr": np.nan if stable_max is None else stable_max})
    return pd.DataFrame(rows)
