"""Inverted dropout: numpy reference forward/backward and a torch module (ps02).

"Inverted" dropout, as ``torch.nn.functional.dropout``: during training each
unit is kept with probability ``1 - p`` and the kept units are scaled by
``1 / (1 - p)``, so that the expected output equals the input and evaluation
needs no rescaling (the module is the identity in eval mode).

``p`` is always the probability of *dropping* a unit (torch's meaning; the
original paper's ``p`` was the keep probability).

Randomness comes only from an explicit generator (a ``numpy.random.Generator``
for the numpy reference, a ``torch.Generator`` for :class:`Dropout`), never
from global seeds.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ._validation import as_float_array, check_probability

__all__ = ["dropout_train_forward", "dropout_train_backward", "dropout_forward", "dropout_backward", "Dropout"]


def dropout_train_forward(x: np.ndarray, p: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Inverted dropout in training mode, for ``0 <= p < 1``: ``y = m * x / (1 - p)``, ``m ~ Bernoulli(1 - p)``.

    Shape:
        x: any shape; out and mask: the shape of ``x``.
    """
    mask = rng.random(x.shape) >= p  # U[0, 1) >= p with probability 1 - p: keep the unit
    out = x * mask * (1 / (1 - p))  # scale the kept units, so that E[out] = x
    return out, mask


def dropout_train_backward(dout: np.ndarray, mask: np.ndarray, p: float) -> np.ndarray:
    """Gradient of inverted dropout: ``dx = m * dout / (1 - p)``, the same mask and scale as the forward pass.

    Shape:
        dout, mask: the same shape; returns that shape.
    """
    return dout * mask * (1 / (1 - p))


# --------------------------------------------------------------------------- the checked functions (ps02)


def dropout_forward(
    x: np.ndarray, p: float, training: bool = True, rng: np.random.Generator | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Inverted dropout forward pass: :func:`dropout_train_forward` with the contract's checks and edge cases.

    Args:
        x: Input activations, any shape; not modified.
        p: Probability of dropping each unit, in ``[0, 1]``.
        training: If False, dropout is the identity (as ``module.eval()``).
        rng: Source of the random mask; None means a fresh
            ``np.random.default_rng()`` (not reproducible).

    Returns:
        ``(out, mask)``: ``out = x * mask / (1 - p)``, a new array, and ``mask``,
        a boolean array of ``x.shape`` that is True where a unit is kept.
        Not training, or ``p == 0``: ``out`` equals ``x`` and ``mask`` is all
        True. ``p == 1``: ``out`` is all zeros and ``mask`` all False.

    Shape:
        x: any shape; out and mask: the shape of ``x``.

    Raises:
        ValueError: if ``p`` is outside ``[0, 1]`` or ``rng`` is not a
            ``numpy.random.Generator``.
    """
    p = check_probability("p", p)
    if rng is not None and not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator or None, got {type(rng).__name__}")
    x = as_float_array(x)
    if not training or p == 0.0:
        # Identity; copy so that the caller can change `out` without touching `x`.
        return x.copy(), np.ones(x.shape, dtype=bool)
    if p == 1.0:
        # Everything dropped; handled apart because the scale 1 / (1 - p) is infinite.
        return np.zeros_like(x), np.zeros(x.shape, dtype=bool)
    out, mask = dropout_train_forward(x, p, np.random.default_rng() if rng is None else rng)
    # The Python-float scale keeps float32 input float32 (NEP 50); np.asarray turns the
    # numpy scalars that 0-d input gives back into arrays.
    return np.asarray(out), np.asarray(mask)


def dropout_backward(dout: np.ndarray, mask: np.ndarray, p: float) -> np.ndarray:
    """Inverted dropout backward pass, ``dx = dout * mask / (1 - p)``, checked; all zeros when ``p == 1``.

    Args:
        dout: Upstream gradient, shape of the forward input.
        mask: Boolean keep-mask from :func:`dropout_forward` (all True in eval
            mode, where the gradient passes through unchanged).
        p: The drop probability used in the forward pass, in ``[0, 1]``.

    Returns:
        ``dx``, a new array of ``dout.shape``.

    Shape:
        dout, mask: the same shape; returns that shape.

    Raises:
        ValueError: if ``p`` is outside ``[0, 1]`` or ``mask``'s shape differs
            from ``dout``'s.
    """
    p = check_probability("p", p)
    dout = as_float_array(dout)
    mask = np.asarray(mask)
    if mask.shape != dout.shape:
        raise ValueError(f"mask must have the shape of dout {dout.shape}, got {mask.shape}")
    if p == 1.0:
        return np.zeros_like(dout)
    return np.asarray(dropout_train_backward(dout, mask.astype(bool), p))


class Dropout(nn.Dropout):
    """``torch.nn.Dropout`` whose mask can come from an explicit ``torch.Generator``.

    In training mode the Bernoulli keep-mask is drawn from ``generator``, so a
    training run is reproducible without touching torch's global seed
    (``torch.manual_seed``). With ``generator=None`` it *is* ``nn.Dropout``
    (the global generator is used). Everything else is ``nn.Dropout``'s
    behaviour: eval mode returns the input itself, ``p == 1`` gives zeros,
    kept units are scaled by ``1 / (1 - p)``, gradients flow as
    ``mask / (1 - p)``.

    Args:
        p: Probability of dropping each element, in ``[0, 1]``.
        inplace: Must be False: the course never modifies inputs in place, so
            ``inplace=True`` raises ``ValueError`` rather than being ignored.
        generator: Optional ``torch.Generator`` on the same device as the
            inputs (a CPU generator for CPU tensors).

    Shape:
        input: any shape ``(*)``; output: the same shape.

    Raises:
        ValueError: if ``p`` is outside ``[0, 1]``, ``inplace`` is True, or
            ``generator`` is not a ``torch.Generator``.
    """

    def __init__(self, p: float = 0.5, inplace: bool = False, *, generator: torch.Generator | None = None) -> None:
        check_probability("p", p)
        if inplace:
            raise ValueError("inplace must be False: regnorm_lab.Dropout never modifies its input in place")
        if generator is not None and not isinstance(generator, torch.Generator):
            raise ValueError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
        super().__init__(p=p, inplace=False)
        self.generator = generator

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        """Apply dropout (training) or return ``input`` unchanged (eval)."""
        if self.generator is None or not self.training or self.p == 0.0 or self.p == 1.0:
            # No random draw is needed (or the global one is wanted): defer to torch,
            # which also covers eval (returns input), p == 1 (zeros) and p == 0.
            return super().forward(input)
        keep = 1.0 - self.p
        # Same construction as torch's own kernel: a Bernoulli(1 - p) mask already
        # divided by 1 - p, multiplied into the input (so autograd's gradient is mask / (1 - p)).
        noise = torch.empty_like(input).bernoulli_(keep, generator=self.generator).div_(keep)
        return input * noise

    def extra_repr(self) -> str:
        return f"p={self.p}, generator={'explicit' if self.generator is not None else 'global'}"
