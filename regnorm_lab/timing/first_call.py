"""The one-off cost of a first call: a stopwatch on the very first call in a fresh Python process.

The timer (:mod:`regnorm_lab.timing.timer`) warms every call up before its clock
starts, because the first call is not the typical call; this module measures
exactly what the timer leaves out. :func:`first_call_seconds` starts a fresh
interpreter (``python -m regnorm_lab.timing.first_call``), as a new program would
start, with nothing initialised yet (on a GPU: no CUDA context, no loaded kernels),
and :func:`time_first_calls` times its first calls there.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

from ._checks import check_device, check_shape

__all__ = ["time_first_calls", "first_call_seconds"]


def time_first_calls(device: torch.device, n: int = 64, d: int = 256) -> dict[str, float]:
    """Seconds of this process's first ``F.layer_norm`` and ``regnorm_lab.layer_norm`` calls (a stopwatch).

    Meaningful only as the first thing a fresh process does (:func:`first_call_seconds`).
    A stopwatch around one call, on purpose: the timer would warm it up first. On
    CUDA the device is waited for before and after, since launches are asynchronous.

    Shape:
        ``x``: ``(n, d)``; weight, bias: ``(d,)``.
    """
    import regnorm_lab

    torch.set_num_threads(1)
    x = torch.randn(n, d, device=device)
    w, b = torch.ones(d, device=device), torch.zeros(d, device=device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    first = {}
    for name, fn in [("F.layer_norm", lambda: F.layer_norm(x, (d,), w, b)),
                     ("regnorm_lab.layer_norm", lambda: regnorm_lab.layer_norm(x, w, b))]:
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        first[name] = time.perf_counter() - t0
    return first


def first_call_seconds(device: torch.device | str, shape: tuple[int, int] = (64, 256)) -> dict[str, float]:
    """:func:`time_first_calls` run in a fresh Python process on ``device``.

    Args:
        device: ``cpu`` or ``cuda[:N]``.
        shape: ``(n, d)`` of the input.

    Returns:
        ``{"F.layer_norm": s, "regnorm_lab.layer_norm": s}``.

    Raises:
        ValueError: bad ``device`` or ``shape``.
        subprocess.CalledProcessError: the fresh process failed.

    Shape:
        ``x``: ``shape``; weight, bias: ``(shape[1],)``.
    """
    dev = check_device("device", device)
    dims = check_shape("shape", shape)
    if len(dims) != 2:
        raise ValueError(f"shape must be (n, d), got {shape!r}")
    out = subprocess.run([sys.executable, "-m", __name__, str(dev), str(dims[0]), str(dims[1])],
                         capture_output=True, text=True, check=True).stdout
    return {name: float(s) for name, s in json.loads(out).items()}


if __name__ == "__main__":
    print(json.dumps(time_first_calls(torch.device(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))))
