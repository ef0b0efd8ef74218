"""Honest timing of layer norm and RMS norm on a GPU (or, failing that, the CPU) (ps07, chapter 14).

Normalization layers do a handful of arithmetic operations per element, so their
speed is set by how many bytes they move through memory, not by FLOPs. This
package times, side by side and in one run:

* ``student``   - an implementation passed in by a caller (the ps07 notebook);
* ``reference`` - the course's composite implementations (``regnorm_lab.layer_norm``,
  ``regnorm_lab.rms_norm``: plain tensor operations, several kernels each);
* ``fused``     - the framework kernels ``F.layer_norm`` and ``F.rms_norm``;
* ``copy``      - ``x.clone()`` of the same tensor: the memory-bandwidth ceiling
  that no normalization can beat, since it must read ``x`` and write its output too.

One module per idea, in the order a timing flows through them:

========================  ===================================================================
module                    what it holds
========================  ===================================================================
``devices``               device choice, cache sizes, the :class:`TimingPlan`, the environment
``kernels``               the timed ops, their fused kernels, the copy, inputs, bytes moved
``timer``                 the one timer (``torch.utils.benchmark.Timer``, warm-up, cold inputs)
``first_call``            the one-off cost: a stopwatch on the first call in a fresh process
``side_by_side``          the table: :func:`time_normalizations` and its :class:`TimingRow`
``grading``               ps07's :func:`speed_ratio` (book, student's own notebook; the grader has its own clock)
``report``                the table as text or a DataFrame, ratio sentences, lookups, checks
``plots``                 the bandwidth bar chart
``reference_vs_torch``    numpy references vs torch, forward + backward (``make bench``)
``cli``                   ``python -m regnorm_lab.timing``
========================  ===================================================================

Everything public is importable from here (``import regnorm_lab.timing as gt``).
Run ``python -m regnorm_lab.timing`` for a report on this machine.
"""

from __future__ import annotations

from .cli import main
from .devices import TimingPlan, describe_environment, pick_device, plan_timing, set_cpu_threads
from .first_call import first_call_seconds
from .grading import GRADING_SHAPES, GRADING_THRESHOLD, speed_ratio
from .kernels import OPS, bytes_moved, fused_kernel, make_inputs
from .plots import plot_bandwidth
from .report import assert_matches_fused, format_report, rows_by_key, rows_to_frame, summarize_ratios
from .side_by_side import DEFAULT_SHAPES, IMPL_ORDER, TimingRow, time_normalizations
from .timer import best_medians, measure

__all__ = [
    "OPS",
    "IMPL_ORDER",
    "DEFAULT_SHAPES",
    "GRADING_SHAPES",
    "GRADING_THRESHOLD",
    "TimingPlan",
    "TimingRow",
    "pick_device",
    "describe_environment",
    "set_cpu_threads",
    "plan_timing",
    "bytes_moved",
    "make_inputs",
    "fused_kernel",
    "measure",
    "best_medians",
    "first_call_seconds",
    "time_normalizations",
    "speed_ratio",
    "rows_to_frame",
    "rows_by_key",
    "format_report",
    "summarize_ratios",
    "assert_matches_fused",
    "plot_bandwidth",
    "main",
]
