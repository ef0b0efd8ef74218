"""Reading timings: the table as text or a DataFrame, one ratio sentence per group, lookups and checks.

Everything here works on the :class:`~regnorm_lab.timing.side_by_side.TimingRow`
list that :func:`~regnorm_lab.timing.side_by_side.time_normalizations` returns;
nothing here times anything.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

import torch

from .kernels import fused_kernel
from .side_by_side import TimingRow

__all__ = ["rows_to_frame", "format_time", "format_report", "summarize_ratios", "rows_by_key", "assert_matches_fused"]


def rows_to_frame(rows: Sequence[TimingRow]) -> Any:
    """The rows as a pandas DataFrame (pandas is imported only here).

    Shape:
        One DataFrame row per :class:`~regnorm_lab.timing.side_by_side.TimingRow`.
    """
    import pandas as pd

    return pd.DataFrame([asdict(r) for r in rows])


def format_time(seconds: float) -> str:
    """Seconds in the largest unit that keeps the number at least 1: ``"   1.50 ms"``.

    Shape:
        Not applicable.
    """
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:7.2f} {unit}"
    return f"{seconds / 1e-9:7.1f} ns"


def format_report(rows: Sequence[TimingRow], env: dict[str, Any] | None = None) -> str:
    """A plain-text report: the environment, then one table line per row.

    Args:
        rows: from :func:`~regnorm_lab.timing.side_by_side.time_normalizations`.
        env: from :func:`~regnorm_lab.timing.devices.describe_environment`; omitted when None.

    Returns:
        The report as one string.

    Shape:
        Not applicable.
    """
    lines: list[str] = []
    if env:
        width = max(len(k) for k in env)
        lines += [f"{k:<{width}} : {v}" for k, v in env.items()]
        lines.append("")
    header = (f"{'op':<11} {'impl':<9} {'shape':<12} {'dtype':<8} {'median':>10} {'IQR':>10} {'x fused':>8}"
              f" {'GB/s':>8} {'% copy':>7} {'max err':>8}")
    lines += [header, "-" * len(header)]
    for r in rows:
        shape = "x".join(map(str, r.shape))
        err = "" if math.isnan(r.max_abs_err) else f"{r.max_abs_err:8.1e}"
        lines.append(
            f"{r.op:<11} {r.impl:<9} {shape:<12} {r.dtype:<8} {format_time(r.median_s):>10} {format_time(r.iqr_s):>10}"
            f" {r.ratio_to_fused:8.2f} {r.gbps:8.2f} {r.pct_of_copy:6.1f}% {err:>8}"
        )
    notes = sorted({r.cache for r in rows if r.cache})
    if notes:
        lines.append("")
        lines += [f"caches: {n}" for n in notes]
    return "\n".join(lines)


def summarize_ratios(rows: Sequence[TimingRow]) -> list[str]:
    """One sentence per (op, shape, dtype): reference and student vs fused, fused vs copy.

    Shape:
        Not applicable.
    """
    groups: dict[tuple[str, tuple[int, ...], str], dict[str, TimingRow]] = {}
    for r in rows:
        groups.setdefault((r.op, r.shape, r.dtype), {})[r.impl] = r
    out = []
    for (op, shape, dtype), by_impl in groups.items():
        parts = []
        for impl in ("reference", "student"):
            if impl in by_impl:
                parts.append(f"{impl} {by_impl[impl].ratio_to_fused:.2f}x the fused time")
        if "fused" in by_impl:
            parts.append(f"fused at {by_impl['fused'].pct_of_copy:.0f}% of the copy's GB/s")
        out.append(f"{op} {'x'.join(map(str, shape))} {dtype}: " + ", ".join(parts))
    return out


def rows_by_key(rows: Sequence[TimingRow]) -> dict[tuple[str, tuple[int, ...], str, str], TimingRow]:
    """The rows keyed by ``(op, shape, dtype, impl)``, e.g. ``by["layer_norm", (4096, 1024), "float32", "fused"]``.

    Raises:
        ValueError: two rows share a key (rows of two runs mixed together).

    Shape:
        ``shape`` in the key is ``x``'s shape as a tuple.
    """
    by: dict[tuple[str, tuple[int, ...], str, str], TimingRow] = {}
    for r in rows:
        key = (r.op, tuple(r.shape), r.dtype, r.impl)
        if key in by:
            raise ValueError(f"rows holds two rows for {key}: pass the rows of one run")
        by[key] = r
    return by


def assert_matches_fused(
    fn: Callable[..., torch.Tensor], op: str, args: tuple[torch.Tensor, ...], *, rtol: float, atol: float
) -> None:
    """Check ``fn(*args)`` against the framework's fused kernel for ``op`` (``torch.testing.assert_close``).

    A timing of a function that computes something else means nothing, so the
    chapter checks each implementation before it times it.

    Raises:
        AssertionError: the outputs differ beyond ``rtol``/``atol``.
        ValueError: unknown ``op``.

    Shape:
        ``args[0]``: ``(*, D)``; weight, bias: ``(D,)``.
    """
    torch.testing.assert_close(fn(*args), fused_kernel(op)(*args), rtol=rtol, atol=atol)
