"""RMS normalization: numpy forward/backward for the book, torch composite reference and module (ps07).

RMS norm (Zhang and Sennrich, 2019) drops layer norm's centring: each sample
is divided by the root mean square of its features, ``x / sqrt(mean(x**2) + eps)``,
then scaled by a learned ``weight``; there is no shift.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from ._validation import check_last_dim_params, check_positive, check_vector, real_array

__all__ = [
    "rmsnorm_core_forward",
    "rmsnorm_core_backward",
    "rmsnorm_forward",
    "rmsnorm_backward",
    "rms_norm",
    "RMSNorm",
]


def rmsnorm_core_forward(x: np.ndarray, gamma: np.ndarray, eps: float) -> tuple[np.ndarray, dict]:
    """RMS norm: ``out = gamma * x / sqrt(mean(x**2) + eps)`` over each row's D features: ``(out, cache)``.

    Shape:
        x, out: ``(N, D)`` (or ``(..., D)``); gamma: ``(D,)``.
    """
    ms = np.mean(x**2, axis=-1, keepdims=True)  # no centring: no large offset, no cancellation
    inv_rms = 1.0 / np.sqrt(ms + eps)
    x_hat = x * inv_rms
    return gamma * x_hat, {"x_hat": x_hat, "inv_rms": inv_rms, "gamma": gamma}


def rmsnorm_core_backward(dout: np.ndarray, cache: dict) -> tuple[np.ndarray, np.ndarray]:
    """Gradients of RMS norm: ``dx = inv_rms * (g - x_hat * mean(g * x_hat))`` with ``g = gamma * dout``.

    Shape:
        dout, dx: ``(N, D)``; dgamma: ``(D,)``.
    """
    x_hat, inv_rms, gamma = cache["x_hat"], cache["inv_rms"], cache["gamma"]
    D = dout.shape[-1]
    dgamma = np.einsum("nd,nd->d", dout, x_hat)  # sum over rows of dout * x_hat
    g = dout * gamma  # dL/dx_hat
    mean_gx = np.einsum("nd,nd->n", g, x_hat)[:, None] / D  # mean of g * x_hat per row
    dx = inv_rms * (g - x_hat * mean_gx)
    return dx, dgamma


def _rms_norm_dims(x: torch.Tensor, ndim: int, weight: torch.Tensor | None, eps: float | None) -> torch.Tensor:
    """RMS norm over the last ``ndim`` dimensions with tensor operations."""
    if eps is None:
        eps = torch.finfo(x.dtype).eps  # torch's default when eps is None
    dims = tuple(range(-ndim, 0))
    # Half-precision input is normalised in float32 and cast back, as torch does:
    # a float16 mean of squares overflows once |x| exceeds about 256.
    xf = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
    out = (xf * torch.rsqrt(xf.square().mean(dim=dims, keepdim=True) + eps)).to(x.dtype)
    if weight is not None:
        out = out * weight
    return out


def rms_norm(x: torch.Tensor, weight: torch.Tensor | None, eps: float | None = 1e-6) -> torch.Tensor:
    """RMS norm over the last dimension, as ``F.rms_norm(x, (x.shape[-1],), weight, eps)`` (ps07).

    Tensor operations only: it runs on ``x``'s device and dtype, and autograd differentiates it.
    The course's default is ``eps=1e-6``; None (``F.rms_norm``'s default) means ``torch.finfo(x.dtype).eps``.

    Shape:
        x, out: ``(*, D)``; weight: ``(D,)`` or None.
    """
    check_last_dim_params(x, eps, weight=weight)
    return _rms_norm_dims(x, 1, weight, eps)


class RMSNorm(nn.Module):
    """RMS normalization over the trailing dimensions, a drop-in for ``torch.nn.RMSNorm``.

    Args:
        normalized_shape: Size of the last dimension (int) or of the trailing
            dimensions (tuple) to normalise over.
        eps: Added to the mean square; None (torch's default) for
            ``torch.finfo(x.dtype).eps``.
        elementwise_affine: Learn a scale ``weight`` of ``normalized_shape``.

    Shape:
        input, output: ``(*, *normalized_shape)``.
    """

    def __init__(
        self,
        normalized_shape: int | Sequence[int],
        eps: float | None = None,
        elementwise_affine: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(int(s) for s in normalized_shape)
        if not self.normalized_shape or min(self.normalized_shape) < 1:
            raise ValueError(f"normalized_shape must be non-empty and positive, got {normalized_shape!r}")
        self.eps = None if eps is None else check_positive("eps", eps)
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = nn.Parameter(torch.ones(self.normalized_shape, device=device, dtype=dtype))
        else:
            self.register_parameter("weight", None)

    def reset_parameters(self) -> None:
        """Scale 1."""
        if self.weight is not None:
            nn.init.ones_(self.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Divide each sample by its root mean square over ``normalized_shape``, then scale."""
        k = len(self.normalized_shape)
        if x.dim() < k or tuple(x.shape[-k:]) != self.normalized_shape:
            raise ValueError(f"x must end with dimensions {self.normalized_shape}, got shape {tuple(x.shape)}")
        return _rms_norm_dims(x, k, self.weight, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


def rmsnorm_forward(x: np.ndarray, gamma: np.ndarray, eps: float = 1e-6) -> tuple[np.ndarray, dict]:
    """RMS norm forward pass in numpy (:func:`rmsnorm_core_forward`), checked.

    Args:
        x: Input; each row (last axis) is normalised.
        gamma: Scale per feature.
        eps: Added to the mean square for numerical stability.

    Returns:
        ``(out, cache)``; ``cache`` is what :func:`rmsnorm_backward` needs.

    Shape:
        x, out: ``(N, D)`` (or ``(..., D)``); gamma: ``(D,)``.

    Raises:
        ValueError: ``x`` with no feature axis, ``gamma`` not ``(D,)``, ``eps <= 0``.
    """
    x = real_array("x", x)
    if x.ndim < 1 or x.shape[-1] == 0:
        raise ValueError(f"x must have a non-empty last (feature) axis, got shape {x.shape}")
    eps = check_positive("eps", eps)
    gamma = check_vector("gamma", gamma, x.shape[-1], "x.shape[-1]")
    x = x.astype(np.result_type(x, gamma), copy=False)
    return rmsnorm_core_forward(x, gamma, eps)


def rmsnorm_backward(dout: np.ndarray, cache: dict) -> tuple[np.ndarray, np.ndarray]:
    """RMS norm backward pass (:func:`rmsnorm_core_backward`), checked: ``(dx, dgamma)``.

    Args:
        dout: Upstream gradient of the output.
        cache: The cache returned by :func:`rmsnorm_forward`.

    Returns:
        ``(dx, dgamma)``.

    Shape:
        dout, dx: ``(N, D)`` (or ``(..., D)``); dgamma: ``(D,)``.
    """
    x_hat = cache["x_hat"]
    dout = real_array("dout", dout)
    if dout.shape != x_hat.shape:
        raise ValueError(f"dout must have the shape of the forward input {x_hat.shape}, got {dout.shape}")
    d = dout.shape[-1]
    rows = {**cache, "x_hat": x_hat.reshape(-1, d), "inv_rms": cache["inv_rms"].reshape(-1, 1)}
    dx, dgamma = rmsnorm_core_backward(dout.reshape(-1, d), rows)  # (..., D) as rows
    return dx.reshape(dout.shape), dgamma
