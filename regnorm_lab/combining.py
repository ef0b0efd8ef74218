"""The seed-003 model: BatchNorm on the input, L1/L2 on the kernels, optional dropout (ps06).

The question that starts the course trains a Keras MLP regressor
(``BatchNormalization -> Dense(128, relu) -> Dense(128, relu) -> Dense(1)``)
with an L1 ``kernel_regularizer`` and optional ``Dropout`` layers, scored by
R². This module is the PyTorch version of the three pieces: the metric
(:func:`r2_score`), the Keras-style kernel penalty (:func:`weight_penalty`)
and the model itself (:func:`build_model`).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable

import torch
from torch import nn

from ._validation import check_nonnegative
from .dropout import Dropout as SeededDropout

__all__ = ["r2_score_core", "weight_penalty_core", "build_model_core", "r2_score", "weight_penalty", "build_model"]

LinearFactory = Callable[[int, int], nn.Linear]
DropoutFactory = Callable[[float], nn.Module]


def r2_score_core(y_true: torch.Tensor, y_pred: torch.Tensor) -> float:
    """``R² = 1 - SS_res / SS_tot``; as scikit-learn, 1.0 (exact) or 0.0 when the target is constant.

    Shape:
        y_true, y_pred: ``(N,)``; returns a Python float.
    """
    ss_res = float(((y_true - y_pred) ** 2).sum())
    ss_tot = float(((y_true - y_true.mean()) ** 2).sum())
    if ss_tot == 0.0:
        return 1.0 if ss_res == 0.0 else 0.0
    return 1.0 - ss_res / ss_tot


def weight_penalty_core(model: nn.Module, l1: float, l2: float) -> torch.Tensor:
    """Keras' ``kernel_regularizer``: ``l1 * sum|W| + l2 * sum W²`` over the ``nn.Linear`` weights only.

    Shape:
        returns a scalar tensor ``()``.
    """
    kernels = [m.weight for m in model.modules() if isinstance(m, nn.Linear)]  # no biases, no BN parameters
    if not kernels:
        return torch.zeros(())
    total = torch.zeros((), dtype=kernels[0].dtype, device=kernels[0].device)
    for W in kernels:
        if l1:  # skip a zero term: training loops call this every step
            total = total + l1 * W.abs().sum()
        if l2:
            total = total + l2 * W.pow(2).sum()
    return total


def build_model_core(
    n_features: int, hidden: int, p: float, batch_norm: bool, linear: LinearFactory, dropout: DropoutFactory
) -> nn.Sequential:
    """The seed-003 MLP: [BatchNorm1d] -> Linear -> ReLU -> [Dropout] -> Linear -> ReLU -> [Dropout] -> Linear.

    Shape:
        input ``(N, n_features)``; output ``(N, 1)``.
    """
    layers: list[nn.Module] = [nn.BatchNorm1d(n_features)] if batch_norm else []
    layers += [linear(n_features, hidden), nn.ReLU()]
    if p > 0:
        layers.append(dropout(p))
    layers += [linear(hidden, hidden), nn.ReLU()]
    if p > 0:
        layers.append(dropout(p))
    layers.append(linear(hidden, 1))
    return nn.Sequential(*layers)


# --------------------------------------------------------------------------- the checked functions (ps06)


def r2_score(y_true: torch.Tensor, y_pred: torch.Tensor) -> float:
    """Coefficient of determination, as ``sklearn.metrics.r2_score`` for 1-D targets.

    ``R² = 1 - sum((y_true - y_pred)²) / sum((y_true - mean(y_true))²)``,
    computed in float64 whatever the input dtype (as scikit-learn does), so
    float32 predictions do not lose digits in the sums.

    A constant ``y_true`` makes the denominator zero. As scikit-learn with its
    default ``force_finite=True``: the score is ``1.0`` when the predictions
    are exact and ``0.0`` otherwise (never ``nan`` or ``-inf``).

    Args:
        y_true: true targets, 1-D (a ``(N, 1)`` column is accepted and flattened).
        y_pred: predictions, the same number of elements as ``y_true``.

    Returns:
        The score as a Python float; 1 is perfect, 0 is as good as predicting
        the mean, and it is negative for worse models.

    Raises:
        ValueError: ``y_true`` has fewer than two elements or is not 1-D / a
            column; ``y_pred`` does not match its shape.

    Shape:
        ``y_true``: ``(N,)`` or ``(N, 1)``; ``y_pred``: the same; output: scalar.
    """
    y_true = torch.as_tensor(y_true)
    y_pred = torch.as_tensor(y_pred)
    if y_true.ndim == 2 and y_true.shape[1] == 1:
        y_true = y_true.reshape(-1)
    if y_pred.ndim == 2 and y_pred.shape[1] == 1:
        y_pred = y_pred.reshape(-1)
    if y_true.ndim != 1:
        raise ValueError(f"y_true must be 1-D (or an (N, 1) column), got shape {tuple(y_true.shape)}")
    if y_pred.shape != y_true.shape:
        raise ValueError(f"y_pred must have the shape of y_true {tuple(y_true.shape)}, got {tuple(y_pred.shape)}")
    # sklearn returns nan with a warning here; a score of one sample is meaningless, so say so.
    if y_true.numel() < 2:
        raise ValueError(f"y_true needs at least 2 samples for R², got {y_true.numel()}")
    # detach: the score is a report, never part of a graph; float64 as scikit-learn.
    return r2_score_core(y_true.detach().to(torch.float64), y_pred.detach().to(torch.float64))


def weight_penalty(model: nn.Module, l1: float = 0.0, l2: float = 0.0) -> torch.Tensor:
    """Keras-style kernel penalty ``l1 * sum|W| + l2 * sum W²`` over every ``nn.Linear`` weight.

    Only the weight matrices ("kernels") of the model's ``nn.Linear`` layers
    are penalised, as Keras' ``kernel_regularizer=regularizers.l1_l2(l1, l2)``
    on each ``Dense`` layer: biases, BatchNorm's ``weight``/``bias`` and any
    other parameter are left alone. The result is meant to be *added* to the
    data loss (Keras semantics), so ``l2`` here is the coefficient of ``W²``,
    not ``λ/2``: its gradient is ``l1 * sign(W) + 2 * l2 * W``.

    Args:
        model: any module; its ``nn.Linear`` submodules (found with
            ``model.modules()``, so nesting is fine) are penalised.
        l1: coefficient of the sum of absolute values, ``>= 0``.
        l2: coefficient of the sum of squares, ``>= 0``.

    Returns:
        A 0-d tensor on the weights' device and dtype, differentiable with
        respect to the weights (a constant zero when both coefficients are 0
        or the model has no ``nn.Linear``).

    Raises:
        ValueError: ``l1`` or ``l2`` is negative (the message names it).

    Shape:
        Output: ``()`` (a scalar tensor).
    """
    l1 = check_nonnegative("l1", l1)
    l2 = check_nonnegative("l2", l2)
    return weight_penalty_core(model, l1, l2)


def _reset_linear(layer: nn.Linear, generator: torch.Generator) -> None:
    """Redraw a Linear's parameters from torch's own default distributions, from ``generator``."""
    # Same as nn.Linear.reset_parameters (kaiming_uniform_ with a=sqrt(5), i.e.
    # U(-1/sqrt(fan_in), 1/sqrt(fan_in))), but from an explicit generator so a
    # run never touches the global RNG.
    nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=generator)
    if layer.bias is not None:
        bound = 1.0 / math.sqrt(layer.in_features) if layer.in_features > 0 else 0.0
        nn.init.uniform_(layer.bias, -bound, bound, generator=generator)


def _make_dropout(p: float, generator: torch.Generator | None) -> nn.Dropout:
    """``nn.Dropout(p)``, or its seeded subclass ``regnorm_lab.dropout.Dropout`` when a generator is given."""
    if generator is None:
        return nn.Dropout(p)
    return SeededDropout(p, generator=generator)


def build_model(
    n_features: int,
    hidden: int = 128,
    dropout: float = 0.0,
    batch_norm: bool = True,
    *,
    generator: torch.Generator | None = None,
) -> nn.Sequential:
    """The seed-003 MLP regressor in PyTorch.

    Layers, in order (the Keras model of the question, with its commented-out
    ``Dropout`` layers switched on by ``dropout > 0``):

    ``BatchNorm1d(n_features)`` (if ``batch_norm``), ``Linear(n_features, hidden)``,
    ``ReLU``, ``Dropout(dropout)`` (if ``dropout > 0``), ``Linear(hidden, hidden)``,
    ``ReLU``, ``Dropout(dropout)`` (if ``dropout > 0``), ``Linear(hidden, 1)``.

    Every layer is torch.nn's own module (the dropout layers are
    ``nn.Dropout`` instances, a seeded subclass when ``generator`` is given).

    Args:
        n_features: number of input features, ``>= 1``.
        hidden: width of both hidden layers, ``>= 1``.
        dropout: drop probability ``p`` of both dropout layers, in ``[0, 1)``;
            0 leaves the dropout layers out.
        batch_norm: put ``BatchNorm1d`` on the input (the question's
            "Normalization" layer).
        generator: when given, every ``Linear`` is initialised from it with
            torch's default distributions (``kaiming_uniform_(a=sqrt(5))``
            weights, ``U(±1/sqrt(fan_in))`` biases) and the dropout masks are
            drawn from it, so a training run is reproducible and torch's
            global RNG is neither read nor advanced. ``None``: torch's usual
            global-RNG initialisation and ``nn.Dropout``.

    Returns:
        The model as an ``nn.Sequential``, in training mode.

    Raises:
        ValueError: ``n_features`` or ``hidden`` below 1, or ``dropout``
            outside ``[0, 1)`` (the message names the argument).

    Shape:
        Input ``(N, n_features)``; output ``(N, 1)``.
    """
    n_features = _check_positive_int("n_features", n_features)
    hidden = _check_positive_int("hidden", hidden)
    p = check_nonnegative("dropout", dropout)
    # p == 1 would zero every hidden unit and the model could never learn.
    if p >= 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")

    def linear(n_in: int, n_out: int) -> nn.Linear:
        if generator is None:
            return nn.Linear(n_in, n_out)
        # skip_init builds the layer without drawing from the global RNG, so a
        # seeded model leaves torch's global random state exactly as it was.
        layer = nn.utils.skip_init(nn.Linear, n_in, n_out)
        with torch.no_grad():
            _reset_linear(layer, generator)
        return layer

    return build_model_core(n_features, hidden, p, batch_norm, linear, lambda q: _make_dropout(q, generator))


def _check_positive_int(name: str, value: int) -> int:
    """Return ``value`` as an int, or raise ``ValueError`` naming ``name`` unless it is an integer >= 1."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    try:
        v = operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}") from None
    if v < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return v
