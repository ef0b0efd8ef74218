"""What is timed: the normalizations, their fused framework kernels, the copy, their inputs and byte counts.

Normalization layers do a handful of arithmetic operations per element, so their
speed is set by how many bytes they move through memory, not by FLOPs. Bytes
moved (the *ideal* traffic, i.e. what a perfect single-pass kernel must move;
``M`` = number of elements of ``x``, ``D`` = its last dimension, ``s`` = bytes
per element):

* layer norm: ``(2*M + 2*D) * s``  (read ``x``, ``weight``, ``bias``; write the output)
* RMS norm:   ``(2*M + D) * s``    (read ``x``, ``weight``; write the output)
* copy:       ``2*M * s``          (read ``x``; write the clone)

A composite implementation really moves more (its intermediates go through memory),
which is exactly why its achieved "effective" GB/s, computed from the ideal count, is low.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from ._checks import check_device, check_dtype, check_shape

__all__ = ["OPS", "EPS", "bytes_moved", "make_inputs", "fused_kernel", "copy_kernel", "max_abs_err"]

#: The operations the timing room knows how to time, with the number of per-feature
#: parameter vectors each reads (layer norm: weight and bias; RMS norm: weight).
OPS: dict[str, int] = {"layer_norm": 2, "rms_norm": 1}

#: Default eps of each op, matching the exercise contract and torch.
EPS: dict[str, float] = {"layer_norm": 1e-5, "rms_norm": 1e-6}


def _check_op(op: str, allowed: Sequence[str]) -> None:
    if op not in allowed:
        raise ValueError(f"op must be one of {sorted(allowed)}, got {op!r}")


def bytes_moved(op: str, shape: Sequence[int], dtype: torch.dtype | str = torch.float32) -> int:
    """Ideal memory traffic of one call: what a perfect single-pass kernel reads and writes.

    ``M`` = elements of ``x``, ``D`` = ``shape[-1]``, ``s`` = bytes per element:
    layer norm ``(2M + 2D) s``, RMS norm ``(2M + D) s``, copy ``2M s``.

    Args:
        op: ``"layer_norm"``, ``"rms_norm"`` or ``"copy"``.
        shape: shape of ``x``.
        dtype: dtype of ``x`` (weight and bias share it).

    Returns:
        Bytes, an int.

    Raises:
        ValueError: unknown ``op``, bad ``shape`` or ``dtype``.

    Shape:
        ``x``: ``shape``; weight/bias: ``(shape[-1],)``.
    """
    dims = check_shape("shape", shape)
    dt = check_dtype("dtype", dtype)
    _check_op(op, [*OPS, "copy"])
    m = math.prod(dims)
    d = dims[-1]
    s = torch.empty((), dtype=dt).element_size()
    n_params = 0 if op == "copy" else OPS[op]
    return (2 * m + n_params * d) * s


def make_inputs(
    op: str,
    shape: Sequence[int],
    dtype: torch.dtype | str = torch.float32,
    device: torch.device | str = "cpu",
    seed: int = 0,
) -> tuple[torch.Tensor, ...]:
    """Arguments for one call of ``op``: ``(x, weight, bias)`` or ``(x, weight)``.

    Drawn on the CPU from a private ``torch.Generator`` (the same numbers on every
    device), then moved; the weight is near 1 and the bias near 0, as after training.

    Args:
        op: ``"layer_norm"`` or ``"rms_norm"``.
        shape: shape of ``x``; normalisation runs over ``shape[-1]``.
        dtype: floating dtype.
        device: where the tensors go.
        seed: seed of the private generator.

    Returns:
        A tuple of tensors.

    Raises:
        ValueError: unknown ``op``, bad ``shape``, ``dtype`` or ``device``.

    Shape:
        ``x``: ``shape``; ``weight``, ``bias``: ``(shape[-1],)``.
    """
    _check_op(op, list(OPS))
    dims = check_shape("shape", shape)
    dt = check_dtype("dtype", dtype)
    dev = check_device("device", device)
    gen = torch.Generator().manual_seed(int(seed))
    d = dims[-1]
    x = torch.randn(dims, generator=gen)
    weight = 1.0 + 0.1 * torch.randn(d, generator=gen)
    args = [x, weight]
    if op == "layer_norm":
        args.append(0.1 * torch.randn(d, generator=gen))
    return tuple(t.to(device=dev, dtype=dt) for t in args)


def fused_kernel(op: str, eps: float | None = None) -> Callable[..., torch.Tensor]:
    """The framework's kernel for ``op``, with the same call signature as the references.

    Args:
        op: ``"layer_norm"`` (``F.layer_norm``) or ``"rms_norm"`` (``F.rms_norm``).
        eps: defaults to the contract's (1e-5 for layer norm, 1e-6 for RMS norm).

    Returns:
        ``fn(x, weight, bias)`` or ``fn(x, weight)``.

    Raises:
        ValueError: unknown ``op``.

    Shape:
        ``x``: ``(*, D)``; weight, bias: ``(D,)``; output: like ``x``.
    """
    _check_op(op, list(OPS))
    e = EPS[op] if eps is None else eps
    if op == "layer_norm":

        def fused_layer_norm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
            return F.layer_norm(x, (x.shape[-1],), weight, bias, e)

        return fused_layer_norm

    def fused_rms_norm(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        return F.rms_norm(x, (x.shape[-1],), weight, e)

    return fused_rms_norm


def copy_kernel(x: torch.Tensor, *_: torch.Tensor) -> torch.Tensor:
    """``x.clone()``: the bandwidth ceiling (read ``x``, write a tensor of its size, no arithmetic).

    Extra arguments (weight, bias) are accepted and ignored, so it takes the same
    argument tuples as the normalizations.

    Shape:
        ``x``: any; output: like ``x``.
    """
    # clone, not copy_ into a fixed buffer: every normalization allocates its output too.
    return x.clone()


def max_abs_err(
    fn: Callable[..., torch.Tensor], ref: Callable[..., torch.Tensor], args: tuple[torch.Tensor, ...]
) -> float:
    """Largest ``|fn(*args) - ref(*args)|`` in float32; ``inf`` when ``fn`` returns no tensor of the right shape.

    Shape:
        Both outputs alike; the result is a scalar.
    """
    with torch.no_grad():
        out = fn(*args)
        want = ref(*args)
    if not isinstance(out, torch.Tensor) or out.shape != want.shape:
        return float("inf")
    return float((out.float() - want.float()).abs().max())
