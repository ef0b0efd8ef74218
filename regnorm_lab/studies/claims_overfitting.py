"""Does normalization reduce overfitting? The study behind claims 5-6 of chapter 13 and chapter 12's infographic.

The question's model (:func:`regnorm_lab.combining.build_model`, 2×128 ReLU
MLP, Adam) is trained on several independent draws of the synthetic
regression task with several seeds per draw, in *variants* that differ in
one thing each: how the inputs are scaled (raw, or z-scored with the
training statistics), whether a ``BatchNorm1d`` normalises the input,
whether one follows each hidden ``Linear`` (before its ReLU), and which
regularizer is on. :func:`overfitting_study` returns a tidy table, one row
per run, with training and validation R² and their gap; the chapters read
paired effects from it with
:func:`~regnorm_lab.studies.claims_analysis.paired_effect`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from ..combining import build_model, r2_score
from ..feature_scaling import z_score
from .batched import train_batched
from .datasets import RegressionTask, make_regression_task
from .training import TrainConfig

__all__ = ["BOOK_DRAWS", "BOOK_SEEDS", "Variant", "VARIANTS", "with_hidden_batch_norm", "z_scored", "train_transformed",
           "overfitting_study"]


@dataclass(frozen=True)
class Variant:
    """One model of the study.

    Attributes:
        inputs: ``"raw"`` (the task's badly scaled columns) or ``"z"`` (z-scored with training statistics).
        input_bn: ``BatchNorm1d`` on the input (the question's "Normalization" layer).
        hidden_bn: ``BatchNorm1d`` after each hidden ``Linear``, before its ReLU.
        config: Extra :class:`~regnorm_lab.studies.training.TrainConfig` fields (``l1``, ``l2``, ``dropout``).
    """

    inputs: str = "z"
    input_bn: bool = False
    hidden_bn: bool = False
    config: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.inputs not in ("raw", "z"):
            raise ValueError(f"inputs must be 'raw' or 'z', got {self.inputs!r}")
        if self.hidden_bn and self.config.get("dropout", 0.0) > 0:
            raise ValueError("config: dropout with hidden_bn is not part of this study (placement matters, see chapter 06)")


#: The design chapter 13 runs: data draws and training seeds per draw.
BOOK_DRAWS: tuple[int, ...] = (0, 1, 2, 3, 4)
BOOK_SEEDS: tuple[int, ...] = (0, 1, 2, 3, 4)

#: The variants the chapters use, by display name.
VARIANTS: dict[str, Variant] = {
    "z-scored, no BN": Variant("z"),
    "input BN, raw inputs": Variant("raw", input_bn=True),
    "z-scored + hidden BN": Variant("z", hidden_bn=True),
    "raw, no normalization": Variant("raw"),
    "input BN + L1 0.01": Variant("raw", input_bn=True, config={"l1": 0.01}),
    "input BN + L2 0.1": Variant("raw", input_bn=True, config={"l2": 0.1}),
    "input BN + dropout 0.3": Variant("raw", input_bn=True, config={"dropout": 0.3}),
    "input BN + hidden BN": Variant("raw", input_bn=True, hidden_bn=True),
}


def with_hidden_batch_norm(model: nn.Sequential) -> nn.Sequential:
    """A copy of ``model`` with a fresh ``BatchNorm1d`` after every ``nn.Linear`` but the last.

    The ``Linear`` layers keep their weights, so the two models start from
    the same point and differ only by the inserted normalization.

    Shape:
        As ``model``: input ``(N, n_features)``, output ``(N, 1)``.
    """
    layers = list(model)
    last = max(i for i, m in enumerate(layers) if isinstance(m, nn.Linear))
    out: list[nn.Module] = []
    for i, m in enumerate(layers):
        out.append(m)
        if isinstance(m, nn.Linear) and i != last:
            out.append(nn.BatchNorm1d(m.out_features))
    return nn.Sequential(*out)


def z_scored(task: RegressionTask) -> RegressionTask:
    """``task`` with its features z-scored by the training mean and standard deviation (float32)."""
    Z_train, Z_val = z_score(task.X_train, task.X_val)
    return RegressionTask(Z_train.astype(np.float32), task.y_train, Z_val.astype(np.float32), task.y_val)


def train_transformed(
    task: RegressionTask,
    config: TrainConfig,
    transform: Callable[[nn.Sequential], nn.Sequential],
    *,
    dtype: torch.dtype = torch.float32,
) -> tuple[float, float]:
    """``train_mlp(task, config)`` on ``transform(build_model(...))``, with ``train_mlp``'s random streams.

    The model is drawn from ``torch.Generator(config.seed)`` exactly as
    :func:`~regnorm_lab.studies.training.train_mlp` draws it, then
    transformed (e.g. :func:`with_hidden_batch_norm`), and the same
    generator goes on to give the batch order. So a transformed run sees
    the initial ``Linear`` weights and mini-batches of the untransformed
    run of the same seed, as :func:`~regnorm_lab.studies.batched.train_batched`
    trains it (``train_mlp`` given a ``model`` would restart the generator).
    Adam, MSE, no penalty: what this study's hidden-BN variants need.

    Returns:
        ``(train_r2, val_r2)`` of the final model in eval mode.

    Raises:
        ValueError: a config with a penalty, weight decay, dropout or another optimizer than Adam.

    Shape:
        ``task.X_train``: ``(n_train, n_features)``.
    """
    if config.l1 or config.l2 or config.weight_decay or config.dropout or config.optimizer != "adam":
        raise ValueError(f"config must be plain Adam without penalty, decay or dropout, got {config!r}")
    generator = torch.Generator().manual_seed(config.seed)
    model = build_model(task.n_features, config.hidden, 0.0, config.batch_norm, generator=generator)
    model = transform(model).to(dtype)
    X_train, y_train, X_val, y_val = (t.to(dtype) for t in task.tensors())
    y_train, y_val = y_train.reshape(-1), y_val.reshape(-1)
    n = X_train.shape[0]
    batch = n if config.batch_size is None else min(config.batch_size, n)
    starts = [s for s in range(0, n, batch) if n - s >= 2]  # as train_mlp: no 1-row tail for BatchNorm
    # As train_mlp's optimizer: one parameter group, fused Adam.
    optimizer = torch.optim.Adam([{"params": list(model.parameters()), "weight_decay": 0.0}], lr=config.lr, fused=True)
    model.train()
    for _ in range(config.epochs):
        order = torch.randperm(n, generator=generator) if batch < n else None
        for s in starts:
            idx = slice(None) if order is None else order[s : s + batch]
            loss = F.mse_loss(model(X_train[idx]).reshape(-1), y_train[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    model.eval()
    with torch.inference_mode():
        return r2_score(y_train, model(X_train).reshape(-1)), r2_score(y_val, model(X_val).reshape(-1))


def overfitting_study(
    variants: Sequence[str],
    draws: Sequence[int] = BOOK_DRAWS,
    seeds: Sequence[int] = BOOK_SEEDS,
    *,
    epochs: int = 150,
    progress: bool = False,
) -> pd.DataFrame:
    """Train every variant on every ``(draw, seed)`` and return one row per run.

    Draw ``d`` is ``make_regression_task(rng=default_rng(d))`` (256 training,
    2048 validation rows). Run ``(d, s)`` uses the training seed
    ``1000 * d + s``: every variant draws its ``Linear`` weights and then
    its batch order from ``torch.Generator(1000 * d + s)`` as
    :func:`~regnorm_lab.studies.training.train_mlp` does, so the variants
    without dropout start from identical weights and see identical
    mini-batches, and their paired differences are the effect of the
    variant alone; dropout variants share the weights and the first
    epoch's batches (their masks then take from the same generator).
    Training is the question's: Adam, lr 0.01, batch 64, ``epochs`` epochs,
    evaluated after the last. The variants without hidden BN are trained
    together by :func:`~regnorm_lab.studies.batched.train_batched` (one
    stacked model, about 3x cheaper per run than one by one); the hidden-BN
    ones by :func:`train_transformed`, from the same streams.

    Returns:
        Columns ``draw``, ``seed``, ``model``, ``train_r2``, ``val_r2``, ``gap`` (train minus validation R²).

    Raises:
        ValueError: an unknown variant name, or empty or repeated ``draws``/``seeds``.
    """
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown or not variants:
        raise ValueError(f"variants must be names from VARIANTS ({list(VARIANTS)}), got {list(variants)!r}")
    for name, values in (("draws", draws), ("seeds", seeds)):
        if len(values) == 0 or len(set(values)) != len(values):
            raise ValueError(f"{name} must be a non-empty sequence of distinct integers, got {values!r}")
    runs: list[tuple[int, int, str, RegressionTask, TrainConfig]] = []
    for d in draws:
        raw = make_regression_task(rng=np.random.default_rng(d))
        tasks = {"raw": raw, "z": z_scored(raw)}
        for s in seeds:
            for name in variants:
                v = VARIANTS[name]
                config = TrainConfig(batch_norm=v.input_bn, seed=1000 * int(d) + int(s), epochs=epochs,
                                     eval_every=epochs, **v.config)
                runs.append((int(d), int(s), name, tasks[v.inputs], config))
    scores: dict[int, tuple[float, float]] = {}
    bar = tqdm(total=len(runs), desc="runs", disable=not progress)
    # Every variant without hidden BN is one model of one batched training (the same runs as train_mlp's);
    # the hidden-BN ones, another architecture, are trained one by one from the same streams.
    flat = [k for k, r in enumerate(runs) if not VARIANTS[r[2]].hidden_bn]
    if flat:
        result = train_batched([runs[k][3] for k in flat], [runs[k][4] for k in flat])
        for j, k in enumerate(flat):
            scores[k] = (float(result.scores["train_r2"][j]), float(result.scores["val_r2"][j]))
        bar.update(len(flat))
    for k, (_, _, name, task, config) in enumerate(runs):
        if VARIANTS[name].hidden_bn:
            scores[k] = train_transformed(task, config, with_hidden_batch_norm)
            bar.update()
    bar.close()
    rows = [{"draw": d, "seed": s, "model": name, "train_r2": scores[k][0], "val_r2": scores[k][1],
             "gap": scores[k][0] - scores[k][1]} for k, (d, s, name, _, _) in enumerate(runs)]
    return pd.DataFrame(rows)
