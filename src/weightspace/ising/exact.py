"""Brute-force enumeration of a small Ising model (reference for tests, N ≤ 24).

P(σ) = exp(Σ_{i<j} J_ijσ_iσ_j + Σ_i h_iσ_i)/Z over all 2^N states, streamed in chunks with a
running log-sum-exp: ln Z, m, C, mean energy E and entropy S = ln Z + E (β = 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from weightspace.backend import array_module
from weightspace.ising.moments import mean_energy

MAX_EXACT_SPINS = 24


@dataclass
class ExactResult:
    """Exact results per system b: log_z (B,), m (B,N), C (B,N,N), energy (B,), entropy (B,)."""

    log_z: Any
    m: Any
    C: Any
    energy: Any
    entropy: Any


def _batched(J: Any, h: Any) -> tuple[Any, Any]:
    h = h[None, :] if h.ndim == 1 else h
    if h.ndim != 2 or J.shape[-1] != h.shape[-1] or J.ndim not in (2, 3):
        raise ValueError(f"J {J.shape} / h {h.shape}: need J (N,N) or (B,N,N) and h (N,) or (B,N)")
    if J.ndim == 3 and J.shape[0] != h.shape[0]:
        raise ValueError(f"J {J.shape} / h {h.shape}: batched J needs one h row per system")
    return J, h


def enumerate_states(n: int, first: int, count: int, xp: Any) -> Any:
    """States number first … first+count−1 as ±1 rows (bit i of the index → spin i)."""
    idx = xp.arange(first, first + count, dtype=xp.int64)
    bits = (idx[:, None] >> xp.arange(n, dtype=xp.int64)[None, :]) & 1
    return (2 * bits - 1).astype(xp.float64)


def exact_moments(J: Any, h: Any, chunk: int = 1 << 14) -> ExactResult:
    """Exact ln Z, m, C, E, S of P ∝ exp(½σᵀJσ + hᵀσ) for J (N,N)|(B,N,N), h (N,)|(B,N)."""
    xp = array_module(J)
    J, h = _batched(J, h)
    n = h.shape[-1]
    if n > MAX_EXACT_SPINS:
        raise ValueError(f"exact_moments: N={n} > {MAX_EXACT_SPINS}; use BP or Monte Carlo")
    nb = h.shape[0]
    shift = xp.full(nb, -xp.inf)
    z = xp.zeros(nb)
    s1 = xp.zeros((nb, n))
    s2 = xp.zeros((nb, n, n))
    for first in range(0, 1 << n, chunk):
        s = enumerate_states(n, first, min(chunk, (1 << n) - first), xp)  # (K,N)
        sj = s @ J if J.ndim == 2 else xp.einsum("kj,bij->bki", s, J)  # (K,N) | (B,K,N)
        logw = 0.5 * xp.sum(sj * s, axis=-1) + h @ s.T  # (B,K)
        new_shift = xp.maximum(shift, logw.max(axis=1))
        scale = xp.exp(shift - new_shift)
        w = xp.exp(logw - new_shift[:, None])
        z = z * scale + w.sum(axis=1)
        s1 = s1 * scale[:, None] + w @ s
        s2 = s2 * scale[:, None, None] + (w[:, :, None] * s[None]).transpose(0, 2, 1) @ s
        shift = new_shift
    m = s1 / z[:, None]
    C = s2 / z[:, None, None]
    log_z = xp.log(z) + shift
    energy = mean_energy(J, h, m, C)
    return ExactResult(log_z=log_z, m=m, C=C, energy=energy, entropy=log_z + energy)
