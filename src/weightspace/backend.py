"""The one array-backend switch: NumPy on CPU, CuPy on a CUDA GPU; and random streams that are the
same on both.

Physics kernels take arrays and call ``xp = array_module(a)`` (or receive ``xp`` from
:func:`get_xp`) instead of branching on the device themselves. Seeded Monte Carlo draws from
:class:`CounterRNG`, whose numbers are a pure function of (seed, counter) computed with integer
operations on the array's own device, so a seed gives the same results with and without CuPy.
"""

from __future__ import annotations

import logging
import math
from types import ModuleType
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


def _cupy() -> tuple[ModuleType | None, str]:
    """(CuPy, "") when it imports and sees a CUDA device, else (None, why not)."""
    try:
        import cupy
    except ImportError:
        return None, "CuPy not installed"
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as err:  # CUDA driver/runtime missing or broken
        return None, f"CuPy installed but CUDA unusable ({type(err).__name__}: {str(err).splitlines()[0][:120]})"
    if count < 1:
        return None, "CuPy installed but no CUDA device"
    return cupy, f"CuPy {getattr(cupy, '__version__', '?')} with {count} CUDA device(s)"


def gpu_available() -> bool:
    """True when CuPy imports and sees at least one CUDA device."""
    return _cupy()[0] is not None


def get_xp(name: str = "auto") -> ModuleType:
    """Return the array module for ``name`` in {"auto", "numpy", "cupy"}.

    "auto" picks CuPy when a GPU is usable and NumPy otherwise, and logs which and why; "cupy"
    without a GPU raises a one-line error naming the option.
    """
    if name == "numpy":
        return np
    if name not in ("auto", "cupy"):
        raise ValueError(f"backend={name!r}: choose one of auto, numpy, cupy")
    cp, why = _cupy()
    if name == "cupy":
        if cp is None:
            raise RuntimeError(f"backend=cupy: {why}; install the 'gpu' extra on a GPU machine or use backend=numpy")
        return cp
    log.info("backend=auto: %s", f"{why}: CuPy" if cp is not None else f"{why}: NumPy")
    return cp if cp is not None else np


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


def free_device_bytes(xp: ModuleType) -> int | None:
    """Free memory of the current CUDA device plus what CuPy's pool holds for reuse (None on NumPy)."""
    if xp is np:
        return None
    free, _ = xp.cuda.Device().mem_info
    pool = xp.get_default_memory_pool()
    return int(free) + int(pool.total_bytes()) - int(pool.used_bytes())


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def _splitmix(z: Any) -> Any:
    """SplitMix64 finaliser (Steele, Lea & Flood 2014) on uint64 arrays: a bijection that
    decorrelates consecutive counters."""
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


def counter_uniforms(xp: ModuleType, key: int, start: int, n: int) -> Any:
    """Uniforms u_c ∈ [0, 1) of counters c = start .. start+n-1 of stream ``key``: the top 53 bits of the
    SplitMix64 output z_c = mix(key + (c + 1)·φ), times 2^-53 (integer arithmetic and one exact
    conversion: the same bits on every device)."""
    c = xp.arange(start + 1, start + n + 1, dtype=xp.uint64)
    z = _splitmix(c * _GOLDEN + np.uint64(key))
    return (z >> np.uint64(11)).astype(xp.float64) * 2.0**-53


class CounterRNG:
    """Counter-based random numbers on ``xp``'s device, identical on NumPy and CuPy.

    Uniform number c of stream ``seed`` is :func:`counter_uniforms` with key = mix(seed); each draw
    takes the next counters in order, so the numbers do not depend on the device or on how draws
    are sized. They are generated ahead into a pool (4 Ki uniforms at first, doubling to 1 Mi), so
    that a small draw is a slice of it: no kernel launch for a uniform, a few for the other
    distributions, and the state is a host integer (no device sync). Method names follow
    NumPy's Generator.
    """

    POOL_MIN, POOL_MAX = 1 << 12, 1 << 20

    def __init__(self, xp: ModuleType, seed: int | None) -> None:
        if seed is None:
            seed = int(np.random.SeedSequence().generate_state(1)[0])
        self.xp = xp
        self.key = int(_splitmix(np.array([int(seed) % 2**64], dtype=np.uint64))[0])
        self.counter = 0  # the next counter handed out
        self._pool: Any = None
        self._pool_start = 0
        self._pool_size = self.POOL_MIN

    def _uniforms(self, n: int) -> Any:
        """The next n uniforms (1-D; a view into the pool)."""
        end = self.counter + n
        if self._pool is None or end > self._pool_start + self._pool.size:
            self._pool = counter_uniforms(self.xp, self.key, self.counter, max(n, self._pool_size))
            self._pool_start = self.counter
            self._pool_size = min(2 * self._pool_size, self.POOL_MAX)
        off = self.counter - self._pool_start
        self.counter = end
        return self._pool[off : off + n]

    def random(self, size: Any) -> Any:
        """Uniform in [0, 1), float64, shape ``size``."""
        shape = (size,) if np.ndim(size) == 0 else tuple(size)
        return self._uniforms(math.prod(shape)).reshape(shape)

    random_sample = random

    def standard_exponential(self, size: Any) -> Any:
        """Exp(1) by inversion, −ln(1 − u)."""
        return -self.xp.log1p(-self.random(size))

    def standard_normal(self, size: Any) -> Any:
        """N(0, 1) by Box–Muller from two uniforms."""
        u1, u2 = self.random(size), self.random(size)
        return self.xp.sqrt(-2.0 * self.xp.log1p(-u1)) * self.xp.cos(2.0 * math.pi * u2)

    def integers(self, low: int, high: int | None = None, size: Any = None) -> Any:
        """Integers in [low, high) (in [0, low) with one bound), int64: ⌊low + u (high − low)⌋."""
        low, high = (0, low) if high is None else (low, high)
        return (low + self.xp.floor(self.random(() if size is None else size) * (high - low))).astype(self.xp.int64)

    def permutation(self, n: int) -> Any:
        """A uniformly random permutation of 0..n-1 (argsort of n uniforms)."""
        return self.xp.argsort(self.random(n))
