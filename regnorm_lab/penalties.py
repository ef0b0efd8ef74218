"""Weight penalties: L1, L2, Elastic Net, their gradients and the L1 proximal step (ps01)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

__all__ = ['l1_penalty', 'l2_penalty', 'elastic_net_penalty', 'l1_grad', 'l2_grad', 'soft_threshold']


def l1_penalty(w: np.ndarray, lam: float) -> float:
    raise NotImplementedError  # STUB: replaced by the real implementation


def l2_penalty(w: np.ndarray, lam: float) -> float:
    raise NotImplementedError  # STUB: replaced by the real implementation


def elastic_net_penalty(w: np.ndarray, l1: float, l2: float) -> float:
    raise NotImplementedError  # STUB: replaced by the real implementation


def l1_grad(w: np.ndarray, lam: float) -> np.ndarray:
    raise NotImplementedError  # STUB: replaced by the real implementation


def l2_grad(w: np.ndarray, lam: float) -> np.ndarray:
    raise NotImplementedError  # STUB: replaced by the real implementation


def soft_threshold(w: np.ndarray, t: float) -> np.ndarray:
    raise NotImplementedError  # STUB: replaced by the real implementation
