"""Print how far the numpy references are from torch's kernels: forward + backward, reference/torch ratios.

Usage (``make bench`` runs it with glibc heap settings that keep large buffers mapped)::

    .venv/bin/python benchmarks/reference_vs_torch.py                      # 4096 x 1024 float32, 1 thread
    .venv/bin/python benchmarks/reference_vs_torch.py --n 1024 --d 256 --rounds 5

Timed with the package's one timer (``regnorm_lab.timing.timer``); see
``regnorm_lab.timing.reference_vs_torch`` for what is timed. Speed is reported,
never asserted: the ratios are to read, not to test.
"""

from __future__ import annotations

import sys

from regnorm_lab.timing.reference_vs_torch import main

__all__: list[str] = []

if __name__ == "__main__":
    main(sys.argv[1:])
