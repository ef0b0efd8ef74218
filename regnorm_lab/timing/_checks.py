"""Argument checks shared by the timing room: each bad argument raises a ``ValueError`` naming it.

Every public function of :mod:`regnorm_lab.timing` takes devices, shapes and dtypes
from a caller (a notebook, the command line, a grader), so the checks live in one
place and give the same message everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

__all__ = [
    "FLOAT_DTYPES",
    "check_device",
    "check_shape",
    "check_shapes",
    "check_dtype",
    "check_dtypes",
    "check_op_map",
    "check_positive_float",
    "check_positive_int",
    "dtype_name",
]

#: The floating dtypes the timing room knows (bytes per element differ; all are timed the same way).
FLOAT_DTYPES: tuple[torch.dtype, ...] = (torch.float32, torch.float64, torch.bfloat16, torch.float16)


def check_device(name: str, device: torch.device | str) -> torch.device:
    """``device`` as a ``torch.device`` on a CPU or CUDA, or a ``ValueError`` naming ``name``."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"{name} must be a torch.device or device string, got {device!r}") from None
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"{name} must be a CPU or CUDA device, got {device!r}")
    return dev


def check_shape(name: str, shape: object) -> tuple[int, ...]:
    """``shape`` as a tuple of positive ints.

    Shape:
        Any rank of at least one.
    """
    if isinstance(shape, (str, bytes)) or not isinstance(shape, (tuple, list, torch.Size)):
        raise ValueError(f"{name} must hold shapes as tuples of positive ints, got {shape!r}")
    dims = tuple(shape)
    if not dims or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in dims):
        raise ValueError(f"{name} must hold shapes as tuples of positive ints, got {shape!r}")
    return dims


def check_shapes(name: str, shapes: object) -> list[tuple[int, ...]]:
    """A non-empty list of shapes; a single shape such as ``(4096, 1024)`` is accepted too.

    Shape:
        Each shape of any rank of at least one.
    """
    if isinstance(shapes, (tuple, list)) and shapes and all(isinstance(d, int) for d in shapes):
        shapes = [shapes]  # a single shape such as (4096, 1024)
    if isinstance(shapes, (str, bytes)) or not isinstance(shapes, (tuple, list)) or not shapes:
        raise ValueError(f"{name} must be a non-empty sequence of shapes, got {shapes!r}")
    return [check_shape(name, s) for s in shapes]


def check_dtype(name: str, dtype: object) -> torch.dtype:
    """A floating ``torch.dtype`` from a dtype or its name (``"float32"``)."""
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype, dtype)
    if not isinstance(dtype, torch.dtype) or dtype not in FLOAT_DTYPES:
        raise ValueError(f"{name} must hold floating dtypes (float32, float64, bfloat16, float16), got {dtype!r}")
    return dtype


def check_dtypes(name: str, dtypes: object) -> list[torch.dtype]:
    """A non-empty list of floating dtypes; a single dtype or name is accepted too."""
    if isinstance(dtypes, (torch.dtype, str)):
        dtypes = [dtypes]
    if not isinstance(dtypes, (tuple, list)) or not dtypes:
        raise ValueError(f"{name} must be a non-empty sequence of dtypes, got {dtypes!r}")
    return [check_dtype(name, d) for d in dtypes]


def check_op_map(name: str, mapping: object, allowed: Sequence[str]) -> dict[str, Callable[..., torch.Tensor]]:
    """A dict from op names among ``allowed`` to callables (a copy, so the caller's dict is not kept)."""
    if not isinstance(mapping, dict):
        raise ValueError(f"{name} must be a dict mapping op names to callables, got {type(mapping).__name__}")
    for key, fn in mapping.items():
        if key not in allowed:
            raise ValueError(f"{name} has unknown op {key!r}; expected one of {sorted(allowed)}")
        if not callable(fn):
            raise ValueError(f"{name}[{key!r}] must be callable, got {fn!r}")
    return dict(mapping)


def check_positive_float(name: str, value: object) -> float:
    """A finite positive float."""
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a positive number, got {value!r}") from None
    if not v > 0 or math.isinf(v):
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return v


def check_positive_int(name: str, value: object, why: str = "") -> int:
    """An int of at least 1 (``bool`` is refused: ``True`` is not a count); ``why`` ends the message."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1{why}, got {value!r}")
    return value


def dtype_name(dtype: torch.dtype) -> str:
    """``torch.float32`` -> ``"float32"``, as reports print it."""
    return str(dtype).removeprefix("torch.")
