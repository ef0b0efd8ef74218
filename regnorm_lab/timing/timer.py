"""The one timer of the package: ``torch.utils.benchmark.Timer`` after a warm-up, on cold inputs.

Every number the timing room reports (the chapter's table, ps07's speed ratio,
``make bench``) comes from :func:`measure`: untimed warm-up calls, a wait for
the device (CUDA launches are asynchronous), then ``Timer.blocked_autorange``
(or ``adaptive_autorange``), which synchronises CUDA around each timed block
itself. Each timed call reads the next input of a ring of copies sized by the
:class:`~regnorm_lab.timing.devices.TimingPlan`, so no input is re-read from a
cache. :func:`best_medians` measures several functions alternately, for ratios
that a burst of load on a shared machine cannot skew.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
from torch.utils import benchmark

from ._checks import check_positive_float, check_positive_int
from .devices import TimingPlan, synchronize

__all__ = ["rotating_inputs", "measure", "timed_calls", "best_medians"]


class _Rotating:
    """Callable that calls ``fn`` on the next argument tuple of a ring, so no input is re-read hot.

    It returns ``fn``'s fresh output (the Timer statement binds it), so every
    repetition really runs the operation; nothing is cached between calls.
    """

    def __init__(self, fn: Callable[..., object], ring: Sequence[tuple[object, ...]]) -> None:
        self.fn = fn
        self.ring = list(ring)
        self.i = 0

    def __call__(self) -> object:
        args = self.ring[self.i]
        self.i = (self.i + 1) % len(self.ring)
        return self.fn(*args)


def rotating_inputs(args: tuple[object, ...], plan: TimingPlan) -> list[tuple[object, ...]]:
    """Copies of ``args`` to rotate through, as many as ``plan.ring_size`` asks for ``x = args[0]``.

    Only ``x`` is copied: weight and bias are small and stay cached, as in a real
    model. Without a tensor first (a closure timed with ``args=()``) there is
    nothing to copy and the ring is ``[args]``.

    Shape:
        ``x``: any; every copy has its shape, dtype and device.
    """
    if not args or not isinstance(args[0], torch.Tensor):
        return [args]
    x, *rest = args
    k = plan.ring_size(x.numel() * x.element_size())
    return [(x if i == 0 else x.clone(), *rest) for i in range(k)]


def measure(
    fn: Callable[..., object],
    args: tuple[object, ...],
    plan: TimingPlan,
    *,
    min_run_time: float = 0.2,
    method: str = "blocked",
    warmup: int = 1,
    label: str = "",
    callback: Callable[[int, float], None] | None = None,
    ring: Sequence[tuple[object, ...]] | None = None,
    min_blocks: int = 5,
) -> benchmark.Measurement:
    """Time ``fn(*args)`` with ``torch.utils.benchmark.Timer`` after an untimed warm-up.

    The warm-up calls (allocation, lazy initialisation, kernel selection) are never
    timed; on CUDA the host then waits for them before the Timer starts its clock.
    The Timer runs at the caller's thread count (see
    :func:`~regnorm_lab.timing.devices.set_cpu_threads`), not its own default of one.

    Args:
        fn: the function to time; it must return its result (not write in place).
        args: its arguments, already on ``plan.device`` (``()`` for a closure).
        plan: from :func:`~regnorm_lab.timing.devices.plan_timing`.
        min_run_time: seconds of measurement (``blocked_autorange``), or the minimum
            before the IQR test (``adaptive_autorange``).
        method: ``"blocked"`` (``Timer.blocked_autorange``) or ``"adaptive"``
            (``Timer.adaptive_autorange``, stops when IQR/median < 0.1).
        warmup: untimed calls before timing, at least 1.
        label: description stored in the Measurement.
        callback: passed to the Timer; called as ``callback(number, seconds)`` after each
            timed block of ``number`` calls.
        ring: argument tuples to rotate through; built from ``args`` and ``plan`` when None.
        min_blocks: measure again (up to 3 more times) until at least this many timed
            blocks exist: one slow call can fill ``min_run_time`` alone, and a median and
            IQR of one sample say nothing about spread.

    Returns:
        The ``torch.utils.benchmark.Measurement`` (``.median``, ``.iqr`` per call, in s);
        ``metadata["timed_calls"]`` counts the calls made inside timed blocks.

    Raises:
        ValueError: bad ``min_run_time``, ``method``, ``warmup`` or ``min_blocks``.

    Shape:
        Whatever ``fn`` accepts.
    """
    min_run_time = check_positive_float("min_run_time", min_run_time)
    if method not in ("blocked", "adaptive"):
        raise ValueError(f"method must be 'blocked' or 'adaptive', got {method!r}")
    check_positive_int("warmup", warmup, " (the first call is never timed)")
    check_positive_int("min_blocks", min_blocks)
    runner = _Rotating(fn, ring if ring is not None else rotating_inputs(args, plan))
    for _ in range(warmup):
        runner()
    synchronize(plan)
    timer = benchmark.Timer(
        stmt="out = run()",
        globals={"run": runner},
        # Timer would otherwise force one thread; keep what the caller set (set_cpu_threads).
        num_threads=torch.get_num_threads(),
        description=label,
    )
    n_timed = 0

    def count(number: int, seconds: float) -> None:
        nonlocal n_timed
        n_timed += number
        if callback is not None:
            callback(number, seconds)

    parts: list[benchmark.Measurement] = []
    for _ in range(4):
        if method == "blocked":
            parts.append(timer.blocked_autorange(callback=count, min_run_time=min_run_time))
        else:
            parts.append(timer.adaptive_autorange(
                threshold=0.1, min_run_time=min_run_time, max_run_time=max(10 * min_run_time, 1.0), callback=count
            ))
        if sum(len(p.raw_times) for p in parts) >= min_blocks:
            break
    if len({p.number_per_run for p in parts}) == 1:
        number, raw = parts[0].number_per_run, [t for p in parts for t in p.raw_times]
    else:  # block sizes differed between attempts: keep per-call times, as Measurement.merge does
        number, raw = 1, [t for p in parts for t in p.times]
    return benchmark.Measurement(number_per_run=number, raw_times=raw, task_spec=parts[0].task_spec,
                                 metadata={"timed_calls": n_timed})


def timed_calls(m: benchmark.Measurement) -> int:
    """How many calls the timed blocks of ``m`` made (from :func:`measure`'s metadata when present).

    Shape:
        Not applicable.
    """
    meta = getattr(m, "metadata", None) or {}
    return int(meta.get("timed_calls", m.number_per_run * len(m.raw_times)))


def best_medians(
    fns: Mapping[str, Callable[..., object]],
    args: tuple[object, ...],
    plan: TimingPlan,
    *,
    rounds: int = 2,
    min_run_time: float = 0.2,
    ring: Sequence[tuple[object, ...]] | None = None,
) -> dict[str, float]:
    """The lowest median per call of each function over ``rounds`` alternating rounds.

    Round ``r`` measures the functions in their given order when ``r`` is even and in
    reverse order when it is odd, and each function keeps its lowest median: a burst
    of load on a shared machine then slows one round of every side instead of skewing
    a ratio. Each measurement is one :func:`measure` labelled with the function's name.

    Args:
        fns: name -> function, all called with the same arguments.
        args: the arguments (``()`` for closures).
        plan: the timing plan.
        rounds: alternating rounds, at least 1.
        min_run_time: seconds per measurement.
        ring: argument tuples to rotate through, shared by all functions; built once
            from ``args`` and ``plan`` when None.

    Returns:
        name -> seconds, in the order of ``fns``.

    Raises:
        ValueError: ``fns`` is empty or holds a non-callable, bad ``rounds`` or ``min_run_time``.

    Shape:
        Whatever the functions accept.
    """
    if not fns:
        raise ValueError("fns must name at least one function")
    for name, fn in fns.items():
        if not callable(fn):
            raise ValueError(f"fns[{name!r}] must be callable, got {fn!r}")
    check_positive_int("rounds", rounds)
    min_run_time = check_positive_float("min_run_time", min_run_time)
    ring = ring if ring is not None else rotating_inputs(args, plan)
    best = {name: float("inf") for name in fns}
    names = list(fns)
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            m = measure(fns[name], args, plan, min_run_time=min_run_time, label=name, ring=ring)
            best[name] = min(best[name], float(m.median))
    return best

