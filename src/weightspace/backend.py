"""The one array-backend switch: NumPy on CPU, CuPy on a CUDA GPU.

Physics kernels take arrays and call ``xp = array_module(a)`` (or receive
``xp`` from :func:`get_xp`) instead of branching on the device themselves.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np


def _cupy() -> ModuleType | None:
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() > 0:
            return cupy
    except Exception:  # ImportError, or CUDA driver/runtime missing
        return None
    return None


def gpu_available() -> bool:
    """True when CuPy imports and sees at least one CUDA device."""
    return _cupy() is not None


def get_xp(name: str = "auto") -> ModuleType:
    """Return the array module for ``name`` in {"auto", "numpy", "cupy"}.

    "auto" picks CuPy when a GPU is usable and NumPy otherwise; "cupy" without a
    GPU raises a one-line error naming the option.
    """
    if name == "numpy":
        return np
    cp = _cupy()
    if name == "cupy":
        if cp is None:
            raise RuntimeError(
                "backend=cupy: CuPy or a CUDA device is not available; "
                "install the 'gpu' extra on a GPU machine or use backend=numpy"
            )
        return cp
    if name == "auto":
        return cp if cp is not None else np
    raise ValueError(f"backend={name!r}: choose one of auto, numpy, cupy")


def array_module(a: Any) -> ModuleType:
    """The array module (numpy or cupy) that owns ``a``."""
    if type(a).__module__.startswith("cupy"):
        import cupy

        return cupy
    return np


def to_numpy(a: Any) -> np.ndarray:
    """Copy ``a`` to host memory as a NumPy array (no-op for NumPy input)."""
    if type(a).__module__.startswith("cupy"):
        return a.get()
    return np.asarray(a)
