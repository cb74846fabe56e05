"""TAP free-energy distribution (paper App. I, Fig. 8; docs/design.md §3.4 on Eq. I2).

Iteration with the correct time indices (Bolthausen; paper Eq. I1, β = 1):
  m_i^{t+1} = tanh(h_i + Σ_j J_ij m_j^t − m_i^{t−1} Σ_j J_ij² (1 − (m_j^t)²)).
TAP free energy, with the field term that the paper's Eq. I2 drops (without it the stationary
points are not those of I1):
  −βF_TAP = Σ_i H(m_i) + Σ_i h_i m_i + Σ_{i<j} J_ij m_i m_j + ½ Σ_{i<j} J_ij² (1−m_i²)(1−m_j²),
H the binary entropy of (1±m)/2.
∂(−βF)/∂m_i = −atanh m_i + h_i + Σ_j J_ij m_j − m_i Σ_j J_ij²(1−m_j²),
so its zeros are the fixed points of I1. R random starts are iterated as one (R,N) batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from weightspace.backend import array_module, to_numpy


def _binary_entropy(m: Any) -> Any:
    xp = array_module(m)
    p = xp.clip((1.0 + m) / 2.0, 1e-300, 1.0)
    q = xp.clip((1.0 - m) / 2.0, 1e-300, 1.0)
    return -(p * xp.log(p) + q * xp.log(q))


def tap_neg_free_energy(J: Any, h: Any, m: Any) -> Any:
    """−βF_TAP per row of m (R,N) (module docstring)."""
    J2 = J * J
    v = 1.0 - m * m
    return (
        _binary_entropy(m).sum(-1)
        + m @ h
        + 0.5 * ((m @ J) * m).sum(-1)
        + 0.25 * ((v @ J2) * v).sum(-1)
    )


def tap_gradient(J: Any, h: Any, m: Any) -> Any:
    """∂(−βF_TAP)/∂m (R,N)."""
    xp = array_module(m)
    return -xp.arctanh(m) + h + m @ J - m * ((1.0 - m * m) @ (J * J))


@dataclass
class TapResult:
    """Per start r: m (R,N) final magnetisations, free_energy f = F_TAP/N (R,), residual (R,),
    iterations (R,) (first below tol; max_iter if never), converged (R,)."""

    m: np.ndarray
    free_energy: np.ndarray
    residual: np.ndarray
    iterations: np.ndarray
    converged: np.ndarray


def tap_iterate(
    J: Any, h: Any, m0: Any, *, damping: float = 0.0, tol: float = 1e-8, max_iter: int = 2000
) -> TapResult:
    """Iterate Eq. I1 from m^0 = m^{−1} = m0 (R,N); damping mixes the old value in (0: paper)."""
    xp = array_module(J)
    J2 = J * J
    prev = m0.copy()
    cur = m0.copy()
    nr = m0.shape[0]
    iters = np.full(nr, max_iter)
    res = xp.full(nr, xp.inf)
    for it in range(1, max_iter + 1):
        new = xp.tanh(h + cur @ J - prev * ((1.0 - cur * cur) @ J2))
        new = damping * cur + (1.0 - damping) * new
        res = xp.abs(new - cur).max(axis=-1)
        done = to_numpy(res < tol)
        iters = np.where(done & (iters == max_iter), it, iters)
        prev, cur = cur, new
        if done.all():
            break
    n = J.shape[0]
    res_h = to_numpy(res)
    return TapResult(
        m=to_numpy(cur),
        free_energy=-to_numpy(tap_neg_free_energy(J, h, cur)) / n,
        residual=res_h,
        iterations=iters,
        converged=res_h < tol,
    )


def random_starts(n_starts: int, n: int, seed: int, xp: Any = np) -> Any:
    """Uniform random magnetisations in (−1, 1)."""
    return xp.asarray(np.random.default_rng(seed).uniform(-1.0, 1.0, (n_starts, n)))


def distinct_fixed_points(m: np.ndarray, tol: float = 1e-3) -> np.ndarray:
    """Greedy clustering of fixed points with max_i |m_i − m'_i| ≤ tol; returns a label per row."""
    labels = np.full(m.shape[0], -1)
    centers: list[np.ndarray] = []
    for r in range(m.shape[0]):
        for c, mc in enumerate(centers):
            if np.abs(m[r] - mc).max() <= tol:
                labels[r] = c
                break
        else:
            labels[r] = len(centers)
            centers.append(m[r])
    return labels


def count_peaks(
    values: np.ndarray, bins: int = 40, min_height: float = 0.1, resolution: float = 1e-6
) -> int:
    """Modes of a distribution: local maxima of a Gaussian-smoothed histogram higher than
    ``min_height`` × the largest; 1 when all values agree within ``resolution`` (0 when empty)."""
    v = np.asarray(values, float)
    if v.size == 0:
        return 0
    if np.ptp(v) <= resolution:
        return 1
    hist, _ = np.histogram(v, bins=bins)
    kernel = np.exp(-0.5 * np.arange(-3, 4) ** 2 / 1.5**2)
    smooth = np.convolve(np.pad(hist.astype(float), 3), kernel / kernel.sum(), mode="valid")
    peak = (
        (smooth[1:-1] > smooth[:-2])
        & (smooth[1:-1] >= smooth[2:])
        & (smooth[1:-1] > min_height * smooth.max())
    )
    edges = int(smooth[0] > smooth[1] and smooth[0] > min_height * smooth.max())
    edges += int(smooth[-1] > smooth[-2] and smooth[-1] > min_height * smooth.max())
    return int(peak.sum()) + edges
