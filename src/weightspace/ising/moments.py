"""Moments of ±1 configurations, the fit error Δ and an exactly solvable synthetic ensemble.

Data moments (paper Sec. III): m_i = ⟨σ_i⟩, C_ij = ⟨σ_iσ_j⟩ (raw, diagonal 1). Sums are
accumulated exactly as int64 from float64 matmuls of chunks small enough that every partial sum
is an exactly representable integer.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from weightspace.backend import array_module

_EXACT_ROWS = 1 << 20  # rows per matmul: partial sums ≤ 2^20 ≪ 2^53, exact in float64


@dataclass
class Moments:
    """Moments: m (N,), C (N,N) raw second moment with unit diagonal; n_samples (None: exact)."""

    m: Any
    C: Any
    n_samples: int | None


def _spins(chunk: Any, start: int, stop: int | None, xp: Any) -> Any:
    x = chunk[:, start:stop]
    if x.ndim != 2:
        raise ValueError(f"configs: expected a 2-D (M, N) array of ±1, got shape {chunk.shape}")
    return x.astype(xp.float64)


def accumulate_moments(chunks: Iterable[Any], start: int = 0, stop: int | None = None) -> Moments:
    """Stream m and C over an iterable of (M_k, N) ±1 chunks, restricted to spins [start, stop).

    S_i = Σ σ_i and S_ij = Σ σ_iσ_j are summed as exact int64; m = S_i/M, C = S_ij/M.
    """
    s1 = s2 = None
    n = 0
    xp = np
    for chunk in chunks:
        xp = array_module(chunk)
        for r0 in range(0, chunk.shape[0], _EXACT_ROWS):
            x = _spins(chunk[r0 : r0 + _EXACT_ROWS], start, stop, xp)
            if not bool(xp.all(xp.abs(x) == 1)):
                raise ValueError("configs: entries must be ±1; convert 0/1 weights with 2w-1")
            a1 = xp.rint(x.sum(axis=0)).astype(xp.int64)
            a2 = xp.rint(x.T @ x).astype(xp.int64)
            s1 = a1 if s1 is None else s1 + a1
            s2 = a2 if s2 is None else s2 + a2
            n += x.shape[0]
    if n == 0:
        raise ValueError("configs: no configurations given; pass at least one non-empty chunk")
    return Moments(m=s1 / n, C=s2 / n, n_samples=n)


def spin_moments(configs: Any, start: int = 0, stop: int | None = None) -> Moments:
    """m and C of one (M, N) ±1 array, restricted to spins [start, stop)."""
    return accumulate_moments([configs], start, stop)


def three_spin_moments(chunks: Iterable[Any], triples: Any) -> Any:
    """⟨σ_iσ_jσ_k⟩ for each row (i, j, k) of ``triples`` (T, 3), streamed over ±1 chunks."""
    total = None
    n = 0
    for chunk in chunks:
        xp = array_module(chunk)
        t = xp.asarray(triples)
        x = chunk.astype(xp.int64)
        s = (x[:, t[:, 0]] * x[:, t[:, 1]] * x[:, t[:, 2]]).sum(axis=0)
        total = s if total is None else total + s
        n += chunk.shape[0]
    if n == 0:
        raise ValueError("configs: no configurations given; pass at least one non-empty chunk")
    return total / n


def fit_delta(m_d: Any, C_d: Any, m_m: Any, C_m: Any) -> float:
    """Fit error (paper Sec. III): Δ² = (1/N)Σ(m^d−m^m)² + (2/(N(N−1)))Σ_{i<j}(C^d−C^m)²."""
    xp = array_module(m_d)
    n = m_d.shape[-1]
    dm = xp.mean((m_d - m_m) ** 2)
    dc = C_d - C_m
    off = (xp.sum(dc * dc) - xp.sum(xp.diagonal(dc) ** 2)) / (n * (n - 1))
    return float(xp.sqrt(dm + off))


def mean_energy(J: Any, h: Any, m: Any, C: Any) -> Any:
    """E = −Σ_{i<j} J_ij C_ij − Σ_i h_i m_i (docs/design.md §3.3; J has zero diagonal); batched."""
    xp = array_module(C)
    return -0.5 * xp.sum(J * C, axis=(-2, -1)) - xp.sum(h * m, axis=-1)


def mixture_samples(centers: np.ndarray, weights: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Draw n i.i.d. ±1 configurations (int8) from Σ_a w_a Π_i (1 + σ_i μ^a_i)/2.

    A mixture of product measures (``centers`` μ^a ∈ [−1,1]^N, one row per cluster) stands in for
    an ensemble of solution clusters; its moments are known exactly (:func:`mixture_moments`).
    """
    rng = np.random.default_rng(seed)
    w = np.asarray(weights, dtype=float)
    labels = rng.choice(len(w), size=n, p=w / w.sum())
    p_up = (1.0 + np.asarray(centers)[labels]) / 2.0
    return np.where(rng.random(p_up.shape) < p_up, 1, -1).astype(np.int8)


def mixture_moments(centers: np.ndarray, weights: np.ndarray) -> Moments:
    """Exact m = Σ_a w_a μ^a and C = Σ_a w_a μ^a μ^aᵀ (off-diagonal; diagonal 1) of the mixture."""
    w = np.asarray(weights, dtype=float)
    w = w / w.sum()
    mu = np.asarray(centers, dtype=float)
    C = (mu * w[:, None]).T @ mu
    np.fill_diagonal(C, 1.0)
    return Moments(m=w @ mu, C=C, n_samples=None)
