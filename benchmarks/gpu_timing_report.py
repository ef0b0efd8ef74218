"""Print the normalization timing report for this machine (GPU when there is one) and save its figure.

Usage::

    .venv/bin/python benchmarks/gpu_timing_report.py                 # default shapes, float32 (+ bfloat16 on CUDA)
    .venv/bin/python benchmarks/gpu_timing_report.py --png bw.png --shapes 4096x1024 --min-run-time 0.5

All options are those of ``python -m regnorm_lab.timing`` (see ``--help``). Speed is
reported, never asserted: the numbers are ratios and bandwidths to read, not to test.
"""

from __future__ import annotations

import sys

from regnorm_lab.timing import main

__all__: list[str] = []

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
