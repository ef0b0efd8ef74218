"""Batch normalization: numpy reference forward/backward and a torch BatchNorm1d (ps04).

The numpy pair follows ``torch.nn.BatchNorm1d`` exactly: in training mode each
feature is normalised with the mean and the *biased* variance of the batch,
while the running variance is updated with the *unbiased* one; in evaluation
mode the running statistics are used and left unchanged.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ._validation import check_in_unit_interval, check_positive, check_vector, real_array
from .stats import stable_mean

__all__ = [
    "batchnorm_train_forward",
    "batchnorm_train_backward",
    "batchnorm_forward",
    "batchnorm_backward",
    "BatchNorm1d",
]


def batchnorm_train_forward(
    x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float
) -> tuple[np.ndarray, dict, np.ndarray, np.ndarray]:
    """Batch norm in training mode, statistics over the batch axis: ``(out, cache, mu, var)``.

    Shape:
        x, out: ``(N, D)``; gamma, beta, mu, var: ``(D,)``.
    """
    N = x.shape[0]
    mu = stable_mean(x, axis=0)  # per feature, over the N examples
    x_mu = x - mu
    var = np.einsum("nd,nd->d", x_mu, x_mu) / N  # mean of x_mu**2, biased (1/N) as torch normalises
    inv_std = 1.0 / np.sqrt(var + eps)
    x_hat = x_mu * inv_std
    out = gamma * x_hat + beta
    cache = {"x_hat": x_hat, "inv_std": inv_std, "gamma": gamma}
    return out, cache, mu, var


def batchnorm_train_backward(dout: np.ndarray, cache: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of training-mode batch norm, in the compact closed form: ``(dx, dgamma, dbeta)``.

    Shape:
        dout, dx: ``(N, D)``; dgamma, dbeta: ``(D,)``.
    """
    x_hat, inv_std, gamma = cache["x_hat"], cache["inv_std"], cache["gamma"]
    N = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = np.einsum("nd,nd->d", dout, x_hat)  # sum over n of dout * x_hat, without an (N, D) temporary
    # dx = gamma * inv_std * (dout - dbeta / N - x_hat * dgamma / N), built in place (no extra (N, D) copies)
    dx = dout - dbeta / N
    dx -= x_hat * (dgamma / N)
    dx *= gamma * inv_std
    return dx, dgamma, dbeta


# --------------------------------------------------------------------------- the checked functions (ps04)


def batchnorm_forward(
    x: np.ndarray,
    gamma: np.ndarray,
    beta: np.ndarray,
    running_mean: np.ndarray,
    running_var: np.ndarray,
    training: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> tuple[np.ndarray, dict, np.ndarray, np.ndarray]:
    """Batch normalization forward pass, as ``torch.nn.BatchNorm1d``, checked.

    Training: :func:`batchnorm_train_forward`, then
    ``new = (1 - momentum) * old + momentum * stat`` for the running mean and
    the running (unbiased) variance. Not training: the same normalization with
    the running statistics, which are returned unchanged.

    Args:
        x: Input batch.
        gamma: Scale per feature.
        beta: Shift per feature.
        running_mean: Running mean per feature (not modified).
        running_var: Running variance per feature (not modified).
        training: Use batch statistics and update the running ones.
        momentum: Weight of the new batch statistic in the running average.
        eps: Added to the variance for numerical stability.

    Returns:
        ``(out, cache, new_running_mean, new_running_var)``; ``cache`` is what
        :func:`batchnorm_backward` needs.

    Shape:
        x, out: ``(N, D)``; gamma, beta, running_mean, running_var and the new
        running statistics: ``(D,)``.

    Raises:
        ValueError: ``x`` not 2-D, or ``N < 2`` in training (one value per
            feature has no variance, as in torch); ``eps <= 0``; ``momentum``
            outside [0, 1]; a parameter whose shape is not ``(D,)``.
    """
    x = real_array("x", x)
    if x.ndim != 2:
        raise ValueError(f"x must be 2-D (N, D), got shape {x.shape}")
    n, d = x.shape
    if training and n < 2:
        raise ValueError(f"x must have more than 1 sample per feature in training mode, got N={n}")
    eps = check_positive("eps", eps)
    momentum = check_in_unit_interval("momentum", momentum)
    gamma = check_vector("gamma", gamma, d, "x.shape[1]")
    beta = check_vector("beta", beta, d, "x.shape[1]")
    running_mean = check_vector("running_mean", running_mean, d, "x.shape[1]")
    running_var = check_vector("running_var", running_var, d, "x.shape[1]")
    x = x.astype(np.result_type(x, gamma, beta), copy=False)  # float32 stays float32 unless a parameter is wider

    if not training:
        mean, var = running_mean.astype(x.dtype), running_var.astype(x.dtype)
        inv_std = 1.0 / np.sqrt(var + eps)
        x_hat = (x - mean) * inv_std
        cache = {"x_hat": x_hat, "inv_std": inv_std, "gamma": gamma, "training": False}
        return gamma * x_hat + beta, cache, running_mean.copy(), running_var.copy()
    out, cache, mean, var = batchnorm_train_forward(x, gamma, beta, eps)
    cache["training"] = True
    new_running_mean = (1 - momentum) * running_mean + momentum * mean
    new_running_var = (1 - momentum) * running_var + momentum * (var * (n / (n - 1)))
    return out, cache, new_running_mean, new_running_var


def batchnorm_backward(dout: np.ndarray, cache: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Batch normalization backward pass (:func:`batchnorm_train_backward`), checked.

    For an evaluation-mode forward the statistics are constants, and
    ``dx = gamma * inv_std * dout``.

    Args:
        dout: Upstream gradient of the output.
        cache: The cache returned by :func:`batchnorm_forward`.

    Returns:
        ``(dx, dgamma, dbeta)``.

    Shape:
        dout, dx: ``(N, D)``; dgamma, dbeta: ``(D,)``.

    Raises:
        ValueError: if ``dout``'s shape is not the forward input's.
    """
    x_hat, inv_std, gamma = cache["x_hat"], cache["inv_std"], cache["gamma"]
    dout = real_array("dout", dout)
    if dout.shape != x_hat.shape:
        raise ValueError(f"dout must have the shape of the forward input {x_hat.shape}, got {dout.shape}")
    if not cache.get("training", True):
        return dout * (gamma * inv_std), np.einsum("nd,nd->d", dout, x_hat), dout.sum(axis=0)
    return batchnorm_train_backward(dout, cache)


class BatchNorm1d(nn.Module):
    """Batch normalization over ``(N, C)`` or ``(N, C, L)`` input, a drop-in for ``torch.nn.BatchNorm1d``.

    Written with plain tensor operations so that autograd derives the backward
    pass. Parameters and buffers carry torch's names (``weight``, ``bias``,
    ``running_mean``, ``running_var``, ``num_batches_tracked``), so state dicts
    load in both directions.

    Args:
        num_features: Number of channels ``C``.
        eps: Added to the variance for numerical stability.
        momentum: Weight of each new batch statistic in the running averages;
            None gives the cumulative average over all batches seen, as torch.
        affine: Learn a per-channel scale ``weight`` and shift ``bias``.
        track_running_stats: Keep running statistics for evaluation; when False,
            batch statistics are used in both modes.

    Shape:
        input, output: ``(N, C)`` or ``(N, C, L)``.
    """

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if int(num_features) != num_features or num_features < 1:
            raise ValueError(f"num_features must be a positive integer, got {num_features!r}")
        self.num_features = int(num_features)
        self.eps = check_positive("eps", eps)
        self.momentum = None if momentum is None else check_in_unit_interval("momentum", momentum)
        self.affine = affine
        self.track_running_stats = track_running_stats
        factory = {"device": device, "dtype": dtype}
        if affine:
            self.weight = nn.Parameter(torch.ones(self.num_features, **factory))
            self.bias = nn.Parameter(torch.zeros(self.num_features, **factory))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", torch.zeros(self.num_features, **factory))
            self.register_buffer("running_var", torch.ones(self.num_features, **factory))
            self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long, device=device))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1, no batches seen."""
        if self.track_running_stats:
            self.running_mean.zero_()
            self.running_var.fill_(1.0)
            self.num_batches_tracked.zero_()

    def reset_parameters(self) -> None:
        """Reset the running statistics and set the affine parameters to the identity."""
        self.reset_running_stats()
        if self.affine:
            nn.init.ones_(self.weight)
            nn.init.zeros_(self.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise each channel with batch (training) or running (evaluation) statistics."""
        dims, view = self._check_input(x)
        if self.training or not self.track_running_stats:
            mu = x.mean(dim=dims, keepdim=True)
            x_mu = x - mu
            var = (x_mu * x_mu).mean(dim=dims, keepdim=True)  # biased, used to normalise
            if self.training and self.track_running_stats:
                self._update_running_stats(mu, var, count=x.numel() // self.num_features)
            x_hat = x_mu * torch.rsqrt(var + self.eps)
        else:
            x_hat = (x - self.running_mean.view(view)) * torch.rsqrt(self.running_var.view(view) + self.eps)
        if self.affine:
            return x_hat * self.weight.view(view) + self.bias.view(view)
        return x_hat

    def _check_input(self, x: torch.Tensor) -> tuple[list[int], tuple[int, ...]]:
        """The dims to reduce over and the view that broadcasts a per-channel vector, after checking ``x``."""
        if x.dim() not in (2, 3):
            raise ValueError(f"x must be 2-D (N, C) or 3-D (N, C, L), got {x.dim()}-D input")
        if x.shape[1] != self.num_features:
            raise ValueError(f"x must have {self.num_features} channels in dim 1, got {x.shape[1]}")
        if (self.training or not self.track_running_stats) and x.numel() // self.num_features < 2:
            raise ValueError("x must have more than 1 value per channel in training mode")
        # Reduce over N (and L); broadcast per-channel vectors (C,) as (1, C) or (1, C, 1).
        return ([0], (1, -1)) if x.dim() == 2 else ([0, 2], (1, -1, 1))

    @torch.no_grad()
    def _update_running_stats(self, mu: torch.Tensor, var: torch.Tensor, count: int) -> None:
        # In place on the buffers, as torch does, so references to them stay valid.
        mu, var = mu.detach().reshape(-1), var.detach().reshape(-1)
        self.num_batches_tracked += 1
        factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        unbiased = var * (count / (count - 1))
        self.running_mean.mul_(1 - factor).add_(mu, alpha=factor)
        self.running_var.mul_(1 - factor).add_(unbiased, alpha=factor)

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"affine={self.affine}, track_running_stats={self.track_running_stats}"
        )
