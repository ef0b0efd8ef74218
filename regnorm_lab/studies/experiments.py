"""Small, seeded experiments behind the regularization chapters (04, 09, 11).

Every function runs real training (:func:`regnorm_lab.studies.training.train_mlp`) or
a real forward pass on synthetic data and returns plain data: a pandas
``DataFrame`` with one row per run, or a small dataclass. The chapters print
those numbers next to their figures, so a conclusion in the text can always be
checked against the table it came from.

Randomness: a run's init, batch order and dropout masks come from the
``torch.Generator`` that ``train_mlp`` seeds with ``TrainConfig.seed``; data
come from the caller's ``numpy.random.Generator``. No global seed is touched.

The grids of the combining study, their intervals and paired effects live in
:mod:`.design` and :mod:`.analysis` (intervals over data draws as well as
seeds); this module keeps the single-draw experiments of chapters 04, 09 and 11.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from .._validation import check_in_unit_interval, check_nonnegative, check_positive
from .datasets import RegressionTask
from .training import TrainConfig, TrainResult, train_mlp

__all__ = [
    "weight_stats",
    "run_row",
    "learning_curves",
    "variance_decomposition",
    "penalty_sweep",
    "VarianceShift",
    "dropout_bn_variance_shift",
]

def _linear_weights(model: nn.Module) -> list[torch.Tensor]:
    """The kernels that ``weight_penalty`` penalises: every ``nn.Linear`` weight."""
    return [m.weight.detach() for m in model.modules() if isinstance(m, nn.Linear)]


def weight_stats(model: nn.Module, tol: float = 1e-3, rel_tol: float = 1e-2) -> dict[str, float]:
    """Size and sparsity of a model's ``nn.Linear`` weights (the penalised kernels).

    Why a tolerance for "zero": the course trains with Adam on the loss plus
    ``l1 * sum|W|``. That is a *subgradient* method, so a weight pushed to zero
    by L1 keeps jittering around it by about one step size instead of landing
    on exactly 0 (only a proximal step such as ``soft_threshold`` does that).
    A weight counts as zero when ``|w| < tol``.

    Args:
        model: any module; biases and normalisation parameters are ignored.
        tol: magnitude below which a weight counts as zero, ``> 0``.
        rel_tol: for ``rel_sparsity``, a weight counts as zero when it is
            below ``rel_tol`` times the largest magnitude in its own layer, ``> 0``.

    Returns:
        ``{"weight_l1": sum|W|, "weight_l2": sqrt(sum W²), "sparsity": fraction
        of weights with |w| < tol, "rel_sparsity": fraction of weights below
        rel_tol times their layer's largest |w|, "dead_inputs": fraction of
        input features whose first-layer weights are all below tol}`` over all
        kernels. ``rel_sparsity`` does not change when all weights are scaled
        by the same factor.

    Raises:
        ValueError: ``tol`` or ``rel_tol`` is not positive.

    Shape:
        Scalars (Python floats).
    """
    tol = check_positive("tol", tol)
    rel_tol = check_positive("rel_tol", rel_tol)
    weights = _linear_weights(model)
    if not weights:
        return {"weight_l1": 0.0, "weight_l2": 0.0, "sparsity": 0.0, "rel_sparsity": 0.0, "dead_inputs": 0.0}
    flat = torch.cat([w.reshape(-1) for w in weights]).to(torch.float64)
    first = weights[0].abs()  # (hidden, n_features): a dead input has a whole column below tol
    # Scale-free sparsity: shrinking every weight by the same factor (what L2 tends to do) leaves it
    # unchanged, setting some weights to zero (what L1 does) raises it.
    rel = torch.cat([(w.abs() < rel_tol * w.abs().max()).reshape(-1) for w in weights]).double()
    return {
        "weight_l1": float(flat.abs().sum()),
        "weight_l2": float(flat.pow(2).sum().sqrt()),
        "sparsity": float((flat.abs() < tol).double().mean()),
        "rel_sparsity": float(rel.mean()),
        "dead_inputs": float((first < tol).all(dim=0).double().mean()),
    }


def run_row(result: TrainResult, tol: float = 1e-3) -> dict[str, float]:
    """One flat row describing a finished run: its config, R² numbers and weight statistics.

    Args:
        result: what :func:`~regnorm_lab.studies.training.train_mlp` returned.
        tol: zero tolerance passed to :func:`weight_stats`.

    Returns:
        ``result.summary()`` (the config fields, ``final_train_r2``,
        ``final_val_r2``, ``best_val_r2``, ``gap``) plus ``final_val_mse`` and
        the :func:`weight_stats` entries.

    Shape:
        A dict of scalars.
    """
    row = dict(result.summary())
    row["final_val_mse"] = result.history.val_loss[-1]
    row.update(weight_stats(result.model, tol))
    return row


def learning_curves(
    task: RegressionTask,
    configs: Mapping[str, TrainConfig],
    *,
    progress: bool = False,
) -> pd.DataFrame:
    """Train one model per labelled config and return their per-epoch curves in long form.

    Args:
        task: the data, shared by every run.
        configs: label -> configuration (e.g. ``{"no penalty": ..., "L2 1e-3": ...}``).
        progress: show a tqdm bar over runs.

    Returns:
        Columns ``label, epoch, train_r2, val_r2, train_loss, val_loss``: one
        row per (label, epoch), epochs counted from 1, labels in input order.

    Shape:
        ``len(configs) * epochs`` rows (epochs of each config).
    """
    frames = []
    for label, config in tqdm(list(configs.items()), desc="runs", disable=not progress):
        h = train_mlp(task, config).history
        frames.append(
            pd.DataFrame(
                {
                    "label": label,
                    "epoch": np.arange(1, len(h.val_r2) + 1),
                    "train_r2": h.train_r2,
                    "val_r2": h.val_r2,
                    "train_loss": h.train_loss,
                    "val_loss": h.val_loss,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def variance_decomposition(
    task: RegressionTask,
    configs: Mapping[str, TrainConfig],
    n_splits: int = 4,
    *,
    progress: bool = False,
) -> pd.DataFrame:
    """How much of a model's validation error is variance: train on disjoint training sets and compare.

    The training rows are dealt into ``n_splits`` disjoint sets (row ``i``
    goes to set ``i % n_splits``); every config is trained once on each set
    (with seed ``config.seed + k`` for set ``k``) and evaluated on the shared
    validation set. For squared error the expected error of one model splits
    exactly into the error of the expected model (bias² plus noise) and the
    variance of the models around it:

    ``E_D (y - f_D(x))² = (y - E_D f_D(x))² + Var_D f_D(x)``.

    With ``K`` models the variance is estimated without bias by the sample
    variance ``s²`` (``ddof=1``) of the ``K`` predictions, and the first term
    by ``(y - f̄)² - s²/K`` (the average of ``K`` models still carries
    ``1/K`` of the variance). Both are averaged over the validation points.

    Args:
        task: the data; its training rows are split, its validation rows shared.
        configs: label -> configuration.
        n_splits: number of disjoint training sets ``K``, ``>= 2``; each needs at least 2 rows.
        progress: tqdm bar over runs.

    Returns:
        One row per label: ``label``; ``mean_mse``, the average validation MSE
        of one model; ``mse_of_mean``, the validation MSE of the ``K``-model
        average; ``variance``, the estimated variance over training sets;
        ``bias_noise``, the estimated error of the expected model (so that
        ``mean_mse == bias_noise + variance`` and ``mse_of_mean == bias_noise
        + variance / K``); ``n_train`` (rows per set); ``mean_train_r2`` and
        ``mean_val_r2``.

    Raises:
        ValueError: ``n_splits`` below 2 or too large for the training rows.

    Shape:
        ``(len(configs), 8)``.
    """
    if isinstance(n_splits, bool) or not isinstance(n_splits, int) or n_splits < 2:
        raise ValueError(f"n_splits must be an integer >= 2, got {n_splits!r}")
    if len(task.y_train) < 2 * n_splits:
        raise ValueError(f"n_splits={n_splits} leaves fewer than 2 training rows per set")
    parts = [
        RegressionTask(task.X_train[k::n_splits], task.y_train[k::n_splits], task.X_val, task.y_val)
        for k in range(n_splits)
    ]
    X_val = torch.as_tensor(task.X_val).float()
    y_val = np.asarray(task.y_val, dtype=np.float64)
    rows = []
    jobs = list(configs.items())
    for label, config in tqdm(jobs, desc="configs", disable=not progress):
        preds, train_r2, val_r2 = [], [], []
        for k, part in enumerate(parts):
            result = train_mlp(part, dataclasses.replace(config, seed=config.seed + k))
            with torch.inference_mode():
                preds.append(result.model(X_val).reshape(-1).double().numpy())
            train_r2.append(result.final_train_r2)
            val_r2.append(result.final_val_r2)
        f = np.stack(preds)  # (K, n_val)
        mse_of_mean = float(np.mean((f.mean(axis=0) - y_val) ** 2))
        variance = float(np.mean(f.var(axis=0, ddof=1)))
        rows.append(
            {
                "label": label,
                "mean_mse": float(np.mean((f - y_val) ** 2)),
                "mse_of_mean": mse_of_mean,
                "variance": variance,
                "bias_noise": mse_of_mean - variance / n_splits,
                "n_train": len(parts[0].y_train),
                "mean_train_r2": float(np.mean(train_r2)),
                "mean_val_r2": float(np.mean(val_r2)),
            }
        )
    return pd.DataFrame(rows)


def _check_values(name: str, values: Iterable[float], upper: float | None = None) -> list[float]:
    """A non-empty list of non-negative floats (below ``upper`` when given), or ``ValueError`` naming ``name``."""
    out = [check_nonnegative(name, v) for v in values]
    if not out:
        raise ValueError(f"{name} must contain at least one value")
    if upper is not None and any(v >= upper for v in out):
        raise ValueError(f"{name} must be below {upper}, got {out!r}")
    return out


def _check_seeds(seeds: Iterable[int]) -> list[int]:
    out = list(seeds)
    if not out or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) for s in out):
        raise ValueError(f"seeds must be a non-empty sequence of integers, got {seeds!r}")
    if len(set(out)) != len(out):
        raise ValueError(f"seeds must be distinct, got {out!r}")
    return [int(s) for s in out]


def penalty_sweep(
    task: RegressionTask,
    strengths: Sequence[float],
    *,
    kinds: Sequence[str] = ("l1", "l2"),
    seeds: Sequence[int] = (0,),
    base: TrainConfig | None = None,
    tol: float = 1e-3,
    progress: bool = False,
) -> pd.DataFrame:
    """Train at each penalty strength, for L1 and/or L2, and record fit and weight statistics.

    Args:
        task: the data.
        strengths: penalty coefficients to try (Keras convention: added to the
            loss as ``strength * sum|W|`` or ``strength * sum W²``); 0 is
            allowed and is the unregularised baseline.
        kinds: which penalties, each ``"l1"`` or ``"l2"``.
        seeds: training seeds (init, batch order); one run per seed.
        base: every other setting (default: ``TrainConfig()``); its ``l1``,
            ``l2`` and ``seed`` are overwritten.
        tol: zero tolerance of :func:`weight_stats`.
        progress: tqdm bar over runs.

    Returns:
        One row per (kind, strength, seed): ``kind``, ``strength``, the
        :func:`run_row` columns.

    Raises:
        ValueError: a negative strength, an unknown kind, or bad seeds.

    Shape:
        ``len(kinds) * len(strengths) * len(seeds)`` rows.
    """
    strengths = _check_values("strengths", strengths)
    seeds = _check_seeds(seeds)
    kinds = list(kinds)
    if not kinds or any(k not in ("l1", "l2") for k in kinds):
        raise ValueError(f"kinds must be a non-empty sequence of 'l1'/'l2', got {kinds!r}")
    base = base or TrainConfig()
    rows = []
    grid = list(itertools.product(kinds, strengths, seeds))
    for kind, strength, seed in tqdm(grid, desc="runs", disable=not progress):
        config = dataclasses.replace(
            base, l1=strength if kind == "l1" else 0.0, l2=strength if kind == "l2" else 0.0, seed=seed
        )
        rows.append({"kind": kind, "strength": strength, **run_row(train_mlp(task, config), tol)})
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class VarianceShift:
    """What a BatchNorm layer sees when dropout comes before it (the "variance shift").

    Attributes:
        p: drop probability of the dropout layer.
        order: ``"dropout->bn"`` or ``"bn->dropout"``.
        running_var: the BN layer's running variance after training-mode
            batches (what it will divide by in eval mode), per unit.
        eval_var: the variance of the same BN input in eval mode (no dropout),
            per unit.
        eval_out_var: variance of the BN *output* in eval mode, per unit (1
            when there is no shift, since BN's affine map starts at identity).

    Shape:
        Each array field: ``(n_units,)``.
    """

    p: float
    order: str
    running_var: np.ndarray
    eval_var: np.ndarray
    eval_out_var: np.ndarray

    @property
    def ratio(self) -> float:
        """Mean over units of ``eval_var / running_var``: 1 means no shift."""
        return float(np.mean(self.eval_var / self.running_var))


def dropout_bn_variance_shift(
    p: float,
    *,
    order: str = "dropout->bn",
    n_in: int = 64,
    n_units: int = 32,
    batch_size: int = 128,
    n_batches: int = 200,
    generator: torch.Generator,
) -> VarianceShift:
    """Measure the train/eval variance shift of a BatchNorm that follows dropout (Li et al. 2019).

    The block is ``x -> Dropout(p) -> Linear(n_in, n_units) -> BatchNorm1d``
    (``order="dropout->bn"``) or ``x -> Linear -> BatchNorm1d -> Dropout(p)``
    (``"bn->dropout"``, the usual fix), with inputs ``x = relu(z)``,
    ``z ~ N(0, 1)`` independent: non-negative, like the hidden activations
    that dropout normally sees. ``n_batches`` training-mode batches set the
    BN running statistics (momentum ``None``: a cumulative average, so the
    estimate is not noisy); then one large eval-mode batch measures the
    variance that actually reaches the BN layer.

    With inverted dropout the kept units are scaled by ``1/(1-p)``, so in
    training the BN input has a larger variance than in eval mode, where
    dropout is off; BN divides eval activations by the training variance and
    shrinks them.

    Args:
        p: drop probability, in ``[0, 1)``.
        order: where dropout sits, ``"dropout->bn"`` or ``"bn->dropout"``.
        n_in: input width.
        n_units: BN width (the measured units).
        batch_size: rows per training batch, ``>= 2``.
        n_batches: training-mode batches, ``>= 1``.
        generator: the only source of randomness (weights, inputs, masks).

    Returns:
        A :class:`VarianceShift`.

    Raises:
        ValueError: ``p`` outside ``[0, 1)``, an unknown ``order``, or a size below its minimum.

    Shape:
        Arrays in the result: ``(n_units,)``.
    """
    p = check_in_unit_interval("p", p)
    if p >= 1.0:
        raise ValueError(f"p must be below 1 (p=1 drops everything), got {p!r}")
    if order not in ("dropout->bn", "bn->dropout"):
        raise ValueError(f"order must be 'dropout->bn' or 'bn->dropout', got {order!r}")
    for name, v, lo in (("n_in", n_in, 1), ("n_units", n_units, 1), ("batch_size", batch_size, 2), ("n_batches", n_batches, 1)):
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
    from ..dropout import Dropout  # the seeded nn.Dropout subclass

    linear = nn.Linear(n_in, n_units)
    bound = 1.0 / math.sqrt(n_in)
    with torch.no_grad():  # torch's default init range, drawn from our generator
        linear.weight.uniform_(-bound, bound, generator=generator)
        linear.bias.uniform_(-bound, bound, generator=generator)
    bn = nn.BatchNorm1d(n_units, momentum=None)
    drop = Dropout(p, generator=generator)
    pre_bn = nn.Sequential(drop, linear) if order == "dropout->bn" else linear
    post_bn: nn.Module = nn.Identity() if order == "dropout->bn" else drop

    def draw(n: int) -> torch.Tensor:
        return torch.relu(torch.randn(n, n_in, generator=generator))

    with torch.no_grad():
        pre_bn.train(), bn.train(), post_bn.train()
        for _ in range(n_batches):
            post_bn(bn(pre_bn(draw(batch_size))))
        pre_bn.eval(), bn.eval(), post_bn.eval()
        x = draw(20 * batch_size)
        h = pre_bn(x)
        out = post_bn(bn(h))
    return VarianceShift(
        p=p,
        order=order,
        running_var=bn.running_var.double().numpy().copy(),
        eval_var=h.double().var(dim=0, unbiased=True).numpy(),
        eval_out_var=out.double().var(dim=0, unbiased=True).numpy(),
    )
