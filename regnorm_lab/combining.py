"""The seed-003 model: BatchNorm on the input, L1/L2 on the kernels, optional dropout (ps06)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

__all__ = ['r2_score', 'weight_penalty', 'build_model']


def r2_score(y_true: torch.Tensor, y_pred: torch.Tensor) -> float:
    raise NotImplementedError  # STUB: replaced by the real implementation


def weight_penalty(model: nn.Module, l1: float = 0.0, l2: float = 0.0) -> torch.Tensor:
    raise NotImplementedError  # STUB: replaced by the real implementation


def build_model(n_features: int, hidden: int = 128, dropout: float = 0.0, batch_norm: bool = True) -> nn.Sequential:
    raise NotImplementedError  # STUB: replaced by the real implementation
