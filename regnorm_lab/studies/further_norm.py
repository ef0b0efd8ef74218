"""The dropout and normalization side of the "Going further" pages (chapters 17 to 20).

Each function is the formula a page shows, small enough to read next to it:
spatial (channel) dropout and Monte Carlo dropout; batch norm for images and
its folding into the layer before it; ghost batch norm, batch
renormalization and the statistics a synchronized batch norm combines; weight
decay without the normalization parameters; weight normalization and weight
standardization. The pages check them against torch.

Randomness comes only from an explicit ``numpy.random.Generator`` or
``torch.Generator``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..dropout import Dropout

__all__ = [
    "channel_dropout",
    "mc_dropout_predict",
    "batchnorm2d_forward",
    "fold_batchnorm",
    "ghost_batchnorm",
    "batch_renorm_forward",
    "sync_batch_stats",
    "decay_param_groups",
    "weight_norm",
    "weight_standardize",
    "transformer_stack",
    "last_ffn_grad_norm",
    "PreNormResidual",
]


def _check_p(p: float) -> None:
    if not 0 <= p < 1:
        raise ValueError(f"p must be in [0, 1), got {p!r}")


def channel_dropout(x: np.ndarray, p: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Spatial dropout (torch's ``Dropout2d``): whole channels of an example are dropped together.

    One Bernoulli(1 - p) draw per (example, channel), broadcast over the
    spatial positions, kept channels scaled by ``1 / (1 - p)``.

    Shape:
        x: (N, C, *spatial); returns ``(y, mask)`` with y like x and mask (N, C).
    """
    _check_p(p)
    if x.ndim < 3:
        raise ValueError(f"x must be (N, C, *spatial) with at least one spatial axis, got shape {x.shape}")
    mask = rng.random(x.shape[:2]) >= p
    scale = mask.reshape(mask.shape + (1,) * (x.ndim - 2)) / (1 - p)
    return x * scale, mask


def mc_dropout_predict(model: nn.Module, x: torch.Tensor, samples: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Monte Carlo dropout: mean and standard deviation of ``samples`` stochastic forward passes.

    Everything is in evaluation mode except the dropout layers (so a batch norm
    keeps its running statistics); the masks come from the layers' own
    generators. The model's modes are restored afterwards.

    Shape:
        x: (N, *); returns two tensors shaped like one model output.
    """
    if samples < 2:
        raise ValueError(f"samples must be at least 2 to estimate a spread, got {samples!r}")
    modes = {m: m.training for m in model.modules()}
    model.eval()
    for m in model.modules():
        if isinstance(m, (nn.Dropout, Dropout)):
            m.train()
    try:
        with torch.no_grad():
            outs = torch.stack([model(x) for _ in range(samples)])
    finally:
        for m, mode in modes.items():
            m.training = mode
    return outs.mean(0), outs.std(0)


def batchnorm2d_forward(
    x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float = 1e-5
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Batch norm for images in training mode: one mean and variance per channel, over N, H and W.

    Shape:
        x: (N, C, H, W); gamma, beta: (C,); returns ``(y, mean, var)`` with y like x, mean and var (C,).
    """
    if x.ndim != 4:
        raise ValueError(f"x must be (N, C, H, W), got shape {x.shape}")
    mean = x.mean(axis=(0, 2, 3))
    var = x.var(axis=(0, 2, 3))  # biased, as in training
    c = (slice(None), None, None)
    x_hat = (x - mean[c]) / np.sqrt(var[c] + eps)
    return gamma[c] * x_hat + beta[c], mean, var


def fold_batchnorm(
    weight: np.ndarray,
    bias: np.ndarray | None,
    gamma: np.ndarray,
    beta: np.ndarray,
    running_mean: np.ndarray,
    running_var: np.ndarray,
    eps: float = 1e-5,
) -> tuple[np.ndarray, np.ndarray]:
    """Fold an evaluation-mode batch norm into the linear or convolutional layer before it.

    ``BN(W x + b) = W' x + b'`` with ``W' = W * s`` per output unit and
    ``b' = (b - running_mean) * s + beta``, where ``s = gamma / sqrt(running_var + eps)``.

    Shape:
        weight: (C_out, *) (Linear or Conv weight); bias, gamma, beta, running stats: (C_out,);
        returns ``(weight', bias')`` of the same shapes.
    """
    s = gamma / np.sqrt(running_var + eps)
    b = np.zeros_like(running_mean) if bias is None else bias
    return weight * s.reshape((-1,) + (1,) * (weight.ndim - 1)), (b - running_mean) * s + beta


def ghost_batchnorm(x: np.ndarray, virtual_batch_size: int, eps: float = 1e-5) -> np.ndarray:
    """Ghost batch norm (training mode, no affine): each chunk of ``virtual_batch_size`` rows normalised alone.

    Shape:
        x: (N, D) with N a multiple of ``virtual_batch_size``; returns (N, D).
    """
    n = x.shape[0]
    if virtual_batch_size < 2 or n % virtual_batch_size:
        raise ValueError(f"virtual_batch_size must be >= 2 and divide N={n}, got {virtual_batch_size!r}")
    g = x.reshape(n // virtual_batch_size, virtual_batch_size, -1)
    return ((g - g.mean(1, keepdims=True)) / np.sqrt(g.var(1, keepdims=True) + eps)).reshape(x.shape)


def batch_renorm_forward(
    x: np.ndarray,
    running_mean: np.ndarray,
    running_var: np.ndarray,
    r_max: float = 3.0,
    d_max: float = 5.0,
    eps: float = 1e-5,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Batch renormalization in training mode (no affine): batch statistics corrected towards the running ones.

    ``x_hat = (x - mu_B) / sigma_B * r + d`` with ``r = clip(sigma_B / sigma, 1/r_max, r_max)`` and
    ``d = clip((mu_B - mu) / sigma, -d_max, d_max)``, both treated as constants in the backward pass.
    Without clipping the result equals normalising with the running statistics.

    Shape:
        x: (N, D); running stats: (D,); returns ``(x_hat, r, d)``.
    """
    mu_b, sigma_b = x.mean(0), np.sqrt(x.var(0) + eps)
    sigma = np.sqrt(running_var + eps)
    r = np.clip(sigma_b / sigma, 1 / r_max, r_max)
    d = np.clip((mu_b - running_mean) / sigma, -d_max, d_max)
    return (x - mu_b) / sigma_b * r + d, r, d


def sync_batch_stats(chunks: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Mean and biased variance over all devices' batches from per-device sums only.

    What a synchronized batch norm all-reduces: each device sends its count,
    sum and sum of squares per feature (three numbers, not its batch).

    Shape:
        chunks: list of (N_k, D); returns (D,), (D,).
    """
    count = sum(c.shape[0] for c in chunks)
    total = sum(c.sum(0) for c in chunks)
    total_sq = sum((c**2).sum(0) for c in chunks)
    mean = total / count
    return mean, total_sq / count - mean**2


def decay_param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Optimizer parameter groups: weight decay on weight matrices and kernels only.

    Biases and the normalization layers' gamma and beta (every parameter with at
    most one dimension) get ``weight_decay=0``: shrinking them does not reduce
    the model's capacity, it only shifts or rescales what normalization produced.
    """
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim <= 1]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def weight_norm(v: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Weight normalization: ``w = g * v / ||v||`` for each output unit (row of ``v``).

    Shape:
        v: (C_out, *); g: (C_out,); returns the shape of v.
    """
    axes = tuple(range(1, v.ndim))
    norm = np.sqrt((v**2).sum(axis=axes, keepdims=True))
    return g.reshape((-1,) + (1,) * (v.ndim - 1)) * v / norm


def weight_standardize(w: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """Weight standardization: each output filter's weights to zero mean and unit (biased) variance.

    Shape:
        w: (C_out, *); returns the same shape.
    """
    axes = tuple(range(1, w.ndim))
    return (w - w.mean(axis=axes, keepdims=True)) / np.sqrt(w.var(axis=axes, keepdims=True) + eps)


def transformer_stack(norm_first: bool, layers: int, generator: torch.Generator, d_model: int = 64) -> nn.Module:
    """``layers`` torch encoder layers, post-LN (``norm_first=False``) or pre-LN with a final layer norm.

    Weights are Xavier-uniform from ``generator`` (not torch's global one),
    biases zero, layer norms at their identity initialisation; no dropout.
    """
    if layers < 1:
        raise ValueError(f"layers must be at least 1, got {layers!r}")
    layer = nn.TransformerEncoderLayer(d_model, 4, 4 * d_model, dropout=0.0, norm_first=norm_first, batch_first=True)
    final = nn.LayerNorm(d_model) if norm_first else None  # pre-LN needs one more norm on the residual stream
    enc = nn.TransformerEncoder(layer, layers, norm=final, enable_nested_tensor=False)
    with torch.no_grad():
        for name, p in enc.named_parameters():
            if p.ndim > 1:
                bound = (6 / sum(p.shape)) ** 0.5
                p.uniform_(-bound, bound, generator=generator)
            elif "norm" not in name:
                p.zero_()
    return enc


def last_ffn_grad_norm(norm_first: bool, layers: int, seed: int, d_model: int = 64) -> float:
    """Gradient norm of the last layer's second feed-forward weight at initialisation (Xiong et al. 2020).

    One batch of 16 random sequences of length 32 regressed onto random
    targets with the mean squared error; everything drawn from ``seed``.
    """
    g = torch.Generator().manual_seed(seed)
    enc = transformer_stack(norm_first, layers, g, d_model)
    x = torch.randn(16, 32, d_model, generator=g)
    target = torch.randn(16, 32, d_model, generator=g)
    ((enc(x) - target) ** 2).mean().backward()
    return enc.layers[-1].linear2.weight.grad.norm().item()


class PreNormResidual(nn.Module):
    """``x + sublayer(norm(x))``: the pre-normalization residual block of current language models.

    Args:
        sublayer: The block's attention or feed-forward part.
        norm: Its normalization, e.g. ``nn.RMSNorm(d)`` (LLaMA) or ``nn.LayerNorm(d)``.

    Shape:
        input (*, d); output the same.
    """

    def __init__(self, sublayer: nn.Module, norm: nn.Module) -> None:
        super().__init__()
        self.sublayer, self.norm = sublayer, norm

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.sublayer(self.norm(x))
