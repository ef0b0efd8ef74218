"""Batch normalization: numpy reference forward/backward and a torch BatchNorm1d (ps04)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

__all__ = ['batchnorm_forward', 'batchnorm_backward']


def batchnorm_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, running_mean: np.ndarray, running_var: np.ndarray, training: bool = True, momentum: float = 0.1, eps: float = 1e-5) -> tuple[np.ndarray, dict, np.ndarray, np.ndarray]:
    raise NotImplementedError  # STUB: replaced by the real implementation


def batchnorm_backward(dout: np.ndarray, cache: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    raise NotImplementedError  # STUB: replaced by the real implementation
