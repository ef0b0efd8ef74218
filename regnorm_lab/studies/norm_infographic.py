"""Chapter 12's infographic: the two families side by side, drawn from measured numbers with their intervals.

:func:`draw_infographic` only draws; the chapter measures (with
:func:`~regnorm_lab.studies.claims_overfitting.overfitting_study` and
:func:`~regnorm_lab.studies.experiments_norm.lr_sweep`) and hands the
numbers over, so every bar on the figure is a number the page computed,
with the 95 % interval it computed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch

__all__ = ["REG", "NORM", "draw_infographic"]

REG = {"dark": "#a04000", "mid": "#e67e22", "light": "#fbeee6"}
NORM = {"dark": "#1a5276", "mid": "#3498db", "light": "#eaf2f8"}

_REG_ROWS = [
    ("Acts on", "what the model is trained to prefer: a penalty in the loss\n(L1, L2) or noise in the training-time network (dropout)"),
    ("When", "training only; at inference only the weights it shaped remain"),
    ("Fixes", "overfitting: it narrows the gap between training\nand validation fit"),
    ("Costs", "training fit, always; too strong a penalty underfits"),
]
_NORM_ROWS = [
    ("Acts on", "the numbers flowing through the network: inputs and\nactivations re-centred and re-scaled (then a learned scale/shift)"),
    ("When", "training and inference (batch norm: batch statistics in\ntraining, running averages at inference)"),
    ("Fixes", "slow or unstable optimisation; badly scaled features;\ninside the network, BN also narrows the gap a little"),
    ("Costs", "batch norm depends on batch size; dropout before it\nshifts its variance at inference"),
]


def _panel(fig: Figure, x0: float, colours: Mapping[str, str], title: str, subtitle: str, rows: Sequence[tuple[str, str]]) -> None:
    """One family's text box: title, subtitle and four headed rows."""
    ax = fig.add_axes([x0, 0.43, 0.46, 0.48])
    ax.set_axis_off()
    ax.add_patch(FancyBboxPatch((0, 0), 1, 1, boxstyle="round,pad=0.0,rounding_size=0.03",
                                facecolor=colours["light"], edgecolor=colours["mid"], lw=2, transform=ax.transAxes))
    ax.text(0.5, 0.94, title, ha="center", va="top", fontsize=18, weight="bold", color=colours["dark"])
    ax.text(0.5, 0.86, subtitle, ha="center", va="top", fontsize=10.5, color="0.25", style="italic")
    y = 0.76
    for head, body in rows:
        ax.text(0.05, y, head, ha="left", va="top", fontsize=11.5, weight="bold", color=colours["dark"])
        ax.text(0.05, y - 0.055, body, ha="left", va="top", fontsize=10.5, color="0.1", linespacing=1.35)
        y -= 0.175


def _bars_with_intervals(ax: plt.Axes, table: pd.DataFrame, colours: Sequence[str], fmt: str = "{:.2f}") -> None:
    """Bars at ``table.estimate`` with 95 % error bars from ``ci_lo``/``ci_hi``, the value written above each."""
    x = np.arange(len(table))
    err = np.vstack([table.estimate - table.ci_lo, table.ci_hi - table.estimate])
    ax.bar(x, table.estimate, color=colours, yerr=err, capsize=4, ecolor="0.2")
    for xi, v, lo, hi in zip(x, table.estimate, table.ci_lo, table.ci_hi):
        # The value goes beyond the end of the error bar, on the side the bar points to.
        y, va = (hi + 0.01, "bottom") if v >= 0 else (lo - 0.01, "top")
        ax.text(xi, y, fmt.format(v), ha="center", va=va, fontsize=10.5, weight="bold")
    ax.set_xticks(x, table.index, fontsize=9)
    ax.spines[["top", "right"]].set_visible(False)


def draw_infographic(
    gap_change: pd.DataFrame,
    train_r2: Mapping[str, Sequence[float]],
    stable_lr: Mapping[str, Sequence[float]],
    *,
    footer: str,
) -> Figure:
    """Draw the infographic.

    Args:
        gap_change: Paired change of the overfitting gap (train minus validation
            R²) of each method against the unregularised model, indexed by
            method name, columns ``estimate``, ``ci_lo``, ``ci_hi`` and ``family``
            (``"reg"`` or ``"norm"``, which sets the bar colour).
        train_r2: Training R² of every run without and with the input batch norm
            (keys ``"without"`` and ``"with"``), drawn as points: without the
            layer the runs split between draws that fit a little and draws
            that do not fit at all, so a mean would describe none of them.
        stable_lr: Per network (``"plain"``, ``"BN"``), the largest stable learning rate of each seed.
        footer: The line under the figure that says what was run.

    Returns:
        The figure.
    """
    missing = {"estimate", "ci_lo", "ci_hi", "family"} - set(gap_change.columns)
    if missing:
        raise ValueError(f"gap_change must have columns estimate, ci_lo, ci_hi, family; missing {sorted(missing)}")
    if set(train_r2) != {"without", "with"} or not all(len(v) for v in train_r2.values()):
        raise ValueError(f"train_r2 must map 'without' and 'with' to non-empty lists, got {dict(train_r2)!r}")
    if set(stable_lr) != {"plain", "BN"} or not all(len(v) for v in stable_lr.values()):
        raise ValueError(f"stable_lr must map 'plain' and 'BN' to non-empty lists, got {dict(stable_lr)!r}")
    fig = plt.figure(figsize=(12, 10.5))
    fig.text(0.5, 0.975, "Regularization vs normalization", ha="center", va="top", fontsize=22, weight="bold")
    fig.text(0.5, 0.94, "two families, two different problems; every number measured in this course",
             ha="center", va="top", fontsize=12, color="0.35")
    _panel(fig, 0.03, REG, "Regularization", "L1 · L2 · Elastic Net · dropout · weight decay", _REG_ROWS)
    _panel(fig, 0.51, NORM, "Normalization", "input scaling · batch · layer · instance · group · RMS norm", _NORM_ROWS)

    ax = fig.add_axes([0.07, 0.07, 0.40, 0.27])
    colours = [REG["mid"] if f == "reg" else NORM["mid"] for f in gap_change.family]
    _bars_with_intervals(ax, gap_change, colours, fmt="{:+.2f}")
    ax.axhline(0, color="k", lw=0.8)
    ax.set_ylabel("change of the gap train $R^2$ − val. $R^2$\nagainst no regularizer (paired, 95 % interval)", fontsize=9.5)
    ax.set_title("Measured: regularizers narrow the overfitting gap", fontsize=12, color=REG["dark"], weight="bold", loc="left")
    ax.set_ylim(float(gap_change.ci_lo.min()) * 1.25, 0.05)

    ax = fig.add_axes([0.57, 0.07, 0.17, 0.27])
    for i, name in enumerate(("without", "with")):
        vals = np.asarray(train_r2[name], dtype=float)
        ax.scatter(np.full(vals.size, i) + np.linspace(-0.15, 0.15, vals.size), vals, s=30,
                   color=NORM["dark"] if name == "with" else NORM["mid"], zorder=3)
    lowest = min(min(v) for v in train_r2.values())
    ax.set(xticks=[0, 1], xticklabels=["without", "with"], xlim=(-0.5, 1.5),
           ylim=(min(0.0, lowest) - 0.05, 1.1), ylabel="training $R^2$ (one point per run)")
    ax.spines[["top", "right"]].set_visible(False)
    ax.set_title("Input batch norm:\nthe model can fit at all", fontsize=11, color=NORM["dark"], weight="bold", loc="left")

    ax = fig.add_axes([0.82, 0.07, 0.15, 0.27])
    for i, name in enumerate(("plain", "BN")):
        vals = np.asarray(stable_lr[name], dtype=float)
        ax.scatter(np.full(vals.size, i) + np.linspace(-0.08, 0.08, vals.size), vals, s=40,
                   color=NORM["dark"] if name == "BN" else NORM["mid"], zorder=3)
    ax.set(xticks=[0, 1], xticklabels=["plain", "BN"], xlim=(-0.5, 1.5), yscale="log",
           ylabel="largest stable learning rate\n(one point per seed)")
    ax.set_ylim(min(min(v) for v in stable_lr.values()) / 3, max(max(v) for v in stable_lr.values()) * 6)
    ax.set_title("Batch norm: larger\nstable learning rate", fontsize=11, color=NORM["dark"], weight="bold", loc="left")
    ax.spines[["top", "right"]].set_visible(False)

    fig.text(0.5, 0.005, footer, ha="center", fontsize=8.5, color="0.45")
    return fig
