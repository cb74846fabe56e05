"""Single spherical perceptron references for the L = 1 solution-space MC (Gardner 1988; Cover 1965).

Replica-symmetric Gardner volume with margin kappa, M = alpha N random patterns:
    s(q) = 1/2 ln(1-q) + q/(2(1-q)) + alpha int Dt ln H(u),  u = (kappa - sqrt(q) t)/sqrt(1-q),
the typical overlap q(alpha) of two solutions solves ds/dq = 0, i.e.
    q/(2(1-q)^2) = alpha int Dt [phi(u)/H(u)] du/dq,
with q ~ 2 alpha/pi for small alpha (kappa = 0) and q -> 1 at alpha_c = 1/int_{-kappa} Dt (t+kappa)^2
(= 2 for kappa = 0). Cover's count: M random labelled points in general position in N dims are
separable through the origin with probability 2^{1-M} sum_{k<N} binom(M-1, k).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import brentq
from scipy.special import gammaln, log_ndtr

_T, _W = np.polynomial.hermite_e.hermegauss(121)
_W = _W / _W.sum()  # Gauss-Hermite nodes for int Dt


def gardner_capacity(kappa: float = 0.0) -> float:
    """alpha_c(kappa) = 1 / int_{-kappa}^inf Dt (t + kappa)^2."""
    from scipy.integrate import quad

    val, _ = quad(lambda t: np.exp(-t * t / 2) / np.sqrt(2 * np.pi) * (t + kappa) ** 2, -kappa,
                  np.inf)
    return 1.0 / val


def _dsdq(q: float, alpha: float, kappa: float) -> float:
    sq, s1 = np.sqrt(q), np.sqrt(1.0 - q)
    u = (kappa - sq * _T) / s1
    du = -_T / (2 * sq * s1) + u / (2 * (1.0 - q))
    ratio = np.exp(-0.5 * u * u - 0.5 * np.log(2 * np.pi) - log_ndtr(-u))  # phi(u)/H(u)
    return q / (2 * (1.0 - q) ** 2) - alpha * float((_W * ratio * du).sum())


def gardner_q(alpha: float, kappa: float = 0.0) -> float:
    """RS typical overlap q(alpha) of two solutions of the spherical perceptron (0 at alpha = 0)."""
    if alpha < 0 or alpha >= gardner_capacity(kappa):
        raise ValueError(f"alpha={alpha}: the RS overlap exists for 0 <= alpha < alpha_c(kappa)")
    if alpha == 0:
        return 0.0
    return brentq(_dsdq, 1e-12, 1 - 1e-10, args=(alpha, kappa), xtol=1e-12)


def cover_probability(M: int, N: int) -> float:
    """Probability that M random dichotomies in N dims are linearly separable through the origin."""
    k = np.arange(min(N, M))
    logs = gammaln(M) - gammaln(k + 1) - gammaln(M - k) + (1 - M) * np.log(2.0)
    return float(min(np.exp(logs).sum(), 1.0))
