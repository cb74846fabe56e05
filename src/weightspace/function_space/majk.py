"""Phase transition of sparse MAJ-k deep nets under weight flips (Li & Saad 2018, Eqs. 13-14, Fig. 2d-f).

Deep limit L -> inf with uniform flip probability p. The reference net (all weights +1) started
from a positive magnetization flows to m_hat^inf = 1; the perturbed net's magnetization obeys
m^l = F_p(m^{l-1}) (Eq. 13). Below p_c a stable ordered fixed point m^inf > 0 exists and the
error eps = (1 - q^inf) / 2 stays below 1/2; above it m^inf = 0 and eps = 1/2.
Everything here is computed from the recursions only (no closed forms); for k = 3 the paper's
p_c = 1/6 and m^inf = q^inf = sqrt((1 - 6p) / (1 - 2p)^3) are what the tests check against.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq

from .recursions import majk_step


def magnetization_map(m: np.ndarray, p: float, k: int) -> np.ndarray:
    """F_p(m): one layer of Eq. 13 for the perturbed net (independent of m_hat and q)."""
    m = np.asarray(m, dtype=float)
    return majk_step(np.ones_like(m), m, m, p, k)[1]


def stationary_magnetization(p: float, k: int, m_min: float = 1e-9, n_scan: int = 400) -> float:
    """Largest stable root m^inf in [m_min, 1] of F_p(m) = m, or 0 when there is none (Eq. 13).

    The root is bracketed on a log-spaced scan of g(m) = F_p(m) - m (a sign change from + to -
    with increasing m marks a stable fixed point) and refined with Brent's method.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"flip probability p={p}: must lie in [0, 1]")
    grid = np.geomspace(m_min, 1.0, n_scan)
    g = magnetization_map(grid, p, k) - grid
    if g[-1] >= 0.0:
        return 1.0
    down = np.nonzero((g[:-1] > 0.0) & (g[1:] <= 0.0))[0]
    if down.size == 0:
        return 0.0
    i = down[-1]
    return float(brentq(lambda x: float(magnetization_map(x, p, k) - x), grid[i], grid[i + 1], xtol=1e-15, rtol=1e-14))


def stationary_overlap(
    p: float, k: int, m_inf: float, tol: float = 1e-14, max_iter: int = 10_000
) -> tuple[float, bool]:
    """q^inf at the fixed point (m_hat, m) = (1, m^inf): iterate the q-part of Eq. 14 from q = 1.

    Returns (q^inf, converged).
    """
    q = 1.0
    for _ in range(max_iter):
        q_new = float(majk_step(np.float64(1.0), np.float64(m_inf), np.float64(q), p, k)[2])
        if abs(q_new - q) < tol:
            return q_new, True
        q = q_new
    return q, False


def critical_flip_probability(k: int, tol: float = 1e-12) -> float:
    """p_c located by bisection on whether an ordered fixed point m^inf > 0 exists."""
    lo, hi = 0.0, 0.5
    if stationary_magnetization(hi, k) > 0.0:
        raise ValueError(f"majk.k={k}: ordered phase persists up to p=0.5; no transition to locate")
    while hi - lo > tol:
        mid = 0.5 * (lo + hi)
        if stationary_magnetization(mid, k) > 0.0:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


@dataclass
class MajkPhase:
    """Stationary state of the sparse MAJ-k net over a grid of flip probabilities (Fig. 2d)."""

    p: np.ndarray
    m_inf: np.ndarray
    q_inf: np.ndarray
    eps: np.ndarray
    p_c: float
    n_unconverged: int


def majk_phase_diagram(p_grid: np.ndarray, k: int) -> MajkPhase:
    """m^inf, q^inf and eps = (1 - q^inf)/2 for each p in ``p_grid``, plus p_c."""
    if k < 1:
        raise ValueError(f"majk.k={k}: the gate fan-in must be a positive integer")
    p_grid = np.asarray(p_grid, dtype=float)
    m_inf = np.array([stationary_magnetization(float(p), k) for p in p_grid])
    q_and_ok = [stationary_overlap(float(p), k, float(m)) for p, m in zip(p_grid, m_inf, strict=True)]
    q_inf = np.array([q for q, _ in q_and_ok])
    n_bad = sum(not ok for _, ok in q_and_ok)
    return MajkPhase(p_grid, m_inf, q_inf, 0.5 * (1.0 - q_inf), critical_flip_probability(k), n_bad)
