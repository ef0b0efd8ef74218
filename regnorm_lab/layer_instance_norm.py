"""Layer, instance and group normalization: numpy references and torch versions (ps05, ps07).

All three normalise with a mean and a *biased* variance, like batch norm, but
over different axes of one sample, so they behave the same in training and
evaluation and keep no running statistics:

* layer norm: over the features of each sample (``(N, D)``: each row);
* instance norm: over the spatial positions of each ``(sample, channel)`` plane;
* group norm: over the positions of each group of ``C / G`` channels of a sample
  (``G = 1`` is layer norm over ``(C, H, W)``, ``G = C`` is instance norm).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from ._validation import check_last_dim_params, check_positive, check_vector, real_array
from .stats import stable_mean

__all__ = [
    "normalize_last_axis",
    "layernorm_core_forward",
    "layernorm_core_backward",
    "instancenorm_core",
    "groupnorm_core",
    "layernorm_forward",
    "layernorm_backward",
    "instancenorm_forward",
    "groupnorm_forward",
    "layer_norm",
    "LayerNorm",
]


def normalize_last_axis(x: np.ndarray, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """``x_hat = (x - mu) / sqrt(var + eps)``, mean and biased variance over the last axis: ``(x_hat, inv_std)``.

    Shape:
        x, x_hat: ``(..., m)``; inv_std: ``(..., 1)``.
    """
    m = x.shape[-1]
    mu = stable_mean(x, axis=-1, keepdims=True)
    x_mu = x - mu
    var = np.einsum("...m,...m->...", x_mu, x_mu)[..., None] / m  # mean of x_mu**2 over the last axis
    inv_std = 1.0 / np.sqrt(var + eps)
    return x_mu * inv_std, inv_std


def layernorm_core_forward(
    x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float
) -> tuple[np.ndarray, dict]:
    """Layer norm: each row normalised over its D features, then ``gamma * x_hat + beta``: ``(out, cache)``.

    Shape:
        x, out: ``(N, D)`` (or ``(..., D)``); gamma, beta: ``(D,)``.
    """
    x_hat, inv_std = normalize_last_axis(x, eps)
    out = gamma * x_hat + beta
    return out, {"x_hat": x_hat, "inv_std": inv_std, "gamma": gamma}


def layernorm_core_backward(dout: np.ndarray, cache: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of layer norm, in the compact closed form (means over each row's D features).

    Shape:
        dout, dx: ``(N, D)``; dgamma, dbeta: ``(D,)``.
    """
    x_hat, inv_std, gamma = cache["x_hat"], cache["inv_std"], cache["gamma"]
    D = dout.shape[-1]
    dbeta = dout.sum(axis=0)
    dgamma = np.einsum("nd,nd->d", dout, x_hat)  # sum over rows of dout * x_hat
    g = dout * gamma  # dL/dx_hat
    mean_g = g.mean(axis=-1, keepdims=True)
    mean_gx = np.einsum("nd,nd->n", g, x_hat)[:, None] / D  # mean of g * x_hat per row
    # dx = inv_std * (g - mean_g - x_hat * mean_gx), built in place (no extra (N, D) copies)
    dx = g - mean_g
    dx -= x_hat * mean_gx
    dx *= inv_std
    return dx, dgamma, dbeta


def instancenorm_core(x: np.ndarray, eps: float) -> np.ndarray:
    """Instance norm: each ``(n, c)`` plane normalised over its spatial positions.

    Shape:
        x, out: ``(N, C, H, W)`` (or ``(N, C, *spatial)``).
    """
    N, C = x.shape[:2]
    x_hat, _ = normalize_last_axis(x.reshape(N, C, -1), eps)  # one row per plane
    return x_hat.reshape(x.shape)


def groupnorm_core(x: np.ndarray, G: int, gamma: np.ndarray, beta: np.ndarray, eps: float) -> np.ndarray:
    """Group norm: each sample's ``G`` groups of ``C / G`` channels normalised over channels and positions.

    Shape:
        x, out: ``(N, C, H, W)`` (or ``(N, C, *spatial)``); gamma, beta: ``(C,)``.
    """
    N, C = x.shape[:2]
    x_hat, _ = normalize_last_axis(x.reshape(N, G, -1), eps)  # one row per (sample, group)
    x_hat = x_hat.reshape(x.shape)
    per_channel = (1, C) + (1,) * (x.ndim - 2)  # broadcast (C,) over N and the positions
    return gamma.reshape(per_channel) * x_hat + beta.reshape(per_channel)


# --------------------------------------------------------------------------- the checked functions (ps05)


def layernorm_forward(
    x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float = 1e-5
) -> tuple[np.ndarray, dict]:
    """Layer normalization forward pass (:func:`layernorm_core_forward`), checked, as ``F.layer_norm(x, (D,), ...)``.

    Args:
        x: Input; leading dimensions beyond ``N`` are allowed and treated as more rows.
        gamma: Scale per feature.
        beta: Shift per feature.
        eps: Added to the variance for numerical stability.

    Returns:
        ``(out, cache)``; ``cache`` is what :func:`layernorm_backward` needs.

    Shape:
        x, out: ``(N, D)`` (or ``(..., D)``); gamma, beta: ``(D,)``.

    Raises:
        ValueError: ``x`` with no feature axis, ``gamma``/``beta`` not ``(D,)``,
            ``eps <= 0``.
    """
    x = real_array("x", x)
    if x.ndim < 1 or x.shape[-1] == 0:
        raise ValueError(f"x must have a non-empty last (feature) axis, got shape {x.shape}")
    eps = check_positive("eps", eps)
    d = x.shape[-1]
    gamma = check_vector("gamma", gamma, d, "x.shape[-1]")
    beta = check_vector("beta", beta, d, "x.shape[-1]")
    x = x.astype(np.result_type(x, gamma, beta), copy=False)
    return layernorm_core_forward(x, gamma, beta, eps)


def layernorm_backward(dout: np.ndarray, cache: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Layer normalization backward pass (:func:`layernorm_core_backward`), checked.

    Args:
        dout: Upstream gradient of the output.
        cache: The cache returned by :func:`layernorm_forward`.

    Returns:
        ``(dx, dgamma, dbeta)``.

    Shape:
        dout, dx: ``(N, D)`` (or ``(..., D)``); dgamma, dbeta: ``(D,)``.

    Raises:
        ValueError: if ``dout``'s shape is not the forward input's.
    """
    x_hat = cache["x_hat"]
    dout = real_array("dout", dout)
    if dout.shape != x_hat.shape:
        raise ValueError(f"dout must have the shape of the forward input {x_hat.shape}, got {dout.shape}")
    d = dout.shape[-1]
    rows = {**cache, "x_hat": x_hat.reshape(-1, d), "inv_std": cache["inv_std"].reshape(-1, 1)}
    dx, dgamma, dbeta = layernorm_core_backward(dout.reshape(-1, d), rows)  # (..., D) as rows
    return dx.reshape(dout.shape), dgamma, dbeta


def instancenorm_forward(x: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """Instance normalization (:func:`instancenorm_core`), checked, as ``F.instance_norm(x, eps=eps)``.

    No affine parameters and no running statistics.

    Args:
        x: Input images (or any ``(N, C, *spatial)`` array).
        eps: Added to the variance for numerical stability.

    Returns:
        The normalised array.

    Shape:
        x, out: ``(N, C, H, W)`` (or ``(N, C, *spatial)``).

    Raises:
        ValueError: ``x`` with fewer than 3 dimensions, ``eps <= 0``.
    """
    x = real_array("x", x)
    if x.ndim < 3:
        raise ValueError(f"x must be (N, C, H, W) (at least 3-D), got shape {x.shape}")
    eps = check_positive("eps", eps)
    return instancenorm_core(x, eps)


def groupnorm_forward(
    x: np.ndarray, num_groups: int, gamma: np.ndarray, beta: np.ndarray, eps: float = 1e-5
) -> np.ndarray:
    """Group normalization (:func:`groupnorm_core`), checked, as ``F.group_norm(x, num_groups, gamma, beta, eps)``.

    ``G = 1`` is layer norm over ``(C, H, W)``, ``G = C`` instance norm with a
    per-channel scale and shift.

    Args:
        x: Input images (or any ``(N, C, *spatial)`` array).
        num_groups: Number of groups ``G``; must divide ``C``.
        gamma: Scale per channel.
        beta: Shift per channel.
        eps: Added to the variance for numerical stability.

    Returns:
        The normalised array.

    Shape:
        x, out: ``(N, C, H, W)`` (or ``(N, C, *spatial)``); gamma, beta: ``(C,)``.

    Raises:
        ValueError: ``x`` with fewer than 2 dimensions; ``num_groups`` not a
            positive integer or not dividing ``C``; ``gamma``/``beta`` not ``(C,)``;
            ``eps <= 0``.
    """
    x = real_array("x", x)
    if x.ndim < 2:
        raise ValueError(f"x must be (N, C, H, W) (at least 2-D), got shape {x.shape}")
    c = x.shape[1]
    if isinstance(num_groups, bool) or int(num_groups) != num_groups or num_groups < 1:
        raise ValueError(f"num_groups must be a positive integer, got {num_groups!r}")
    num_groups = int(num_groups)
    if c % num_groups != 0:
        raise ValueError(f"num_groups must divide the number of channels C={c}, got {num_groups}")
    eps = check_positive("eps", eps)
    gamma = check_vector("gamma", gamma, c, "x.shape[1]")
    beta = check_vector("beta", beta, c, "x.shape[1]")
    x = x.astype(np.result_type(x, gamma, beta), copy=False)
    return groupnorm_core(x, num_groups, gamma, beta, eps)


def _low_precision(x: torch.Tensor) -> bool:
    return x.dtype in (torch.float16, torch.bfloat16)


def _layer_norm_dims(
    x: torch.Tensor, ndim: int, weight: torch.Tensor | None, bias: torch.Tensor | None, eps: float
) -> torch.Tensor:
    """Layer norm over the last ``ndim`` dimensions of ``x`` with tensor operations."""
    dims = tuple(range(-ndim, 0))
    # Half-precision input is normalised in float32 and cast back, as torch's
    # kernels accumulate in float32: a float16 sum of squares overflows at 65504.
    xf = x.float() if _low_precision(x) else x
    # var_mean is one fused, numerically stable (Welford) pass; correction=0: biased.
    var, mean = torch.var_mean(xf, dim=dims, keepdim=True, correction=0)
    out = (xf - mean) * torch.rsqrt(var + eps)
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out.to(x.dtype)


def layer_norm(
    x: torch.Tensor, weight: torch.Tensor | None, bias: torch.Tensor | None, eps: float = 1e-5
) -> torch.Tensor:
    """Layer norm over the last dimension, as ``F.layer_norm(x, (x.shape[-1],), weight, bias, eps)`` (ps07).

    Tensor operations only (no ``F.layer_norm``, ``nn.LayerNorm`` or ``torch.layer_norm``): it
    runs on ``x``'s device and dtype, and autograd differentiates it. ``weight``/``bias`` may be None.

    Shape:
        x, out: ``(*, D)``; weight, bias: ``(D,)``.
    """
    check_last_dim_params(x, eps, weight=weight, bias=bias)
    return _layer_norm_dims(x, 1, weight, bias, eps)


class LayerNorm(nn.Module):
    """Layer normalization over the trailing dimensions, a drop-in for ``torch.nn.LayerNorm``.

    Args:
        normalized_shape: Size of the last dimension (int) or of the trailing
            dimensions (tuple) to normalise over.
        eps: Added to the variance for numerical stability.
        elementwise_affine: Learn a scale ``weight`` (and ``bias``) of
            ``normalized_shape``.
        bias: With ``elementwise_affine``, also learn the shift.

    Shape:
        input, output: ``(*, *normalized_shape)``.
    """

    def __init__(
        self,
        normalized_shape: int | Sequence[int],
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(int(s) for s in normalized_shape)
        if not self.normalized_shape or min(self.normalized_shape) < 1:
            raise ValueError(f"normalized_shape must be non-empty and positive, got {normalized_shape!r}")
        self.eps = check_positive("eps", eps)
        self.elementwise_affine = elementwise_affine
        factory = {"device": device, "dtype": dtype}
        if elementwise_affine:
            self.weight = nn.Parameter(torch.ones(self.normalized_shape, **factory))
            if bias:
                self.bias = nn.Parameter(torch.zeros(self.normalized_shape, **factory))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def reset_parameters(self) -> None:
        """Scale 1, shift 0."""
        if self.weight is not None:
            nn.init.ones_(self.weight)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise each sample over the trailing ``normalized_shape`` dimensions."""
        k = len(self.normalized_shape)
        if x.dim() < k or tuple(x.shape[-k:]) != self.normalized_shape:
            raise ValueError(f"x must end with dimensions {self.normalized_shape}, got shape {tuple(x.shape)}")
        return _layer_norm_dims(x, k, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
