"""Honest timing of layer norm and RMS norm on a GPU (or, failing that, the CPU) (ps07, chapter 14).

Normalization layers do a handful of arithmetic operations per element, so their
speed is set by how many bytes they move through memory, not by FLOPs. This
module times, side by side and in one run:

* ``student``   - an implementation passed in by a caller (the ps07 notebook);
* ``reference`` - the course's composite implementations (``regnorm_lab.layer_norm``,
  ``regnorm_lab.rms_norm``: plain tensor operations, several kernels each);
* ``fused``     - the framework kernels ``F.layer_norm`` and ``F.rms_norm``;
* ``copy``      - ``x.clone()`` of the same tensor: the memory-bandwidth ceiling
  that no normalization can beat, since it must read ``x`` and write its output too.

Every measurement uses :class:`torch.utils.benchmark.Timer` (it synchronises CUDA
around each timed block itself), after an untimed warm-up call, and reports the
median and interquartile range (IQR) of the per-call times.

Bytes moved (the *ideal* traffic, i.e. what a perfect single-pass kernel must move;
``M`` = number of elements of ``x``, ``D`` = its last dimension, ``s`` = bytes per element):

* layer norm: ``(2*M + 2*D) * s``  (read ``x``, ``weight``, ``bias``; write the output)
* RMS norm:   ``(2*M + D) * s``    (read ``x``, ``weight``; write the output)
* copy:       ``2*M * s``          (read ``x``; write the clone)

A composite implementation really moves more (its intermediates go through memory),
which is exactly why its achieved "effective" GB/s, computed from the ideal count, is low.

Caches: a tensor that fits in the GPU's L2 (or the CPU's last-level cache) would be
served from the cache on every repetition and report a bandwidth above what memory can
deliver. With ``cold_cache=True`` (the default) each timed call reads the next copy
of ``x`` from a ring of copies whose total size is at least twice the cache, so the
``x`` a call reads was evicted long before it comes round again (see :class:`TimingPlan`).

Recommended grading shape for :func:`speed_ratio`: :data:`GRADING_SHAPES` = ``(8192, 256)``:
many short rows, so an answer that loops over rows in Python pays 8192 iterations of
interpreter overhead and is clearly slower than the vectorised reference on a CPU and on
a GPU, while a vectorised answer stays within a generous ``<= 3x`` threshold.

Run ``python -m regnorm_lab.gpu_timing`` for a report on this machine.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import platform
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils import benchmark

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
    "time_normalizations",
    "speed_ratio",
    "rows_to_frame",
    "format_report",
    "summarize_ratios",
    "plot_bandwidth",
    "main",
]

#: The operations this module knows how to time, with the number of per-feature
#: parameter vectors each reads (layer norm: weight and bias; RMS norm: weight).
OPS: dict[str, int] = {"layer_norm": 2, "rms_norm": 1}

#: The order rows appear in for each (op, shape, dtype).
IMPL_ORDER: tuple[str, ...] = ("student", "reference", "fused", "copy")

#: Shapes of the default report: a transformer-like activation (4096 tokens x 1024
#: features, 16 MiB in float32) and the many-short-rows grading shape.
DEFAULT_SHAPES: tuple[tuple[int, ...], ...] = ((4096, 1024), (8192, 256))

#: Shape used to grade ps07's speed: 8192 rows, so a per-row Python loop is slow everywhere.
GRADING_SHAPES: tuple[tuple[int, ...], ...] = ((8192, 256),)

#: A student's median may be at most this many times the reference's to earn the speed points.
GRADING_THRESHOLD: float = 3.0

# Default eps of each op, matching the exercise contract and torch.
_EPS: dict[str, float] = {"layer_norm": 1e-5, "rms_norm": 1e-6}

# Half-precision types are only timed on CUDA: on a CPU they are emulated (slow and
# not what anyone would deploy), so their numbers would teach the wrong lesson.
_CUDA_ONLY_DTYPES = (torch.bfloat16, torch.float16)
_FLOAT_DTYPES = (torch.float32, torch.float64, torch.bfloat16, torch.float16)

# The ring of cold-cache inputs holds at most this many copies; for tiny tensors a
# full ring would mean thousands of copies for no gain (such shapes are launch-bound anyway).
_MAX_RING = 4096

# Used when the cache size cannot be read: larger than the L2 of current GPUs
# (A100: 40 MiB, H100: 50 MiB) so the ring still defeats the cache.
_FALLBACK_CACHE_BYTES = 64 * 2**20

_MiB = 2**20


# --------------------------------------------------------------------------- devices


def pick_device(prefer: str | torch.device | None = None) -> torch.device:
    """Choose the device to time on: CUDA when available, otherwise the CPU.

    Args:
        prefer: ``None`` (CUDA if available, else CPU), ``"cpu"``, ``"cuda"`` or
            ``"cuda:N"``. Asking for CUDA on a machine without it is an error rather
            than a silent fallback, so a report never claims a GPU it did not use.

    Returns:
        The chosen ``torch.device``.

    Raises:
        ValueError: ``prefer`` is not a device string, or asks for CUDA that is absent.

    Shape:
        Not applicable (no tensors).
    """
    if prefer is None:
        return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    try:
        dev = torch.device(prefer)
    except (RuntimeError, TypeError):
        raise ValueError(f"prefer must be None, 'cpu' or 'cuda[:N]', got {prefer!r}") from None
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"prefer must be None, 'cpu' or 'cuda[:N]', got {prefer!r}")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"prefer={prefer!r} asks for CUDA, but torch.cuda.is_available() is False")
    return dev


def _cpu_name() -> str:
    """The CPU model from /proc/cpuinfo (Linux), else what :mod:`platform` knows."""
    cpuinfo = Path("/proc/cpuinfo")
    try:
        for line in cpuinfo.read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def _cpu_cache() -> tuple[int, str]:
    """Size and name of the CPU's last-level cache, read from sysfs (Linux)."""
    best = (0, 0)  # (level, bytes)
    for index in sorted(Path("/sys/devices/system/cpu/cpu0/cache").glob("index*")):
        try:
            level = int((index / "level").read_text())
            kind = (index / "type").read_text().strip()
            size = (index / "size").read_text().strip().upper()
        except (OSError, ValueError):
            continue
        if kind == "Instruction":
            continue
        mult = {"K": 2**10, "M": 2**20, "G": 2**30}.get(size[-1:], 1)
        try:
            nbytes = int(size.rstrip("KMG")) * mult
        except ValueError:
            continue
        if level > best[0]:
            best = (level, nbytes)
    if best[1] == 0:
        return _FALLBACK_CACHE_BYTES, "last-level cache (size unknown, assumed)"
    return best[1], f"L{best[0]} cache"


def _cuda_l2(device: torch.device) -> tuple[int, str]:
    """The GPU's L2 size from its properties (``L2_cache_size``, in bytes) when torch exposes it."""
    props = torch.cuda.get_device_properties(device)
    nbytes = int(getattr(props, "L2_cache_size", 0) or 0)
    if nbytes <= 0:
        return _FALLBACK_CACHE_BYTES, "L2 cache (size unknown, assumed)"
    return nbytes, "L2 cache"


@dataclass(frozen=True)
class TimingPlan:
    """How to time on one device: whether to synchronise and how to keep caches cold.

    Attributes:
        device: where the tensors live.
        synchronize: CUDA launches are asynchronous, so the host must wait for the
            device before reading a clock (``Timer`` does this around every block;
            :func:`measure` also waits after the warm-up). False on the CPU.
        cache_bytes: size of the cache that could serve repeated reads (GPU L2, CPU LLC).
        cache_name: which cache that is, for reports.
        cold_cache: rotate through copies of the input so repeated calls miss the cache.

    Shape:
        Not applicable (no tensors).
    """

    device: torch.device
    synchronize: bool
    cache_bytes: int
    cache_name: str
    cold_cache: bool = True

    def ring_size(self, input_bytes: int) -> int:
        """How many copies of an input of ``input_bytes`` to rotate through.

        Enough copies that they total at least twice the cache (so an input was
        evicted before it is read again), capped at ``_MAX_RING``; 1 when caches stay hot.
        """
        if not self.cold_cache or input_bytes <= 0:
            return 1
        return max(1, min(_MAX_RING, 1 + math.ceil(2 * self.cache_bytes / input_bytes)))

    def cache_note(self, input_bytes: int) -> str:
        """One line saying how caches were handled for an input of ``input_bytes``."""
        size = f"{self.cache_name} {self.cache_bytes / _MiB:.1f} MiB"
        if not self.cold_cache:
            return f"hot cache: every call re-reads the same input ({size})"
        k = self.ring_size(input_bytes)
        total = k * input_bytes
        verdict = "exceeds 2x" if total >= 2 * self.cache_bytes else "capped below 2x"
        return f"cold cache: {k} rotating input copies ({total / _MiB:.1f} MiB) {verdict} the {size}"


def plan_timing(device: torch.device | str, cold_cache: bool | None = None) -> TimingPlan:
    """Decide synchronisation and cache handling for ``device``.

    Args:
        device: ``cpu`` or ``cuda[:N]``.
        cold_cache: rotate inputs through a ring larger than the cache; ``None`` means True.

    Returns:
        A :class:`TimingPlan`.

    Raises:
        ValueError: ``device`` is not a CPU or CUDA device.

    Shape:
        Not applicable (no tensors).
    """
    dev = _check_device("device", device)
    cold = True if cold_cache is None else bool(cold_cache)
    if dev.type == "cuda":
        nbytes, name = _cuda_l2(dev)
        return TimingPlan(dev, synchronize=True, cache_bytes=nbytes, cache_name=name, cold_cache=cold)
    nbytes, name = _cpu_cache()
    return TimingPlan(dev, synchronize=False, cache_bytes=nbytes, cache_name=name, cold_cache=cold)


def _synchronize(plan: TimingPlan) -> None:
    """Wait for queued device work (CUDA only): otherwise warm-up kernels leak into the first timing."""
    if plan.synchronize:
        torch.cuda.synchronize(plan.device)


def describe_environment(
    device: torch.device | str, dtypes: Sequence[torch.dtype | str] = (torch.float32,), plan: TimingPlan | None = None
) -> dict[str, Any]:
    """What a timing was measured on, for every report and figure.

    Args:
        device: the device timed.
        dtypes: the dtypes timed.
        plan: the timing plan (for the cache line); built from ``device`` when None.

    Returns:
        A dict of strings and ints: ``device``, ``device_type``, ``device_name`` (GPU name
        or CPU model), ``torch_version``, ``cuda_version`` (None on CPU builds),
        ``python_version``, ``platform``, ``num_threads``, ``dtypes``, ``cache``, ``timer``.

    Shape:
        Not applicable (no tensors).
    """
    dev = _check_device("device", device)
    plan = plan or plan_timing(dev)
    if dev.type == "cuda":
        name = torch.cuda.get_device_name(dev)
        timer = "torch.utils.benchmark.Timer (synchronises CUDA around each timed block)"
    else:
        name = _cpu_name()
        timer = "torch.utils.benchmark.Timer (CPU: no device queue to synchronise)"
    cache = f"{plan.cache_name} {plan.cache_bytes / _MiB:.1f} MiB; " + (
        "inputs rotate through copies totalling >= 2x the cache" if plan.cold_cache else "hot cache (same input reused)"
    )
    return {
        "device": str(dev),
        "device_type": dev.type,
        "device_name": name,
        "torch_version": torch.__version__,
        "cuda_version": torch.version.cuda,
        "python_version": platform.python_version(),
        "platform": platform.platform(),
        "num_threads": torch.get_num_threads(),
        "dtypes": ", ".join(_dtype_name(_check_dtype("dtypes", d)) for d in dtypes),
        "cache": cache,
        "timer": timer,
    }


@contextlib.contextmanager
def set_cpu_threads(n: int = 1) -> Iterator[int]:
    """Run the block with ``torch.set_num_threads(n)``, restoring the previous value after.

    CPU benchmarks run at one thread by default: on a shared machine the other threads
    are busy, and one thread gives numbers that are comparable from run to run.

    Args:
        n: number of intra-op threads, at least 1.

    Yields:
        ``n``.

    Raises:
        ValueError: ``n`` is not a positive integer.

    Shape:
        Not applicable (no tensors).
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield n
    finally:
        torch.set_num_threads(previous)


# --------------------------------------------------------------------------- validation


def _check_device(name: str, device: torch.device | str) -> torch.device:
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"{name} must be a torch.device or device string, got {device!r}") from None
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"{name} must be a CPU or CUDA device, got {device!r}")
    return dev


def _check_shape(name: str, shape: object) -> tuple[int, ...]:
    if isinstance(shape, (str, bytes)) or not isinstance(shape, (tuple, list, torch.Size)):
        raise ValueError(f"{name} must hold shapes as tuples of positive ints, got {shape!r}")
    dims = tuple(shape)
    if not dims or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in dims):
        raise ValueError(f"{name} must hold shapes as tuples of positive ints, got {shape!r}")
    return dims


def _check_shapes(name: str, shapes: object) -> list[tuple[int, ...]]:
    if isinstance(shapes, (tuple, list)) and shapes and all(isinstance(d, int) for d in shapes):
        shapes = [shapes]  # a single shape such as (4096, 1024)
    if isinstance(shapes, (str, bytes)) or not isinstance(shapes, (tuple, list)) or not shapes:
        raise ValueError(f"{name} must be a non-empty sequence of shapes, got {shapes!r}")
    return [_check_shape(name, s) for s in shapes]


def _check_dtype(name: str, dtype: object) -> torch.dtype:
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype, dtype)
    if not isinstance(dtype, torch.dtype) or dtype not in _FLOAT_DTYPES:
        raise ValueError(f"{name} must hold floating dtypes (float32, float64, bfloat16, float16), got {dtype!r}")
    return dtype


def _check_dtypes(name: str, dtypes: object) -> list[torch.dtype]:
    if isinstance(dtypes, (torch.dtype, str)):
        dtypes = [dtypes]
    if not isinstance(dtypes, (tuple, list)) or not dtypes:
        raise ValueError(f"{name} must be a non-empty sequence of dtypes, got {dtypes!r}")
    return [_check_dtype(name, d) for d in dtypes]


def _check_op_map(name: str, mapping: object, allowed: Sequence[str]) -> dict[str, Callable[..., torch.Tensor]]:
    if not isinstance(mapping, dict):
        raise ValueError(f"{name} must be a dict mapping op names to callables, got {type(mapping).__name__}")
    for key, fn in mapping.items():
        if key not in allowed:
            raise ValueError(f"{name} has unknown op {key!r}; expected one of {sorted(allowed)}")
        if not callable(fn):
            raise ValueError(f"{name}[{key!r}] must be callable, got {fn!r}")
    return dict(mapping)


def _check_positive_float(name: str, value: object) -> float:
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a positive number, got {value!r}") from None
    if not v > 0 or math.isinf(v):
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return v


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


# --------------------------------------------------------------------------- bytes and inputs


def bytes_moved(op: str, shape: Sequence[int], dtype: torch.dtype | str = torch.float32) -> int:
    """Ideal memory traffic of one call: what a perfect single-pass kernel reads and writes.

    ``M`` = elements of ``x``, ``D`` = ``shape[-1]``, ``s`` = bytes per element:
    layer norm ``(2M + 2D) s``, RMS norm ``(2M + D) s``, copy ``2M s``.

    Args:
        op: ``"layer_norm"``, ``"rms_norm"`` or ``"copy"``.
        shape: shape of ``x``.
        dtype: dtype of ``x`` (weight and bias share it).

    Returns:
        Bytes, an int.

    Raises:
        ValueError: unknown ``op``, bad ``shape`` or ``dtype``.

    Shape:
        ``x``: ``shape``; weight/bias: ``(shape[-1],)``.
    """
    dims = _check_shape("shape", shape)
    dt = _check_dtype("dtype", dtype)
    if op != "copy" and op not in OPS:
        raise ValueError(f"op must be one of {sorted([*OPS, 'copy'])}, got {op!r}")
    m = math.prod(dims)
    d = dims[-1]
    s = torch.empty((), dtype=dt).element_size()
    n_params = 0 if op == "copy" else OPS[op]
    return (2 * m + n_params * d) * s


def make_inputs(
    op: str,
    shape: Sequence[int],
    dtype: torch.dtype | str = torch.float32,
    device: torch.device | str = "cpu",
    seed: int = 0,
) -> tuple[torch.Tensor, ...]:
    """Arguments for one call of ``op``: ``(x, weight, bias)`` or ``(x, weight)``.

    Drawn on the CPU from a private ``torch.Generator`` (the same numbers on every
    device), then moved; the weight is near 1 and the bias near 0, as after training.

    Args:
        op: ``"layer_norm"`` or ``"rms_norm"``.
        shape: shape of ``x``; normalisation runs over ``shape[-1]``.
        dtype: floating dtype.
        device: where the tensors go.
        seed: seed of the private generator.

    Returns:
        A tuple of tensors.

    Raises:
        ValueError: unknown ``op``, bad ``shape``, ``dtype`` or ``device``.

    Shape:
        ``x``: ``shape``; ``weight``, ``bias``: ``(shape[-1],)``.
    """
    if op not in OPS:
        raise ValueError(f"op must be one of {sorted(OPS)}, got {op!r}")
    dims = _check_shape("shape", shape)
    dt = _check_dtype("dtype", dtype)
    dev = _check_device("device", device)
    gen = torch.Generator().manual_seed(int(seed))
    d = dims[-1]
    x = torch.randn(dims, generator=gen)
    weight = 1.0 + 0.1 * torch.randn(d, generator=gen)
    args = [x, weight]
    if op == "layer_norm":
        args.append(0.1 * torch.randn(d, generator=gen))
    return tuple(t.to(device=dev, dtype=dt) for t in args)


def fused_kernel(op: str, eps: float | None = None) -> Callable[..., torch.Tensor]:
    """The framework's kernel for ``op``, with the same call signature as the references.

    Args:
        op: ``"layer_norm"`` (``F.layer_norm``) or ``"rms_norm"`` (``F.rms_norm``).
        eps: defaults to the contract's (1e-5 for layer norm, 1e-6 for RMS norm).

    Returns:
        ``fn(x, weight, bias)`` or ``fn(x, weight)``.

    Raises:
        ValueError: unknown ``op``.

    Shape:
        ``x``: ``(*, D)``; weight, bias: ``(D,)``; output: like ``x``.
    """
    if op not in OPS:
        raise ValueError(f"op must be one of {sorted(OPS)}, got {op!r}")
    e = _EPS[op] if eps is None else eps
    if op == "layer_norm":

        def fused_layer_norm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
            return F.layer_norm(x, (x.shape[-1],), weight, bias, e)

        return fused_layer_norm

    def fused_rms_norm(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        return F.rms_norm(x, (x.shape[-1],), weight, e)

    return fused_rms_norm


def _copy(x: torch.Tensor, *_: torch.Tensor) -> torch.Tensor:
    # clone, not copy_ into a fixed buffer: every normalization allocates its output too.
    return x.clone()


# --------------------------------------------------------------------------- measuring


class _Rotating:
    """Callable that calls ``fn`` on the next argument tuple of a ring, so no input is re-read hot.

    It returns ``fn``'s fresh output (the Timer statement binds it), so every
    repetition really runs the operation; nothing is cached between calls.
    """

    def __init__(self, fn: Callable[..., torch.Tensor], ring: Sequence[tuple[torch.Tensor, ...]]) -> None:
        self.fn = fn
        self.ring = list(ring)
        self.i = 0

    def __call__(self) -> torch.Tensor:
        args = self.ring[self.i]
        self.i = (self.i + 1) % len(self.ring)
        return self.fn(*args)


def _ring(args: tuple[torch.Tensor, ...], plan: TimingPlan) -> list[tuple[torch.Tensor, ...]]:
    """Copies of ``args`` (only ``x`` is copied: weight and bias are small and stay cached, as in a real model)."""
    x, *rest = args
    k = plan.ring_size(x.numel() * x.element_size())
    return [(x if i == 0 else x.clone(), *rest) for i in range(k)]


def measure(
    fn: Callable[..., torch.Tensor],
    args: tuple[torch.Tensor, ...],
    plan: TimingPlan,
    *,
    min_run_time: float = 0.2,
    method: str = "blocked",
    warmup: int = 1,
    label: str = "",
    callback: Callable[[int, float], None] | None = None,
    ring: Sequence[tuple[torch.Tensor, ...]] | None = None,
    min_blocks: int = 5,
) -> benchmark.Measurement:
    """Time ``fn(*args)`` with ``torch.utils.benchmark.Timer`` after an untimed warm-up.

    The warm-up calls (allocation, lazy initialisation, kernel selection) are never
    timed; on CUDA the host then waits for them before the Timer starts its clock.

    Args:
        fn: the function to time; it must return its result (not write in place).
        args: its arguments, already on ``plan.device``.
        plan: from :func:`plan_timing`.
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
        ValueError: bad ``min_run_time``, ``method`` or ``warmup``.

    Shape:
        Whatever ``fn`` accepts.
    """
    min_run_time = _check_positive_float("min_run_time", min_run_time)
    if method not in ("blocked", "adaptive"):
        raise ValueError(f"method must be 'blocked' or 'adaptive', got {method!r}")
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 1:
        raise ValueError(f"warmup must be an integer >= 1 (the first call is never timed), got {warmup!r}")
    if isinstance(min_blocks, bool) or not isinstance(min_blocks, int) or min_blocks < 1:
        raise ValueError(f"min_blocks must be an integer >= 1, got {min_blocks!r}")
    runner = _Rotating(fn, ring if ring is not None else _ring(args, plan))
    for _ in range(warmup):
        runner()
    _synchronize(plan)
    timer = benchmark.Timer(
        stmt="out = run()",
        globals={"run": runner},
        # Timer would otherwise force one thread; keep what the caller set (set_cpu_threads).
        num_threads=torch.get_num_threads(),
        description=label,
    )
    timed_calls = 0

    def count(number: int, seconds: float) -> None:
        nonlocal timed_calls
        timed_calls += number
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
                                 metadata={"timed_calls": timed_calls})


# --------------------------------------------------------------------------- the report


@dataclass
class TimingRow:
    """One implementation of one op at one shape and dtype.

    Attributes:
        op: ``"layer_norm"`` or ``"rms_norm"``.
        impl: ``"student"``, ``"reference"``, ``"fused"`` or ``"copy"``.
        shape: shape of ``x``.
        dtype: e.g. ``"float32"``.
        device: e.g. ``"cpu"``, ``"cuda:0"``.
        median_s: median seconds per call.
        iqr_s: interquartile range of seconds per call.
        ratio_to_fused: ``median_s`` / the fused kernel's ``median_s`` (same op, shape, dtype).
        bytes_moved: ideal bytes per call (:func:`bytes_moved`).
        gbps: ``bytes_moved / median_s / 1e9``: achieved (effective) bandwidth in GB/s.
        pct_of_copy: ``100 * gbps / copy_gbps`` with the copy of the same tensor timed in the same run.
        n_timed_calls: how many calls the timed blocks made.
        max_abs_err: largest ``|out - fused(out)|`` (0 for fused; NaN for the copy).
        cache: how caches were handled.

    Shape:
        ``shape`` is ``x``'s shape.
    """

    op: str
    impl: str
    shape: tuple[int, ...]
    dtype: str
    device: str
    median_s: float
    iqr_s: float
    ratio_to_fused: float
    bytes_moved: int
    gbps: float
    pct_of_copy: float
    n_timed_calls: int
    max_abs_err: float = float("nan")
    cache: str = field(default="", repr=False)


def _n_calls(m: benchmark.Measurement) -> int:
    meta = getattr(m, "metadata", None) or {}
    return int(meta.get("timed_calls", m.number_per_run * len(m.raw_times)))


def _max_abs_err(fn: Callable[..., torch.Tensor], ref: Callable[..., torch.Tensor], args: tuple[torch.Tensor, ...]) -> float:
    with torch.no_grad():
        out = fn(*args)
        want = ref(*args)
    if not isinstance(out, torch.Tensor) or out.shape != want.shape:
        return float("inf")
    return float((out.float() - want.float()).abs().max())


def time_normalizations(
    shapes: Sequence[Sequence[int]] = DEFAULT_SHAPES,
    dtypes: Sequence[torch.dtype | str] = (torch.float32, torch.bfloat16),
    device: torch.device | str | None = None,
    impls: dict[str, Callable[..., torch.Tensor]] | None = None,
    student: dict[str, Callable[..., torch.Tensor]] | None = None,
    *,
    min_run_time: float = 0.2,
    method: str = "blocked",
    cold_cache: bool | None = None,
    num_threads: int = 1,
    seed: int = 0,
    progress: bool = False,
) -> list[TimingRow]:
    """Time student, reference, fused kernel and copy side by side for each shape and dtype.

    For each shape and dtype the copy is timed once and shown in each op's group;
    then for each op the fused kernel, the reference and (when given) the student's
    function, all on the same inputs. float32 runs everywhere; bfloat16 and float16
    are skipped on the CPU (no rows), where they are emulated rather than native.

    Args:
        shapes: shapes of ``x`` (a single shape is accepted too).
        dtypes: floating dtypes.
        device: None picks CUDA when available (:func:`pick_device`).
        impls: op name -> reference implementation; the keys choose the ops. None means
            ``{"layer_norm": regnorm_lab.layer_norm, "rms_norm": regnorm_lab.rms_norm}``.
        student: op name -> the student's implementation (keys among ``impls``'s).
        min_run_time: seconds per measurement; small values (0.01) for tests.
        method: ``"blocked"`` or ``"adaptive"`` (see :func:`measure`).
        cold_cache: see :class:`TimingPlan`; None means True.
        num_threads: CPU threads while timing (restored afterwards).
        seed: seed for the inputs.
        progress: show a tqdm progress bar.

    Returns:
        A list of :class:`TimingRow`, grouped by shape, dtype, op, in :data:`IMPL_ORDER`.

    Raises:
        ValueError: bad ``shapes``, ``dtypes``, ``device``, ``impls``, ``student``,
            ``min_run_time``, ``method`` or ``num_threads``.

    Shape:
        ``x``: each of ``shapes``, normalised over its last dimension.
    """
    dims_list = _check_shapes("shapes", shapes)
    dtype_list = _check_dtypes("dtypes", dtypes)
    dev = pick_device() if device is None else _check_device("device", device)
    if impls is None:
        from .layer_instance_norm import layer_norm
        from .rms_norm import rms_norm

        impls = {"layer_norm": layer_norm, "rms_norm": rms_norm}
    impls = _check_op_map("impls", impls, list(OPS))
    if not impls:
        raise ValueError("impls must name at least one op")
    student = _check_op_map("student", student or {}, list(impls))
    min_run_time = _check_positive_float("min_run_time", min_run_time)
    if method not in ("blocked", "adaptive"):
        raise ValueError(f"method must be 'blocked' or 'adaptive', got {method!r}")
    plan = plan_timing(dev, cold_cache)
    if dev.type == "cpu":
        dtype_list = [d for d in dtype_list if d not in _CUDA_ONLY_DTYPES]

    from tqdm.auto import tqdm

    jobs = [(dims, dt) for dims in dims_list for dt in dtype_list]
    rows: list[TimingRow] = []
    threads = set_cpu_threads(num_threads) if dev.type == "cpu" else contextlib.nullcontext()
    with threads, torch.no_grad():
        for dims, dt in tqdm(jobs, disable=not progress, desc="timing"):
            rows.extend(_time_one_shape(dims, dt, plan, impls, student, min_run_time, method, seed))
    return rows


def _time_one_shape(
    dims: tuple[int, ...],
    dt: torch.dtype,
    plan: TimingPlan,
    impls: dict[str, Callable[..., torch.Tensor]],
    student: dict[str, Callable[..., torch.Tensor]],
    min_run_time: float,
    method: str,
    seed: int,
) -> list[TimingRow]:
    """All rows for one (shape, dtype): copy once, then fused, reference, student per op."""
    dev = plan.device
    first_op = next(iter(impls))
    base_args = make_inputs(first_op, dims, dt, dev, seed)
    x_bytes = base_args[0].numel() * base_args[0].element_size()
    # One ring of x copies shared by every implementation: they all read the same data.
    xs = [x for x, *_ in _ring(base_args, plan)]
    cache = plan.cache_note(x_bytes)
    name = f"{'x'.join(map(str, dims))} {_dtype_name(dt)}"

    copy_m = measure(_copy, (xs[0],), plan, min_run_time=min_run_time, method=method, label=f"copy {name}",
                     ring=[(x,) for x in xs])
    copy_bytes = bytes_moved("copy", dims, dt)
    copy_gbps = copy_bytes / copy_m.median / 1e9

    rows: list[TimingRow] = []
    for op, ref_fn in impls.items():
        args = make_inputs(op, dims, dt, dev, seed)
        params = args[1:]
        ring = [(x, *params) for x in xs]
        fused = fused_kernel(op)
        candidates: list[tuple[str, Callable[..., torch.Tensor]]] = [("fused", fused), ("reference", ref_fn)]
        if op in student:
            candidates.append(("student", student[op]))
        measured: dict[str, tuple[benchmark.Measurement, float]] = {}
        for impl, fn in candidates:
            m = measure(fn, args, plan, min_run_time=min_run_time, method=method, label=f"{op} {impl} {name}", ring=ring)
            err = 0.0 if impl == "fused" else _max_abs_err(fn, fused, args)
            measured[impl] = (m, err)
        fused_median = measured["fused"][0].median
        nbytes = bytes_moved(op, dims, dt)
        for impl in IMPL_ORDER:
            if impl == "copy":
                m, err, b = copy_m, float("nan"), copy_bytes
            elif impl in measured:
                (m, err), b = measured[impl], nbytes
            else:
                continue
            gbps = b / m.median / 1e9
            rows.append(
                TimingRow(
                    op=op,
                    impl=impl,
                    shape=dims,
                    dtype=_dtype_name(dt),
                    device=str(dev),
                    median_s=float(m.median),
                    iqr_s=float(m.iqr),
                    ratio_to_fused=float(m.median / fused_median),
                    bytes_moved=int(b),
                    gbps=float(gbps),
                    pct_of_copy=float(100.0 * gbps / copy_gbps),
                    n_timed_calls=_n_calls(m),
                    max_abs_err=err,
                    cache=cache,
                )
            )
    return rows


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
    ``rounds`` and each keeps its lowest median, so a burst of load on a shared
    machine does not fall on one side only. Recommended inputs: :data:`GRADING_SHAPES`
    and threshold :data:`GRADING_THRESHOLD`, e.g.::

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
        cold_cache: see :class:`TimingPlan`.
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
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise ValueError(f"rounds must be an integer >= 1, got {rounds!r}")
    dev = pick_device() if device is None else _check_device("device", device)
    args = make_inputs()
    if not isinstance(args, tuple) or not args or not isinstance(args[0], torch.Tensor):
        raise ValueError("make_inputs must return a tuple of arguments whose first item is the input tensor x")
    args = tuple(a.to(dev) if isinstance(a, torch.Tensor) else a for a in args)
    plan = plan_timing(dev, cold_cache)
    ring = _ring(args, plan)
    best = {"student": math.inf, "reference": math.inf}
    fns = {"student": student_fn, "reference": reference_fn}
    threads = set_cpu_threads(num_threads) if dev.type == "cpu" else contextlib.nullcontext()
    with threads, torch.no_grad():
        for r in range(rounds):
            order = ("reference", "student") if r % 2 == 0 else ("student", "reference")
            for who in order:
                m = measure(fns[who], args, plan, min_run_time=min_run_time, label=who, ring=ring)
                best[who] = min(best[who], m.median)
    return best["student"] / best["reference"]


# --------------------------------------------------------------------------- presenting


def rows_to_frame(rows: Sequence[TimingRow]) -> Any:
    """The rows as a pandas DataFrame (pandas is imported only here).

    Shape:
        One DataFrame row per :class:`TimingRow`.
    """
    import pandas as pd

    return pd.DataFrame([asdict(r) for r in rows])


def _fmt_time(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:7.2f} {unit}"
    return f"{seconds / 1e-9:7.1f} ns"


def format_report(rows: Sequence[TimingRow], env: dict[str, Any] | None = None) -> str:
    """A plain-text report: the environment, then one table line per row.

    Args:
        rows: from :func:`time_normalizations`.
        env: from :func:`describe_environment`; omitted when None.

    Returns:
        The report as one string.

    Shape:
        Not applicable.
    """
    lines: list[str] = []
    if env:
        width = max(len(k) for k in env)
        lines += [f"{k:<{width}} : {v}" for k, v in env.items()]
        lines.append("")
    header = f"{'op':<11} {'impl':<9} {'shape':<12} {'dtype':<8} {'median':>10} {'IQR':>10} {'x fused':>8} {'GB/s':>8} {'% copy':>7} {'max err':>8}"
    lines += [header, "-" * len(header)]
    for r in rows:
        shape = "x".join(map(str, r.shape))
        err = "" if math.isnan(r.max_abs_err) else f"{r.max_abs_err:8.1e}"
        lines.append(
            f"{r.op:<11} {r.impl:<9} {shape:<12} {r.dtype:<8} {_fmt_time(r.median_s):>10} {_fmt_time(r.iqr_s):>10}"
            f" {r.ratio_to_fused:8.2f} {r.gbps:8.2f} {r.pct_of_copy:6.1f}% {err:>8}"
        )
    notes = sorted({r.cache for r in rows if r.cache})
    if notes:
        lines.append("")
        lines += [f"caches: {n}" for n in notes]
    return "\n".join(lines)


def summarize_ratios(rows: Sequence[TimingRow]) -> list[str]:
    """One sentence per (op, shape, dtype): reference and student vs fused, fused vs copy.

    Shape:
        Not applicable.
    """
    groups: dict[tuple[str, tuple[int, ...], str], dict[str, TimingRow]] = {}
    for r in rows:
        groups.setdefault((r.op, r.shape, r.dtype), {})[r.impl] = r
    out = []
    for (op, shape, dtype), by_impl in groups.items():
        parts = []
        for impl in ("reference", "student"):
            if impl in by_impl:
                parts.append(f"{impl} {by_impl[impl].ratio_to_fused:.2f}x the fused time")
        if "fused" in by_impl:
            parts.append(f"fused at {by_impl['fused'].pct_of_copy:.0f}% of the copy's GB/s")
        out.append(f"{op} {'x'.join(map(str, shape))} {dtype}: " + ", ".join(parts))
    return out


def plot_bandwidth(rows: Sequence[TimingRow], ax: Any = None, env: dict[str, Any] | None = None) -> Any:
    """Bar chart of achieved GB/s per implementation, grouped by op and shape, with the copy ceiling.

    Args:
        rows: from :func:`time_normalizations`.
        ax: a matplotlib Axes; a new figure when None.
        env: from :func:`describe_environment`, for the device name in the title.

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
    colors = {"student": "tab:orange", "reference": "tab:blue", "fused": "tab:green"}
    for j, impl in enumerate(impls):
        xs, ys = [], []
        for g, key in enumerate(groups):
            for r in rows:
                if (r.op, r.shape, r.dtype) == key and r.impl == impl:
                    xs.append(g - 0.4 + width * (j + 0.5))
                    ys.append(r.gbps)
        ax.bar(xs, ys, width=width, label=impl, color=colors.get(impl))
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


# --------------------------------------------------------------------------- command line


def _parse_shape(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(t) for t in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"shapes must look like 4096x1024, got {text!r}") from None


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m regnorm_lab.gpu_timing``: print the environment, the table and the ratios.

    Shape:
        Not applicable.
    """
    parser = argparse.ArgumentParser(prog="python -m regnorm_lab.gpu_timing", description=main.__doc__)
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--shapes", default=",".join("x".join(map(str, s)) for s in DEFAULT_SHAPES),
                        help="comma-separated shapes such as 4096x1024,8192x256")
    parser.add_argument("--dtypes", default="float32,bfloat16", help="bfloat16/float16 are skipped on the CPU")
    parser.add_argument("--min-run-time", type=float, default=0.2, help="seconds per measurement")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads while timing")
    parser.add_argument("--hot", action="store_true", help="reuse one input (caches stay hot) instead of rotating copies")
    parser.add_argument("--png", default=None, help="also save the bandwidth bar chart to this file")
    ns = parser.parse_args(argv)

    device = pick_device(ns.device)
    shapes = [_parse_shape(s) for s in ns.shapes.split(",") if s]
    dtypes = [d for d in ns.dtypes.split(",") if d]
    plan = plan_timing(device, cold_cache=not ns.hot)
    rows = time_normalizations(shapes, dtypes, device, min_run_time=ns.min_run_time,
                               cold_cache=not ns.hot, num_threads=ns.threads)
    timed_dtypes = list(dict.fromkeys(r.dtype for r in rows))  # what actually ran, in order
    with set_cpu_threads(ns.threads) if device.type == "cpu" else contextlib.nullcontext():
        env = describe_environment(device, timed_dtypes, plan)
    print(format_report(rows, env))
    print()
    print("ratios:")
    for line in summarize_ratios(rows):
        print("  " + line)
    if ns.png:
        import matplotlib

        matplotlib.use("Agg")  # a file only: no display needed
        ax = plot_bandwidth(rows, env=env)
        ax.figure.tight_layout()
        ax.figure.savefig(ns.png, dpi=120)
        print(f"\nfigure: {ns.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
