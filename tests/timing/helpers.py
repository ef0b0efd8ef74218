"""What the timing tests share: composite norms written here, a call counter, fake measurements.

No timing test asserts on absolute or relative speed: that is flaky on a shared machine.
Arithmetic is checked against hand computations, with the timer replaced by fake
measurements of known medians where exact numbers are needed.
"""

from __future__ import annotations

import types

import torch

__all__ = ["FAST", "MiB", "IMPLS", "_ln", "_rms", "_Counter", "_fake_measurement", "fake_rows"]

FAST = {"min_run_time": 0.003, "cold_cache": False}
MiB = 2**20


# Composite implementations written here (not imported from regnorm_lab), so these tests
# check the timing machinery independently of the references' state.
def _ln(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + 1e-5) * w + b


def _rms(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return x / torch.sqrt((x * x).mean(-1, keepdim=True) + 1e-6) * w


IMPLS = {"layer_norm": _ln, "rms_norm": _rms}


class _Counter:
    """Wraps a function and records every call (and the identity of its first argument)."""

    def __init__(self, fn):
        self.fn = fn
        self.calls = 0
        self.first_args: list[int] = []
        self.threads: list[int] = []

    def __call__(self, *args):
        self.calls += 1
        self.first_args.append(id(args[0]) if args else None)
        self.threads.append(torch.get_num_threads())
        return self.fn(*args)


def _fake_measurement(median: float, iqr: float = 0.0, number: int = 10, blocks: int = 3):
    return types.SimpleNamespace(median=median, iqr=iqr, number_per_run=number, raw_times=[median * number] * blocks)


def fake_rows(monkeypatch, student: dict | None = None) -> list:
    """Rows of a run whose timer is replaced by a fake of median 1 ms: two shapes, both ops.

    Shape:
        ``x``: (8, 16) and (4, 32), float32 on the CPU.
    """
    import regnorm_lab.timing as gt
    from regnorm_lab.timing import side_by_side

    monkeypatch.setattr(side_by_side, "measure", lambda fn, args, plan, **kw: _fake_measurement(1e-3))
    return gt.time_normalizations([(8, 16), (4, 32)], ["float32"], "cpu", impls=IMPLS,
                                  student={"rms_norm": _rms} if student is None else student, **FAST)
