"""Numerically stable mean and variance, shared by every normalization reference.

Why two passes: the one-pass formula ``E[x**2] - E[x]**2`` subtracts two large,
nearly equal numbers when the mean is large compared with the spread. For
float32 features with mean 1e4 and standard deviation 1, ``E[x**2]`` is about
1e8, whose float32 spacing is 8, so the difference (the variance, 1) is lost
entirely and can even come out negative. The two-pass form first computes the
mean, then averages the squared *deviations* ``(x - mean)**2``; those are of
the size of the variance itself, so rounding errors are relative to the
variance rather than to ``mean**2``. That is why it is safe to accumulate
float32 input in float32 here: the centred values no longer carry the large
offset. (numpy's ``np.var`` uses the same two-pass scheme.)

The mean itself is accumulated in float64 for float16/float32 input. numpy
sums along a non-contiguous axis (axis 0 of a C-ordered batch) row by row,
without pairwise summation, so a float32 running sum of 4096 values near 1e4
drifts by about 0.03; that error would reappear in every centred value
``x - mean``. One float64-accumulated pass costs little and removes it; the
result is cast back to the input's dtype.
"""

from __future__ import annotations

import numpy as np

__all__ = ["stable_mean", "mean_var"]

Axis = int | tuple[int, ...] | None


def stable_mean(x: np.ndarray, axis: Axis = None, keepdims: bool = False) -> np.ndarray:
    """The mean along ``axis``, accumulated in float64 and returned in ``x``'s float dtype.

    numpy sums a non-contiguous axis row by row (no pairwise summation), so a
    float32 running sum drifts; one float64-accumulated pass removes that (see
    the module docstring).

    Shape:
        x: any shape ``S``; returns ``S`` without ``axis`` (length 1 with ``keepdims``).
    """
    x = np.asarray(x)
    dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.float64)
    return np.asarray(np.mean(x, axis=axis, keepdims=keepdims, dtype=np.float64)).astype(dtype, copy=False)


def mean_var(
    x: np.ndarray, axis: Axis = None, ddof: int = 0, keepdims: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of ``x`` along ``axis``, computed in two passes.

    Args:
        x: Input array; float32 stays float32, other floats keep their dtype,
            integers are promoted to float64 (as ``np.mean`` does).
        axis: Axis or axes to reduce over; None reduces over all of them.
        ddof: Delta degrees of freedom: the squared deviations are divided by
            ``n - ddof`` (0 = population/biased variance, 1 = unbiased).
        keepdims: Keep the reduced axes with length 1, so that the results
            broadcast against ``x``.

    Returns:
        ``(mean, var)``, both with the reduced shape.

    Shape:
        x: any shape ``S``; mean and var: ``S`` without ``axis`` (or with
        length-1 axes when ``keepdims``).

    Raises:
        ValueError: if ``ddof`` is negative or not smaller than the number of
            reduced elements.
    """
    x = np.asarray(x)
    if x.dtype.kind != "f":
        x = x.astype(np.float64)  # integers and bools, as np.mean would promote them
    if int(ddof) != ddof or ddof < 0:
        raise ValueError(f"ddof must be a non-negative integer, got {ddof!r}")
    n = x.size if axis is None else int(np.prod([x.shape[a] for a in np.atleast_1d(axis)]))
    if n - ddof <= 0:
        raise ValueError(f"ddof must be smaller than the number of reduced elements ({n}), got {ddof!r}")
    # First pass: the mean, kept broadcastable for the second pass; a float64
    # accumulator for narrow floats (see the module docstring), same dtype out.
    acc = np.float64 if x.dtype.itemsize < 8 else None
    mean = np.mean(x, axis=axis, keepdims=True, dtype=acc).astype(x.dtype, copy=False)
    # Second pass: squared deviations from the mean, which are of the size of the
    # variance (not of mean**2), so float32 accumulation stays accurate.
    centred = np.subtract(x, mean)
    np.square(centred, out=centred)
    var = np.sum(centred, axis=axis, keepdims=keepdims) / (n - ddof)
    if not keepdims:
        mean = np.squeeze(mean, axis=axis) if axis is not None else mean.reshape(())
    return mean, np.asarray(var).astype(x.dtype, copy=False)
