"""Inverted dropout: numpy reference forward/backward and a torch module (ps02)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

__all__ = ['dropout_forward', 'dropout_backward']


def dropout_forward(x: np.ndarray, p: float, training: bool = True, rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
    raise NotImplementedError  # STUB: replaced by the real implementation


def dropout_backward(dout: np.ndarray, mask: np.ndarray, p: float) -> np.ndarray:
    raise NotImplementedError  # STUB: replaced by the real implementation
