"""The chapter's figure: achieved GB/s per implementation, grouped by op and shape, under the copy's ceiling."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .side_by_side import IMPL_ORDER, TimingRow

__all__ = ["plot_bandwidth"]

_COLORS = {"student": "tab:orange", "reference": "tab:blue", "fused": "tab:green"}


def plot_bandwidth(rows: Sequence[TimingRow], ax: Any = None, env: dict[str, Any] | None = None) -> Any:
    """Bar chart of achieved GB/s per implementation, grouped by op and shape, with the copy ceiling.

    Args:
        rows: from :func:`~regnorm_lab.timing.side_by_side.time_normalizations`.
        ax: a matplotlib Axes; a new figure when None.
        env: from :func:`~regnorm_lab.timing.devices.describe_environment`, for the device name in the title.

    Returns:
        The Axes.

    Raises:
        ValueError: ``rows`` is empty.

    Shape:
        Not applicable.
    """
    if not rows:
        raise ValueError("rows must not be empty")
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4))
    groups: list[tuple[str, tuple[int, ...], str]] = []
    for r in rows:
        key = (r.op, r.shape, r.dtype)
        if key not in groups:
            groups.append(key)
    impls = [i for i in IMPL_ORDER if i != "copy" and any(r.impl == i for r in rows)]
    width = 0.8 / max(1, len(impls))
    for j, impl in enumerate(impls):
        xs, ys = [], []
        for g, key in enumerate(groups):
            for r in rows:
                if (r.op, r.shape, r.dtype) == key and r.impl == impl:
                    xs.append(g - 0.4 + width * (j + 0.5))
                    ys.append(r.gbps)
        ax.bar(xs, ys, width=width, label=impl, color=_COLORS.get(impl))
    labelled = False
    for g, key in enumerate(groups):
        for r in rows:
            if (r.op, r.shape, r.dtype) == key and r.impl == "copy":
                ax.hlines(r.gbps, g - 0.45, g + 0.45, colors="black", linestyles="--",
                          label=None if labelled else "copy (ceiling)")
                labelled = True
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels([f"{op}\n{'x'.join(map(str, s))} {dt}" for op, s, dt in groups], fontsize=8)
    ax.set_ylabel("achieved GB/s (ideal bytes / median time)")
    device = rows[0].device
    name = f" ({env['device_name']})" if env and env.get("device_name") else ""
    threads = ""
    if env and env.get("device_type") == "cpu":
        n = env["num_threads"]
        threads = f", {n} thread{'' if n == 1 else 's'}"
    ax.set_title(f"Normalization bandwidth on {device}{name}{threads}", fontsize=10)
    # Head room above the tallest bar or ceiling line, so the legend does not cover them.
    ax.set_ylim(0, 1.3 * max(r.gbps for r in rows))
    ax.legend(fontsize=8, loc="upper left", ncols=len(impls) + 1)
    return ax
