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

from ._validation import check_in_unit_interval, check_positive

__all__ = ["batchnorm_forward", "batchnorm_backward", "BatchNorm1d"]


def _float_array(name: str, value: np.ndarray) -> np.ndarray:
    """``value`` as a floating ndarray (integers become float64), never a copy when already floating."""
    arr = np.asarray(value)
    if arr.dtype.kind != "f":
        if arr.dtype.kind not in "biu":
            raise ValueError(f"{name} must be a real-valued array, got dtype {arr.dtype}")
        arr = arr.astype(np.float64)
    return arr


def _check_vector(name: str, value: np.ndarray, size: int, what: str) -> np.ndarray:
    """A per-feature parameter: a floating array of shape ``(size,)``, else ``ValueError`` naming it."""
    arr = _float_array(name, value)
    if arr.shape != (size,):
        raise ValueError(f"{name} must have shape ({size},) to match {what}, got {arr.shape}")
    return arr


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
    """Batch normalization forward pass, as ``torch.nn.BatchNorm1d``.

    Training: ``x_hat = (x - mean) / sqrt(var + eps)`` with the batch mean and
    biased batch variance of each feature, ``out = gamma * x_hat + beta``, and
    ``new = (1 - momentum) * old + momentum * stat`` for the running mean and
    the running (unbiased) variance. Not training: the same with the running
    statistics, which are returned unchanged.

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
    x = _float_array("x", x)
    if x.ndim != 2:
        raise ValueError(f"x must be 2-D (N, D), got shape {x.shape}")
    n, d = x.shape
    if training and n < 2:
        raise ValueError(f"x must have more than 1 sample per feature in training mode, got N={n}")
    eps = check_positive("eps", eps)
    momentum = check_in_unit_interval("momentum", momentum)
    gamma = _check_vector("gamma", gamma, d, "x.shape[1]")
    beta = _check_vector("beta", beta, d, "x.shape[1]")
    running_mean = _check_vector("running_mean", running_mean, d, "x.shape[1]")
    running_var = _check_vector("running_var", running_var, d, "x.shape[1]")
    dtype = np.result_type(x, gamma, beta)

    if training:
        # Two-pass statistics (see regnorm_lab.stats): the mean with a float64
        # accumulator, because numpy sums axis 0 row by row and a float32 running
        # sum drifts when the mean is large; then the variance from the centred values.
        mean = x.mean(axis=0, dtype=np.float64).astype(dtype)
        x_hat = np.subtract(x, mean, dtype=dtype)  # a fresh array we own: later steps work in place
        out = np.square(x_hat)  # borrow the output buffer for the squares
        var = out.mean(axis=0)
        new_running_mean = (1 - momentum) * running_mean + momentum * mean
        new_running_var = (1 - momentum) * running_var + momentum * (var * (n / (n - 1)))
    else:
        mean, var = running_mean.astype(dtype), running_var.astype(dtype)
        x_hat = np.subtract(x, mean, dtype=dtype)
        out = np.empty_like(x_hat)
        new_running_mean, new_running_var = running_mean.copy(), running_var.copy()

    inv_std = 1.0 / np.sqrt(var + eps)
    x_hat *= inv_std
    np.multiply(x_hat, gamma, out=out)
    out += beta
    cache = {"x_hat": x_hat, "inv_std": inv_std, "gamma": gamma, "training": bool(training)}
    return out, cache, new_running_mean, new_running_var


def batchnorm_backward(dout: np.ndarray, cache: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Batch normalization backward pass, in the compact closed form.

    With ``g = dout`` and the cached ``x_hat`` and ``inv_std = 1/sqrt(var + eps)``:
    ``dbeta = sum_n g``, ``dgamma = sum_n g * x_hat`` and (training mode, where the
    batch statistics depend on ``x``)
    ``dx = gamma * inv_std * (g - (dbeta + x_hat * dgamma) / N)``.
    For an evaluation-mode forward the statistics are constants and
    ``dx = gamma * inv_std * g``.

    Args:
        dout: Upstream gradient of the output.
        cache: The cache returned by :func:`batchnorm_forward`.

    Returns:
        ``(dx, dgamma, dbeta)``.

    Shape:
        dout, dx: ``(N, D)``; dgamma, dbeta: ``(D,)``.
    """
    x_hat, inv_std, gamma = cache["x_hat"], cache["inv_std"], cache["gamma"]
    dout = _float_array("dout", dout)
    if dout.shape != x_hat.shape:
        raise ValueError(f"dout must have the shape of the forward input {x_hat.shape}, got {dout.shape}")
    n = dout.shape[0]
    dbeta = dout.sum(axis=0)
    # einsum sums the products without materialising dout * x_hat.
    dgamma = np.einsum("nd,nd->d", dout, x_hat)
    if not cache.get("training", True):
        return dout * (gamma * inv_std), dgamma, dbeta
    # One fresh array, then in-place steps: dx = gamma*inv_std * (dout - (dbeta + x_hat*dgamma)/N).
    dx = np.multiply(x_hat, dgamma / n)
    dx += dbeta / n
    np.subtract(dout, dx, out=dx)
    dx *= gamma * inv_std
    return dx, dgamma, dbeta


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
        if x.dim() not in (2, 3):
            raise ValueError(f"x must be 2-D (N, C) or 3-D (N, C, L), got {x.dim()}-D input")
        if x.shape[1] != self.num_features:
            raise ValueError(f"x must have {self.num_features} channels in dim 1, got {x.shape[1]}")
        dims = [0] if x.dim() == 2 else [0, 2]
        # Broadcast per-channel vectors over N (and L): (C,) -> (1, C) or (1, C, 1).
        view = (1, -1) if x.dim() == 2 else (1, -1, 1)
        use_batch_stats = self.training or not self.track_running_stats

        if use_batch_stats:
            count = x.numel() // self.num_features
            if count < 2:
                raise ValueError("x must have more than 1 value per channel in training mode")
            mean = x.mean(dim=dims, keepdim=True)
            centred = x - mean
            var = (centred * centred).mean(dim=dims, keepdim=True)  # biased, used to normalise
            if self.training and self.track_running_stats:
                self._update_running_stats(mean.detach().reshape(-1), var.detach().reshape(-1), count)
            x_hat = centred * torch.rsqrt(var + self.eps)
        else:
            x_hat = (x - self.running_mean.view(view)) * torch.rsqrt(self.running_var.view(view) + self.eps)

        if self.affine:
            x_hat = x_hat * self.weight.view(view) + self.bias.view(view)
        return x_hat

    @torch.no_grad()
    def _update_running_stats(self, mean: torch.Tensor, var: torch.Tensor, count: int) -> None:
        # In place on the buffers, as torch does, so references to them stay valid.
        self.num_batches_tracked += 1
        factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        unbiased = var * (count / (count - 1))
        self.running_mean.mul_(1 - factor).add_(mean, alpha=factor)
        self.running_var.mul_(1 - factor).add_(unbiased, alpha=factor)

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"affine={self.affine}, track_running_stats={self.track_running_stats}"
        )
