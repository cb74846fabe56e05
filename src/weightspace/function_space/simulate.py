"""Finite-size simulation of a reference net and its perturbed copy (checks Li & Saad 2018 Eqs. 8, 11, 13-14).

N units per layer, sign activations (stochastic units at finite beta, Eq. 2), the same random
+-1 inputs fed to both nets, overlap q^l = (1/(N P)) sum_{i,mu} s_hat_i^l s_i^l measured at each
layer. Ties sgn(0) are sent to +1; use odd N (odd k) with +-1 weights to avoid them.
Kernels are written against ``xp`` (NumPy or CuPy).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import numpy as np

from ..backend import CounterRNG, array_module, get_xp, to_numpy

DTYPE = "float32"


def activate(h: Any, beta: float | None, rs: Any) -> Any:
    """+-1 outputs: sgn(h) (ties -> +1) for ``beta=None``, else P(s=+1) = (1 + tanh(beta h))/2 (Eq. 2)."""
    xp = array_module(h)
    if beta is None:
        return xp.where(h >= 0, 1.0, -1.0).astype(DTYPE)
    up = rs.random_sample(h.shape) < 0.5 * (1.0 + xp.tanh(beta * h))
    return xp.where(up, 1.0, -1.0).astype(DTYPE)


def random_inputs(n_inputs: int, n: int, m0: float, rs: Any, xp: ModuleType) -> Any:
    """``n_inputs`` random +-1 patterns of length ``n`` with mean ``m0`` per entry."""
    return xp.where(rs.random_sample((n_inputs, n)) < 0.5 * (1.0 + m0), 1.0, -1.0).astype(DTYPE)


def perturb(w_hat: Any, kind: str, strength: float, rs: Any, xp: ModuleType) -> Any:
    """Perturbed weights: ``gaussian`` sqrt(1-eta^2) w_hat + eta dw (Eq. 7) or ``binary`` flips w.p. p."""
    if kind == "gaussian":
        dw = rs.standard_normal(w_hat.shape).astype(DTYPE)
        return (math.sqrt(1.0 - strength**2) * w_hat + strength * dw).astype(DTYPE)
    if kind == "binary":
        flip = rs.random_sample(w_hat.shape) < strength
        return xp.where(flip, -w_hat, w_hat).astype(DTYPE)
    raise ValueError(f"simulate.kind={kind!r}: choose 'gaussian' or 'binary'")


def reference_weights(kind: str, n: int, rs: Any, xp: ModuleType) -> Any:
    """An N x N reference matrix: standard Gaussian or uniform +-1 entries."""
    if kind == "gaussian":
        return rs.standard_normal((n, n)).astype(DTYPE)
    if kind == "binary":
        return xp.where(rs.random_sample((n, n)) < 0.5, 1.0, -1.0).astype(DTYPE)
    raise ValueError(f"simulate.kind={kind!r}: choose 'gaussian' or 'binary'")


def dense_pair_overlaps(
    kind: str,
    strengths: Sequence[float],
    n: int,
    n_inputs: int,
    rs: Any,
    xp: ModuleType,
    beta: float | None = None,
) -> np.ndarray:
    """q^0..q^L of one sampled dense reference/perturbed pair (per-layer ``strengths`` eta_l or p_l)."""
    s_hat = random_inputs(n_inputs, n, 0.0, rs, xp)
    s = s_hat.copy()
    q = [1.0]
    for strength in strengths:
        w_hat = reference_weights(kind, n, rs, xp)
        w = perturb(w_hat, kind, float(strength), rs, xp)
        scale = 1.0 / math.sqrt(n)
        s_hat = activate(scale * (s_hat @ w_hat.T), beta, rs)
        s = activate(scale * (s @ w.T), beta, rs)
        q.append(float(to_numpy((s_hat * s).mean())))
    return np.asarray(q)


def sparse_wiring(n: int, k: int, rs: Any, xp: ModuleType) -> Any:
    """Random wiring with in-degree exactly k: row i holds k distinct input indices of unit i.

    Rows are drawn uniformly and redrawn until their k entries are distinct.
    """
    if not 1 <= k <= n:
        raise ValueError(f"majk.k={k}: must lie between 1 and the layer width {n}")
    idx = xp.floor(rs.random_sample((n, k)) * n).astype("int64")
    while True:
        srt = xp.sort(idx, axis=1)
        dup = (srt[:, 1:] == srt[:, :-1]).any(axis=1)
        n_dup = int(to_numpy(dup.sum()))
        if n_dup == 0:
            return idx
        idx[dup] = xp.floor(rs.random_sample((n_dup, k)) * n).astype("int64")


def majk_pair_observables(
    p: float, k: int, n: int, n_layers: int, m0: float, n_inputs: int, rs: Any, xp: ModuleType
) -> dict[str, np.ndarray]:
    """m_hat^l, m^l, q^l (l = 0..L) of one sampled sparse MAJ-k pair, reference weights +1."""
    if k % 2 == 0:
        raise ValueError(f"majk.k={k}: simulations need odd k so that sgn of a sum of k spins is +-1")
    s_hat = random_inputs(n_inputs, n, m0, rs, xp)
    s = s_hat.copy()
    obs = {"m_hat": [float(m0)], "m": [float(m0)], "q": [1.0]}
    for _ in range(n_layers):
        idx = sparse_wiring(n, k, rs, xp)
        w = xp.where(rs.random_sample((n, k)) < p, -1.0, 1.0).astype(DTYPE)
        s_hat = activate(s_hat[:, idx].sum(axis=-1), None, rs)
        s = activate((s[:, idx] * w).sum(axis=-1), None, rs)
        obs["m_hat"].append(float(to_numpy(s_hat.mean())))
        obs["m"].append(float(to_numpy(s.mean())))
        obs["q"].append(float(to_numpy((s_hat * s).mean())))
    return {key: np.asarray(v) for key, v in obs.items()}


def average_samples(sample_fn: Any, n_samples: int) -> dict[str, np.ndarray]:
    """Mean and standard error over ``n_samples`` calls of ``sample_fn()`` (dict or array results)."""
    if n_samples < 1:
        raise ValueError(f"simulate.samples={n_samples}: need at least one sample")
    runs = [sample_fn() for _ in range(n_samples)]
    if not isinstance(runs[0], dict):
        runs = [{"q": r} for r in runs]
    out = {}
    for key in runs[0]:
        stack = np.stack([r[key] for r in runs])
        out[key] = stack.mean(axis=0)
        sem = stack.std(axis=0, ddof=1) / math.sqrt(n_samples) if n_samples > 1 else np.nan
        out[key + "_sem"] = np.broadcast_to(sem, stack.shape[1:]).copy()
    return out


def simulate_dense(
    kind: str,
    strengths: Sequence[float],
    n: int,
    n_inputs: int,
    n_samples: int,
    seed: int = 0,
    beta: float | None = None,
    backend: str = "auto",
) -> dict[str, np.ndarray]:
    """Sample-averaged q^l (and its s.e.m.) for dense nets; compare with Eqs. 6, 8, 11."""
    xp = get_xp(backend)
    rs = CounterRNG(xp, seed)  # the same numbers on NumPy and CuPy
    return average_samples(lambda: dense_pair_overlaps(kind, strengths, n, n_inputs, rs, xp, beta), n_samples)


def simulate_majk(
    p: float,
    k: int,
    n: int,
    n_layers: int,
    m0: float,
    n_inputs: int,
    n_samples: int,
    seed: int = 0,
    backend: str = "auto",
) -> dict[str, np.ndarray]:
    """Sample-averaged m_hat^l, m^l, q^l for sparse MAJ-k nets; compare with Eqs. 13-14."""
    xp = get_xp(backend)
    rs = CounterRNG(xp, seed)  # the same numbers on NumPy and CuPy
    return average_samples(lambda: majk_pair_observables(p, k, n, n_layers, m0, n_inputs, rs, xp), n_samples)
