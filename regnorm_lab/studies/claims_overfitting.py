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

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from ..combining import build_model
from ..feature_scaling import z_score
from .datasets import RegressionTask, make_regression_task
from .training import TrainConfig, train_mlp

__all__ = ["BOOK_DRAWS", "BOOK_SEEDS", "Variant", "VARIANTS", "with_hidden_batch_norm", "z_scored", "overfitting_study"]


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
    ``1000 * d + s``: the variants without dropout start from identical
    ``Linear`` weights and see identical mini-batches (the model is built
    from that seed and handed to :func:`~regnorm_lab.studies.training.train_mlp`),
    so their paired differences are the effect of the variant alone;
    dropout variants are built by ``train_mlp`` from the same seed (their
    masks share the generator). Training is the question's: Adam, lr 0.01,
    batch 64, ``epochs`` epochs, evaluated after the last.

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
    rows: list[dict[str, float | int | str]] = []
    bar = tqdm(total=len(draws) * len(seeds) * len(variants), desc="runs", disable=not progress)
    for d in draws:
        raw = make_regression_task(rng=np.random.default_rng(d))
        tasks = {"raw": raw, "z": z_scored(raw)}
        for s in seeds:
            run_seed = 1000 * int(d) + int(s)
            for name in variants:
                v = VARIANTS[name]
                config = TrainConfig(batch_norm=v.input_bn, seed=run_seed, epochs=epochs, eval_every=epochs, **v.config)
                model = None
                if config.dropout == 0:
                    model = build_model(raw.n_features, config.hidden, 0.0, v.input_bn,
                                        generator=torch.Generator().manual_seed(run_seed))
                    if v.hidden_bn:
                        model = with_hidden_batch_norm(model)
                r = train_mlp(tasks[v.inputs], config, model=model)
                rows.append({"draw": int(d), "seed": int(s), "model": name,
                             "train_r2": r.final_train_r2, "val_r2": r.final_val_r2, "gap": r.gap})
                bar.update()
    bar.close()
    return pd.DataFrame(rows)
