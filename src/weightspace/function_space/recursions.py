"""Layer-to-layer overlap recursions of two coupled deep nets (Li & Saad, PRL 120, 248301, 2018).

Dense nets (N -> inf), reference weights w_hat and perturbed weights w, the same +-1 input
(q^0 = 1). The local fields (h_hat, h) of layer l are jointly Gaussian with unit variance
(in units of sigma) and correlation rho_l q^{l-1} (Eqs. 7, 10), where

- continuous weights, w = sqrt(1 - eta^2) w_hat + eta dw: rho = sqrt(1 - eta^2)  (Eq. 7)
- binary weights flipped with probability p:              rho = 1 - 2p          (Eq. 10)

and the next overlap is q^l = <tanh(beta h_hat) tanh(beta h)> (Eq. 6), which for beta -> inf
is q^l = (2/pi) asin(rho_l q^{l-1}) (Eqs. 8, 11).

Sparse MAJ-k nets (Eqs. 13-14): each unit reads k random units of the layer below through
weights w_hat = +1 (perturbed: flipped with probability p) and outputs sgn of the sum.

All functions take arrays and work unchanged on NumPy and CuPy arrays.
"""

from __future__ import annotations

import math
from typing import Any

from ..backend import array_module

GAUSS_HALF_WIDTH = 9.0


def rho_continuous(eta: Any) -> Any:
    """Field correlation factor sqrt(1 - eta^2) of a Gaussian perturbation of strength eta (Eq. 7)."""
    xp = array_module(eta)
    return xp.sqrt(1.0 - xp.asarray(eta) ** 2)


def rho_binary(p: Any) -> Any:
    """Field correlation factor 1 - 2p of binary weights flipped with probability p (Eq. 10)."""
    return 1.0 - 2.0 * p


def tanh_overlap(c: Any, beta: float | None = None) -> Any:
    """q = <tanh(beta h_hat) tanh(beta h)> for unit-variance fields of correlation c (Eq. 6).

    ``beta=None`` is the deterministic limit (2/pi) asin(c) (Eqs. 8, 11). For finite beta the
    fields are written h_hat, h = sqrt(|c|) u + sqrt(1 - |c|) (z1, +-z2), so that
    q = sign(c) E_u[g(u)^2] with g(u) = E_z tanh(beta (sqrt(|c|) u + sqrt(1 - |c|) z)); both
    Gaussian integrals use the trapezoid rule (exponentially accurate for these analytic
    integrands) with step min(0.25, 0.25 / beta) on [-9, 9], so the cost grows as beta^2.
    Fields are in units of the weight standard deviation sigma (beta means beta * sigma).
    """
    xp = array_module(c)
    c = xp.clip(xp.asarray(c, dtype=float), -1.0, 1.0)
    if beta is None:
        return (2.0 / math.pi) * xp.arcsin(c)
    if not beta > 0:
        raise ValueError(f"beta={beta}: must be positive (or null for the deterministic limit)")
    step = min(0.25, 0.25 / beta)
    x = xp.arange(-GAUSS_HALF_WIDTH, GAUSS_HALF_WIDTH + 0.5 * step, step)
    w = xp.exp(-0.5 * x**2)
    w = w / w.sum()
    a = xp.sqrt(xp.abs(c))[..., None, None]
    b = xp.sqrt(1.0 - xp.abs(c))[..., None, None]
    g = (xp.tanh(beta * (a * x[:, None] + b * x[None, :])) * w[None, :]).sum(axis=-1)
    return xp.sign(c) * (g**2 * w).sum(axis=-1)


def dense_overlaps(rho: Any, q0: float = 1.0, beta: float | None = None) -> Any:
    """Overlaps q^0..q^L from per-layer correlation factors ``rho`` [..., L] (Eqs. 6, 8, 11).

    Returns an array [..., L + 1] whose first entry is ``q0``.
    """
    xp = array_module(rho)
    rho = xp.asarray(rho, dtype=float)
    q = xp.full(rho.shape[:-1], float(q0))
    out = [q]
    for layer in range(rho.shape[-1]):
        q = tanh_overlap(rho[..., layer] * q, beta)
        out.append(q)
    return xp.stack(out, axis=-1)


def continuous_overlaps(eta: Any, q0: float = 1.0, beta: float | None = None) -> Any:
    """Dense Gaussian-weight nets: q^0..q^L for perturbation strengths ``eta`` [..., L] (Eq. 8)."""
    return dense_overlaps(rho_continuous(eta), q0, beta)


def binary_overlaps(p: Any, q0: float = 1.0, beta: float | None = None) -> Any:
    """Dense +-1-weight nets: q^0..q^L for flip probabilities ``p`` [..., L] (Eq. 11)."""
    return dense_overlaps(rho_binary(p), q0, beta)


def _pair_sum_distribution(m_hat: Any, m: Any, q: Any, rho: Any, k: int) -> Any:
    """Joint law of (sum_j s_hat_j, sum_j w_j s_j) over k i.i.d. inputs, shape [..., 2k+1, 2k+1].

    One input pair has P(s_hat, s~) = (1 + s_hat m_hat + s~ rho m + s_hat s~ rho q) / 4 with
    s~ = w s the perturbed weight times the perturbed input (the summand of Eqs. 13-14).
    """
    xp = array_module(m)
    batch = xp.broadcast(m_hat, m, q, rho).shape
    dist = xp.zeros(batch + (2 * k + 1, 2 * k + 1))
    dist[..., k, k] = 1.0
    one = {(a, b): 0.25 * (1 + a * m_hat + b * rho * m + a * b * rho * q) for a in (1, -1) for b in (1, -1)}
    n = 2 * k + 1
    for _ in range(k):
        new = xp.zeros_like(dist)
        for (a, b), prob in one.items():
            src_a = slice(max(0, -a), n - max(0, a))
            src_b = slice(max(0, -b), n - max(0, b))
            dst_a = slice(max(0, a), n - max(0, -a))
            dst_b = slice(max(0, b), n - max(0, -b))
            new[..., dst_a, dst_b] += xp.asarray(prob)[..., None, None] * dist[..., src_a, src_b]
        dist = new
    return dist


def majk_step(m_hat: Any, m: Any, q: Any, p: Any, k: int) -> tuple[Any, Any, Any]:
    """One layer of the sparse MAJ-k recursion (Eqs. 13-14): (m_hat, m, q)^{l-1} -> ^l.

    Reference weights are +1, perturbed ones flipped with probability ``p``; sgn(0) = 0, so
    even k is allowed by the formula (the networks themselves need odd k to be +-1 valued).
    """
    xp = array_module(m)
    dist = _pair_sum_distribution(m_hat, m, q, rho_binary(p), k)
    sgn = xp.sign(xp.arange(-k, k + 1, dtype=float))
    m_hat_new = (dist * sgn[:, None]).sum(axis=(-2, -1))
    m_new = (dist * sgn[None, :]).sum(axis=(-2, -1))
    q_new = (dist * (sgn[:, None] * sgn[None, :])).sum(axis=(-2, -1))
    return m_hat_new, m_new, q_new


def majk_trajectory(p: Any, k: int, n_layers: int, m0: float, q0: float = 1.0) -> dict[str, Any]:
    """Iterate Eqs. 13-14 for ``n_layers`` layers from m_hat^0 = m^0 = ``m0``, q^0 = ``q0``.

    ``p`` may be an array (a sweep); returns ``m_hat``, ``m``, ``q`` of shape [..., n_layers + 1].
    """
    xp = array_module(p)
    p = xp.asarray(p, dtype=float)
    m_hat = xp.full(p.shape, float(m0))
    m = xp.full(p.shape, float(m0))
    q = xp.full(p.shape, float(q0))
    hist = {"m_hat": [m_hat], "m": [m], "q": [q]}
    for _ in range(n_layers):
        m_hat, m, q = majk_step(m_hat, m, q, p, k)
        hist["m_hat"].append(m_hat)
        hist["m"].append(m)
        hist["q"].append(q)
    return {key: xp.stack(v, axis=-1) for key, v in hist.items()}
