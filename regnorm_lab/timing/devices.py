"""Where a timing runs and how: device choice, cache sizes, the timing plan, the environment line.

A timing is only honest if it waits for the device (CUDA launches are
asynchronous) and if repeated calls cannot be served from a cache that a real
network would have evicted. :func:`plan_timing` decides both for one device;
the timer (:mod:`regnorm_lab.timing.timer`) follows the plan.

Caches: a tensor that fits in the GPU's L2 (or the CPU's last-level cache) would
be served from the cache on every repetition and report a bandwidth above what
memory can deliver. With ``cold_cache=True`` (the default) each timed call reads
the next copy of ``x`` from a ring of copies whose total size is at least twice
the cache, so the ``x`` a call reads was evicted long before it comes round again.
"""

from __future__ import annotations

import contextlib
import math
import platform
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ._checks import check_device, check_dtype, dtype_name

__all__ = [
    "TimingPlan",
    "pick_device",
    "plan_timing",
    "synchronize",
    "describe_environment",
    "set_cpu_threads",
    "cpu_threads_if_cpu",
]

# The ring of cold-cache inputs holds at most this many copies; for tiny tensors a
# full ring would mean thousands of copies for no gain (such shapes are launch-bound anyway).
_MAX_RING = 4096

# Used when the cache size cannot be read: larger than the L2 of current GPUs
# (A100: 40 MiB, H100: 50 MiB) so the ring still defeats the cache.
_FALLBACK_CACHE_BYTES = 64 * 2**20

_MiB = 2**20


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


def _cpu_cache(cache_dir: Path = Path("/sys/devices/system/cpu/cpu0/cache")) -> tuple[int, str]:
    """Size and name of the CPU's last-level (highest-numbered data or unified) cache, read from sysfs (Linux)."""
    best = (0, 0)  # (level, bytes)
    for index in sorted(cache_dir.glob("index*")):
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
            :func:`regnorm_lab.timing.timer.measure` also waits after the warm-up).
            False on the CPU.
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
    dev = check_device("device", device)
    cold = True if cold_cache is None else bool(cold_cache)
    if dev.type == "cuda":
        nbytes, name = _cuda_l2(dev)
        return TimingPlan(dev, synchronize=True, cache_bytes=nbytes, cache_name=name, cold_cache=cold)
    nbytes, name = _cpu_cache()
    return TimingPlan(dev, synchronize=False, cache_bytes=nbytes, cache_name=name, cold_cache=cold)


def synchronize(plan: TimingPlan) -> None:
    """Wait for queued device work (CUDA only): otherwise warm-up kernels leak into the first timing.

    Shape:
        Not applicable (no tensors).
    """
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

    Raises:
        ValueError: bad ``device`` or ``dtypes``.

    Shape:
        Not applicable (no tensors).
    """
    dev = check_device("device", device)
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
        "dtypes": ", ".join(dtype_name(check_dtype("dtypes", d)) for d in dtypes),
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


def cpu_threads_if_cpu(device: torch.device, n: int) -> contextlib.AbstractContextManager[Any]:
    """:func:`set_cpu_threads` on a CPU device; nothing on a GPU (its threads do not set the speed)."""
    return set_cpu_threads(n) if device.type == "cpu" else contextlib.nullcontext()
