"""The chapter's table: student, reference, fused kernel and copy timed side by side on the same inputs.

For each shape and dtype, :func:`time_normalizations` times a plain copy once,
then for each op the framework's fused kernel, the course's reference and (when
given) a student's function, all reading the same ring of cold inputs, and
returns one :class:`TimingRow` per implementation: median, IQR, ratio to the fused
kernel, achieved GB/s and the share of the copy's GB/s.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch.utils import benchmark

from ._checks import (
    check_device,
    check_dtypes,
    check_op_map,
    check_positive_float,
    check_shapes,
    dtype_name,
)
from .devices import TimingPlan, cpu_threads_if_cpu, pick_device, plan_timing
from .kernels import OPS, bytes_moved, copy_kernel, fused_kernel, make_inputs, max_abs_err
from .timer import measure, rotating_inputs, timed_calls

__all__ = ["IMPL_ORDER", "DEFAULT_SHAPES", "CUDA_ONLY_DTYPES", "TimingRow", "time_normalizations"]

#: The order rows appear in for each (op, shape, dtype).
IMPL_ORDER: tuple[str, ...] = ("student", "reference", "fused", "copy")

#: Shapes of the default report: a transformer-like activation (4096 tokens x 1024
#: features, 16 MiB in float32) and the many-short-rows grading shape.
DEFAULT_SHAPES: tuple[tuple[int, ...], ...] = ((4096, 1024), (8192, 256))

#: Half-precision types are only timed on CUDA: on a CPU they are emulated (slow and
#: not what anyone would deploy), so their numbers would teach the wrong lesson.
CUDA_ONLY_DTYPES: tuple[torch.dtype, ...] = (torch.bfloat16, torch.float16)


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
        bytes_moved: ideal bytes per call (:func:`~regnorm_lab.timing.kernels.bytes_moved`).
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
        device: None picks CUDA when available (:func:`~regnorm_lab.timing.devices.pick_device`).
        impls: op name -> reference implementation; the keys choose the ops. None means
            ``{"layer_norm": regnorm_lab.layer_norm, "rms_norm": regnorm_lab.rms_norm}``.
        student: op name -> the student's implementation (keys among ``impls``'s).
        min_run_time: seconds per measurement; small values (0.01) for tests.
        method: ``"blocked"`` or ``"adaptive"`` (see :func:`~regnorm_lab.timing.timer.measure`).
        cold_cache: see :class:`~regnorm_lab.timing.devices.TimingPlan`; None means True.
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
    dims_list = check_shapes("shapes", shapes)
    dtype_list = check_dtypes("dtypes", dtypes)
    dev = pick_device() if device is None else check_device("device", device)
    if impls is None:
        from ..layer_instance_norm import layer_norm
        from ..rms_norm import rms_norm

        impls = {"layer_norm": layer_norm, "rms_norm": rms_norm}
    impls = check_op_map("impls", impls, list(OPS))
    if not impls:
        raise ValueError("impls must name at least one op")
    student = check_op_map("student", student or {}, list(impls))
    min_run_time = check_positive_float("min_run_time", min_run_time)
    if method not in ("blocked", "adaptive"):
        raise ValueError(f"method must be 'blocked' or 'adaptive', got {method!r}")
    plan = plan_timing(dev, cold_cache)
    if dev.type == "cpu":
        dtype_list = [d for d in dtype_list if d not in CUDA_ONLY_DTYPES]

    from tqdm.auto import tqdm

    jobs = [(dims, dt) for dims in dims_list for dt in dtype_list]
    rows: list[TimingRow] = []
    with cpu_threads_if_cpu(dev, num_threads), torch.no_grad():
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
    xs = [x for x, *_ in rotating_inputs(base_args, plan)]
    cache = plan.cache_note(x_bytes)
    name = f"{'x'.join(map(str, dims))} {dtype_name(dt)}"

    copy_m = measure(copy_kernel, (xs[0],), plan, min_run_time=min_run_time, method=method, label=f"copy {name}",
                     ring=[(x,) for x in xs])
    copy_bytes = bytes_moved("copy", dims, dt)
    copy_gbps = copy_bytes / copy_m.median / 1e9

    rows: list[TimingRow] = []
    for op, ref_fn in impls.items():
        args = make_inputs(op, dims, dt, dev, seed)
        ring = [(x, *args[1:]) for x in xs]
        fused = fused_kernel(op)
        candidates: list[tuple[str, Callable[..., torch.Tensor]]] = [("fused", fused), ("reference", ref_fn)]
        if op in student:
            candidates.append(("student", student[op]))
        measured: dict[str, tuple[benchmark.Measurement, float]] = {}
        for impl, fn in candidates:
            m = measure(fn, args, plan, min_run_time=min_run_time, method=method, label=f"{op} {impl} {name}",
                        ring=ring)
            err = 0.0 if impl == "fused" else max_abs_err(fn, fused, args)
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
                    dtype=dtype_name(dt),
                    device=str(dev),
                    median_s=float(m.median),
                    iqr_s=float(m.iqr),
                    ratio_to_fused=float(m.median / fused_median),
                    bytes_moved=int(b),
                    gbps=float(gbps),
                    pct_of_copy=float(100.0 * gbps / copy_gbps),
                    n_timed_calls=timed_calls(m),
                    max_abs_err=err,
                    cache=cache,
                )
            )
    return rows
