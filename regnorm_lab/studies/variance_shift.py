"""The dropout/batch-norm variance shift in two stacked blocks, and Li et al.'s two fixes (chapter 11).

"Linear -> BatchNorm1d -> Dropout" is the usual advice for one block. Stack two
such blocks and the first block's dropout sits in front of the second block's
batch norm again, so the shift of Li et al. (2019) is back. Their fixes: put
dropout only after the *last* batch norm, or replace dropout by "Uout", a
multiplicative uniform noise ``x * (1 + r)``, ``r ~ U(-beta, beta)``, whose
variance inflation ``1 + beta²/3`` is much smaller than inverted dropout's.
:func:`stacked_variance_shift` measures, at the second batch norm, the ratio
of the variance its input has in eval mode to the running variance it learned
in training mode (1: no shift; below 1: eval activations come out shrunk).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..dropout import Dropout

__all__ = ["ARRANGEMENTS", "Uout", "stacked_variance_shift"]

#: The stacks :func:`stacked_variance_shift` builds (two Linear -> BatchNorm1d blocks each).
ARRANGEMENTS = ("bn->dropout x2", "dropout after last bn", "bn->uout x2")


class Uout(nn.Module):
    """Li et al.'s "Uout": ``x * (1 + r)``, ``r ~ U(-beta, beta)`` per element in training; identity in eval.

    Shape:
        input ``(*)``; output the same.
    """

    def __init__(self, beta: float, *, generator: torch.Generator) -> None:
        super().__init__()
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"beta must be in [0, 1), got {beta!r}")
        self.beta, self.generator = beta, generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.beta == 0.0:
            return x
        r = torch.rand(x.shape, generator=self.generator, dtype=x.dtype).mul_(2 * self.beta).sub_(self.beta)
        return x * (1.0 + r)


def _linear(n_in: int, n_out: int, generator: torch.Generator) -> nn.Linear:
    layer = nn.utils.skip_init(nn.Linear, n_in, n_out)
    bound = 1.0 / math.sqrt(n_in)
    with torch.no_grad():  # torch's default init range, from our generator
        layer.weight.uniform_(-bound, bound, generator=generator)
        layer.bias.uniform_(-bound, bound, generator=generator)
    return layer


def stacked_variance_shift(
    p: float,
    arrangement: str,
    *,
    beta: float = 0.1,
    n_in: int = 32,
    width: int = 64,
    batch_size: int = 128,
    n_batches: int = 200,
    generator: torch.Generator,
) -> float:
    """Eval variance / running variance at the second batch norm of a two-block stack (1 = no shift).

    Stacks (``Linear -> BN`` blocks of ``width`` units, input ``z ~ N(0, 1)``):
    ``"bn->dropout x2"``: ``[Linear, BN, Dropout(p)] x 2``;
    ``"dropout after last bn"``: ``Linear, BN, Linear, BN, Dropout(p)``;
    ``"bn->uout x2"``: ``[Linear, BN, Uout(beta)] x 2``.
    ``n_batches`` training-mode batches set the running statistics
    (``momentum=None``, a cumulative average); one large eval batch then
    measures the variance of the second batch norm's input.

    Returns:
        The mean over units of ``eval_var / running_var``.

    Raises:
        ValueError: unknown ``arrangement``, ``p`` outside ``[0, 1)``.
    """
    if arrangement not in ARRANGEMENTS:
        raise ValueError(f"arrangement must be one of {ARRANGEMENTS}, got {arrangement!r}")
    if not 0.0 <= p < 1.0:
        raise ValueError(f"p must be in [0, 1), got {p!r}")

    def noise() -> nn.Module:
        return Uout(beta, generator=generator) if arrangement == "bn->uout x2" else Dropout(p, generator=generator)

    first = [_linear(n_in, width, generator), nn.BatchNorm1d(width, momentum=None)]
    if arrangement != "dropout after last bn":
        first.append(noise())
    bn2 = nn.BatchNorm1d(width, momentum=None)
    net = nn.Sequential(*first, _linear(width, width, generator), bn2, noise())
    seen: list[torch.Tensor] = []
    bn2.register_forward_pre_hook(lambda _m, args: seen.append(args[0].detach()))
    with torch.no_grad():
        net.train()
        for _ in range(n_batches):
            net(torch.randn(batch_size, n_in, generator=generator))
        net.eval()
        seen.clear()
        net(torch.randn(20 * batch_size, n_in, generator=generator))
    eval_var = seen[0].var(0, unbiased=True)
    return float((eval_var / bn2.running_var).mean())
