"""Hysteresis-loop size vs ensemble size M: subsampling, growth fits, extrapolation with a bootstrap.

The loop size L(M) of an effective model's entropy landscape (max_x |d_down − d_up|, paper Fig. 5c)
is measured on R random subsamples of M configurations each (drawn without replacement from one
store) for several M. Two growth laws are fitted by least squares to the (M, L) points:

  ``log``:  L(M) = a + b ln M            (unbounded, logarithmic growth)
  ``inv``:  L(M) = a − b / M             (saturating at a = L(∞))

and each is inverted for the ensemble size at which the loop crosses a level L*:

  ``log``:  M* = exp((L* − a) / b)        (b ≠ 0, else never: +inf)
  ``inv``:  M* = b / (a − L*)             (when positive, else never: +inf)

In both laws the loop grows with M when b > 0 (then L > L* for M > M*) and shrinks when b < 0
(then L > L* for M < M*). The uncertainty is a bootstrap over subsamples: each draw resamples,
within every M, its R replicates with replacement, refits and re-inverts; quantiles of the draws
give the interval (a draw that never crosses L* counts as M* = +inf, so an upper quantile may be
infinite), and the share of draws with b > 0 says how sure the direction is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LAWS = ("log", "inv")


def subsample_indices(n_total: int, m: int, seed: int) -> np.ndarray:
    """``m`` distinct row indices of ``n_total`` (sorted), drawn uniformly without replacement."""
    if not 0 < m <= n_total:
        raise ValueError(f"subsample: M={m} must be in 1..{n_total} (the store's size)")
    return np.sort(np.random.default_rng(seed).choice(n_total, size=m, replace=False))


def _design(M: np.ndarray, law: str) -> np.ndarray:
    M = np.asarray(M, dtype=float)
    if law == "log":
        return np.stack([np.ones_like(M), np.log(M)], axis=1)
    if law == "inv":
        return np.stack([np.ones_like(M), -1.0 / M], axis=1)
    raise ValueError(f"law={law!r}: choose one of {LAWS}")


def fit_law(M: np.ndarray, L: np.ndarray, law: str) -> np.ndarray:
    """Least-squares (a, b) of the growth law ``law`` (module docstring) through the points (M, L)."""
    coef, *_ = np.linalg.lstsq(_design(M, law), np.asarray(L, dtype=float), rcond=None)
    return coef


def predict(coef: np.ndarray, M: np.ndarray | float, law: str) -> np.ndarray:
    """L(M) of a fitted law."""
    return _design(np.atleast_1d(M), law) @ coef


def crossing(coef: np.ndarray, level: float, law: str) -> float:
    """The M at which the fitted law crosses ``level`` (module docstring); +inf if it never does."""
    a, b = float(coef[0]), float(coef[1])
    if law == "log":
        if b == 0:
            return float("inf")
        with np.errstate(over="ignore"):
            return float(np.exp((level - a) / b))
    if law == "inv":
        m = b / (a - level) if a != level else float("inf")
        return float(m) if m > 0 else float("inf")
    raise ValueError(f"law={law!r}: choose one of {LAWS}")


@dataclass
class Extrapolation:
    """One growth law fitted to all points, and its bootstrap: coefficients (a, b), the crossing
    M* of ``level`` and the loop at ``m_target``, each with the bootstrap median and the
    (``q_lo``, ``q_hi``) quantiles; ``cross_fraction`` = the share of draws that cross ``level`` at
    some M > 0, ``rising_fraction`` = the share in which the loop grows with M (b > 0)."""

    law: str
    coef: np.ndarray
    m_cross: float
    l_target: float
    m_cross_q: tuple[float, float, float]
    l_target_q: tuple[float, float, float]
    cross_fraction: float
    rising_fraction: float
    rms_residual: float
    band: np.ndarray  # (3, G): bootstrap quantiles (q_lo, median, q_hi) of L on the ``grid`` given


def bootstrap_law(
    M: np.ndarray,
    L: np.ndarray,
    law: str,
    *,
    level: float = 0.2,
    m_target: float = 500_000,
    n_boot: int = 2000,
    quantiles: tuple[float, float] = (0.16, 0.84),
    seed: int = 0,
    grid: np.ndarray | None = None,
) -> Extrapolation:
    """Fit ``law`` to the points (M, L) (several replicates per M) and bootstrap it by resampling the
    replicates of each M with replacement (module docstring); ``grid``: M values for the band."""
    M, L = np.asarray(M, dtype=float), np.asarray(L, dtype=float)
    coef = fit_law(M, L, law)
    groups = [np.flatnonzero(M == m) for m in np.unique(M)]
    rng = np.random.default_rng(seed)
    grid = np.atleast_1d(m_target if grid is None else grid).astype(float)
    cross, target, slope = np.empty(n_boot), np.empty(n_boot), np.empty(n_boot)
    curves = np.empty((n_boot, grid.size))
    for k in range(n_boot):
        idx = np.concatenate([rng.choice(g, size=g.size, replace=True) for g in groups])
        c = fit_law(M[idx], L[idx], law)
        cross[k], target[k], slope[k] = crossing(c, level, law), predict(c, m_target, law)[0], c[1]
        curves[k] = predict(c, grid, law)
    q = (quantiles[0], 0.5, quantiles[1])
    return Extrapolation(
        law=law,
        coef=coef,
        m_cross=crossing(coef, level, law),
        l_target=float(predict(coef, m_target, law)[0]),
        m_cross_q=tuple(float(v) for v in np.quantile(cross, q, method="inverted_cdf")),  # no inf − inf
        l_target_q=tuple(float(v) for v in np.quantile(target, q, method="inverted_cdf")),
        cross_fraction=float(np.isfinite(cross).mean()),
        rising_fraction=float((slope > 0).mean()),
        rms_residual=float(np.sqrt(np.mean((predict(coef, M, law) - L) ** 2))),
        band=np.quantile(curves, q, axis=0),
    )
