"""Layer, instance and group normalization: numpy references and torch versions (ps05, ps07)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

__all__ = ['layernorm_forward', 'layernorm_backward', 'instancenorm_forward', 'groupnorm_forward', 'layer_norm']


def layernorm_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float = 1e-5) -> tuple[np.ndarray, dict]:
    raise NotImplementedError  # STUB: replaced by the real implementation


def layernorm_backward(dout: np.ndarray, cache: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    raise NotImplementedError  # STUB: replaced by the real implementation


def instancenorm_forward(x: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    raise NotImplementedError  # STUB: replaced by the real implementation


def groupnorm_forward(x: np.ndarray, num_groups: int, gamma: np.ndarray, beta: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    raise NotImplementedError  # STUB: replaced by the real implementation


def layer_norm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    raise NotImplementedError  # STUB: replaced by the real implementation
