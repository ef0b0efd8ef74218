"""``python -m regnorm_lab.timing``: the environment, the side-by-side table and the ratios, for this machine."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from .devices import cpu_threads_if_cpu, describe_environment, pick_device, plan_timing
from .report import format_report, summarize_ratios
from .side_by_side import DEFAULT_SHAPES, time_normalizations

__all__ = ["parse_shape", "main"]


def parse_shape(text: str) -> tuple[int, ...]:
    """``"4096x1024"`` -> ``(4096, 1024)``.

    Raises:
        ValueError: ``text`` is not integers joined by ``x``.

    Shape:
        The parsed shape, any rank.
    """
    try:
        return tuple(int(t) for t in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"shapes must look like 4096x1024, got {text!r}") from None


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m regnorm_lab.timing``: print the environment, the table and the ratios.

    Shape:
        Not applicable.
    """
    parser = argparse.ArgumentParser(prog="python -m regnorm_lab.timing", description=main.__doc__)
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--shapes", default=",".join("x".join(map(str, s)) for s in DEFAULT_SHAPES),
                        help="comma-separated shapes such as 4096x1024,8192x256")
    parser.add_argument("--dtypes", default="float32,bfloat16", help="bfloat16/float16 are skipped on the CPU")
    parser.add_argument("--min-run-time", type=float, default=0.2, help="seconds per measurement")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads while timing")
    parser.add_argument("--hot", action="store_true",
                        help="reuse one input (caches stay hot) instead of rotating copies")
    parser.add_argument("--png", default=None, help="also save the bandwidth bar chart to this file")
    ns = parser.parse_args(argv)

    device = pick_device(ns.device)
    shapes = [parse_shape(s) for s in ns.shapes.split(",") if s]
    dtypes = [d for d in ns.dtypes.split(",") if d]
    plan = plan_timing(device, cold_cache=not ns.hot)
    rows = time_normalizations(shapes, dtypes, device, min_run_time=ns.min_run_time,
                               cold_cache=not ns.hot, num_threads=ns.threads)
    timed_dtypes = list(dict.fromkeys(r.dtype for r in rows))  # what actually ran, in order
    with cpu_threads_if_cpu(device, ns.threads):
        env = describe_environment(device, timed_dtypes, plan)
    print(format_report(rows, env))
    print()
    print("ratios:")
    for line in summarize_ratios(rows):
        print("  " + line)
    if ns.png:
        import matplotlib

        matplotlib.use("Agg")  # a file only: no display needed
        from .plots import plot_bandwidth

        ax = plot_bandwidth(rows, env=env)
        ax.figure.tight_layout()
        ax.figure.savefig(ns.png, dpi=120)
        print(f"\nfigure: {ns.png}")
    return 0
