"""ps07's speed rule, measured in one process: a student's median over the reference's, alternately.

Absolute times mean nothing across machines, so ps07 grades a ratio on the same
device and inputs. Shape: :data:`GRADING_SHAPES` = ``(8192, 256)``: many short rows,
so an answer that loops over rows in Python pays 8192 iterations of interpreter
overhead and is clearly slower than the vectorised reference on a CPU and on a GPU,
while a vectorised answer stays within a generous ``<= 3x`` (:data:`GRADING_THRESHOLD`).

:func:`speed_ratio` is what the book (chapter 14) and a student's own notebook show
(``P.speed`` of the probe, when the package is installed). It is NOT what grading
trusts: a timer inside the student's process can be replaced by the student's code, so
the grader measures the same ratio with its own clock in two fresh sandboxed kernels
(``regnorm_lab/course/clock.py``), with the shape and limit of
``regnorm_lab/course/cases/ps07_gpu_timing.py`` (the same values as here).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ._checks import check_device, check_positive_int
from .devices import cpu_threads_if_cpu, pick_device, plan_timing
from .timer import best_medians, rotating_inputs

__all__ = ["GRADING_SHAPES", "GRADING_THRESHOLD", "speed_ratio"]

#: Shape used to grade ps07's speed: 8192 rows, so a per-row Python loop is slow everywhere.
GRADING_SHAPES: tuple[tuple[int, ...], ...] = ((8192, 256),)

#: A student's median may be at most this many times the reference's to earn the speed points.
GRADING_THRESHOLD: float = 3.0


def speed_ratio(
    student_fn: Callable[..., torch.Tensor],
    reference_fn: Callable[..., torch.Tensor],
    make_inputs: Callable[[], tuple[torch.Tensor, ...]],
    device: torch.device | str | None = None,
    *,
    min_run_time: float = 0.2,
    rounds: int = 2,
    cold_cache: bool | None = None,
    num_threads: int = 1,
) -> float:
    """Student median time / reference median time, both measured in this call.

    Used to grade ps07's speed: a ratio on the same device and inputs, not an absolute
    time, so it means the same on a laptop, a CPU grader and a GPU. The two functions
    are measured alternately (reference, student, student, reference, ...) over
    ``rounds`` and each keeps its lowest median (:func:`~regnorm_lab.timing.timer.best_medians`),
    so a burst of load on a shared machine does not fall on one side only. Recommended
    inputs: :data:`GRADING_SHAPES` and threshold :data:`GRADING_THRESHOLD`, e.g.::

        ratio = speed_ratio(layer_norm, regnorm_lab.layer_norm,
                            lambda: make_inputs("layer_norm", (8192, 256)))
        assert ratio <= GRADING_THRESHOLD

    Args:
        student_fn: the function graded.
        reference_fn: the reference, called with the same arguments.
        make_inputs: zero-argument callable returning the argument tuple (moved to ``device``).
        device: None picks CUDA when available.
        min_run_time: seconds per measurement.
        rounds: measurement rounds, at least 1.
        cold_cache: see :class:`~regnorm_lab.timing.devices.TimingPlan`.
        num_threads: CPU threads while timing.

    Returns:
        The ratio as a float (above 1: the student's function is slower).

    Raises:
        ValueError: a function or ``make_inputs`` is not callable, ``make_inputs`` does
            not return a tuple starting with a tensor, or a bad ``device``/``rounds``.

    Shape:
        Whatever the functions accept; the first argument is ``x``.
    """
    for name, fn in (("student_fn", student_fn), ("reference_fn", reference_fn), ("make_inputs", make_inputs)):
        if not callable(fn):
            raise ValueError(f"{name} must be callable, got {fn!r}")
    check_positive_int("rounds", rounds)
    dev = pick_device() if device is None else check_device("device", device)
    args = make_inputs()
    if not isinstance(args, tuple) or not args or not isinstance(args[0], torch.Tensor):
        raise ValueError("make_inputs must return a tuple of arguments whose first item is the input tensor x")
    args = tuple(a.to(dev) if isinstance(a, torch.Tensor) else a for a in args)
    plan = plan_timing(dev, cold_cache)
    ring = rotating_inputs(args, plan)
    with cpu_threads_if_cpu(dev, num_threads), torch.no_grad():
        best = best_medians({"reference": reference_fn, "student": student_fn}, args, plan,
                            rounds=rounds, min_run_time=min_run_time, ring=ring)
    return best["student"] / best["reference"]
