"""Dense belief propagation for the pairwise Ising model (DESIGN 3.3; paper App. C, Eqs. C1–C3).

With t_ij = tanh J_ij and messages M[b,i,j] = m_{i→j}:
  u_{k→i} = atanh(t_ik m_{k→i}),  H_i = h_i + Σ_k u_{k→i},
  m_{i→j} = tanh(H_i − u_{j→i}),  m_i = tanh H_i,
  C_ij = (t_ij + m_{i→j}m_{j→i}) / (1 + t_ij m_{i→j}m_{j→i}) = tanh(J_ij + atanh(m_{i→j}m_{j→i})).
Bethe free energy βF = Σ_i βF_i − Σ_{i<j} βF_ij (Eq. C1), evaluated in log-domain form
  βF_i  = −[Σ_k ln cosh J_ik − Σ_k ln cosh u_{k→i} + ln 2cosh H_i],
  βF_ij = −[ln cosh(J_ij + atanh x_ij) + ½ ln(1 − x_ij²)],  x_ij = m_{i→j}m_{j→i},
which equal the DESIGN expressions and stay finite for strong fields and saturated messages.
All systems b of a batch share the iteration (parallel, damped); each reports its own residual.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from weightspace.backend import array_module
from weightspace.ising.moments import mean_energy

PAPER_INIT_SCALE = 0.01  # initial messages ~ N(0, 0.01²) (paper App. C)


@dataclass
class BPResult:
    """BP output per system b: m (B,N), C (B,N,N), messages (B,N,N), free_energy βF (B,),
    energy (B,), entropy (B,) = E − F, iterations (B,) (first iteration with residual < tol,
    max_iter if never), residual (B,) max |f(M) − M| at the last iteration, converged (B,)."""

    m: Any
    C: Any
    messages: Any
    free_energy: Any
    energy: Any
    entropy: Any
    iterations: Any
    residual: Any
    converged: Any


def _check(J: Any, h: Any) -> tuple[Any, Any]:
    xp = array_module(J)
    h = h[None, :] if h.ndim == 1 else h
    n = h.shape[-1]
    if J.ndim not in (2, 3) or h.ndim != 2 or J.shape[-2:] != (n, n):
        raise ValueError(f"bp: J {J.shape} / h {h.shape}: need J (N,N) or (B,N,N), h (N,) or (B,N)")
    if J.ndim == 3 and J.shape[0] != h.shape[0]:
        raise ValueError(f"bp: J {J.shape} / h {h.shape}: batched J needs one h row per system")
    if not bool(xp.all(xp.diagonal(J, axis1=-2, axis2=-1) == 0)):
        raise ValueError("bp: J must have a zero diagonal (set J_ii = 0; self-terms are constants)")
    if not bool(xp.all(xp.isfinite(J))) or not bool(xp.all(xp.isfinite(h))):
        raise ValueError("bp: J and h must be finite")
    return J, h


def random_messages(shape: tuple[int, ...], scale: float, seed: int, xp: Any) -> Any:
    """Initial messages N(0, scale²) (paper: scale 0.01), clipped into (−1, 1); host RNG so that
    NumPy and CuPy runs start identically."""
    msg = np.random.default_rng(seed).normal(0.0, scale, size=shape)
    return xp.asarray(np.clip(msg, -0.999, 0.999))


def _clip_bound(dtype: Any) -> float:
    return 1.0 - 4.0 * float(np.finfo(dtype).eps)


def _edge_fields(T: Any, M: Any, out: Any, xp: Any) -> Any:
    """out[b,k,i] = u_{k→i} = atanh(t_ki m_{k→i}) with the argument clipped inside (−1, 1)."""
    c = _clip_bound(out.dtype)
    xp.multiply(T, M, out=out)
    xp.clip(out, -c, c, out=out)
    return xp.arctanh(out, out=out)


def _log_cosh(x: Any) -> Any:
    xp = array_module(x)
    a = xp.abs(x)
    return a + xp.log1p(xp.exp(-2.0 * a)) - math.log(2.0)


def bp(
    J: Any,
    h: Any,
    *,
    damping: float = 0.5,
    tol: float = 1e-6,
    max_iter: int = 1000,
    messages: Any | None = None,
    seed: int = 0,
    init_scale: float = PAPER_INIT_SCALE,
) -> BPResult:
    """Run damped parallel BP on J (N,N) shared by h (B,N), or on J (B,N,N) with h (B,N).

    M ← damping·M + (1−damping)·f(M); stops when every system's residual max|f(M)−M| < tol or
    after max_iter. ``messages`` (B,N,N) or (N,N) warm-starts; otherwise N(0, init_scale²).
    """
    if not 0.0 <= damping < 1.0:
        raise ValueError(f"bp: damping={damping} must lie in [0, 1)")
    if max_iter < 1 or tol <= 0:
        raise ValueError(f"bp: need max_iter ≥ 1 and tol > 0 (got {max_iter}, {tol})")
    J, h = _check(J, h)
    xp = array_module(J)
    nb, n = h.shape
    T = xp.tanh(J)
    if messages is None:
        M = random_messages((nb, n, n), init_scale, seed, xp).astype(J.dtype)
    else:
        M = xp.array(xp.broadcast_to(messages, (nb, n, n)), dtype=J.dtype)
    U = xp.empty_like(M)
    G = xp.empty_like(M)
    diag = xp.arange(n)
    M[:, diag, diag] = 0.0  # m_{i→i} is unused (t_ii = 0); kept at 0
    iterations = np.full(nb, max_iter)
    residual = xp.full(nb, xp.inf)
    for it in range(1, max_iter + 1):
        _edge_fields(T, M, U, xp)
        H = h + U.sum(axis=1)
        xp.subtract(H[:, :, None], U.transpose(0, 2, 1), out=G)
        xp.tanh(G, out=G)  # f(M)
        xp.subtract(G, M, out=U)  # f(M) − M
        U[:, diag, diag] = 0.0
        residual = xp.maximum(U.max(axis=(1, 2)), -U.min(axis=(1, 2)))
        U *= 1.0 - damping
        M += U
        done = np.asarray(_to_host(residual) < tol)
        iterations = np.where(done & (iterations == max_iter) & (it < max_iter), it, iterations)
        if done.all():
            break
    return _observables(J, h, T, M, U, residual, iterations, tol)


def _to_host(a: Any) -> np.ndarray:
    return a.get() if hasattr(a, "get") else np.asarray(a)


def _observables(
    J: Any, h: Any, T: Any, M: Any, U: Any, residual: Any, iterations: np.ndarray, tol: float
) -> BPResult:
    """m, C, Bethe βF, E and S at messages M (Eqs. C1, C3)."""
    xp = array_module(J)
    c = _clip_bound(M.dtype)
    _edge_fields(T, M, U, xp)
    H = h + U.sum(axis=1)
    m = xp.tanh(H)
    site = -(_log_cosh(J).sum(axis=-1) - _log_cosh(U).sum(axis=1) + _log_cosh(H) + math.log(2.0))
    x = M * M.transpose(0, 2, 1)
    xp.clip(x, -c, c, out=x)
    idx = xp.arange(x.shape[-1])
    x[:, idx, idx] = 0.0
    ax = xp.arctanh(x)
    pair = -(_log_cosh(J + ax) + 0.5 * xp.log1p(-x * x))
    C = xp.tanh(J + ax)
    C[:, idx, idx] = 1.0
    free = site.sum(axis=-1) - 0.5 * pair.sum(axis=(1, 2))
    energy = mean_energy(J, h, m, C)
    return BPResult(
        m=m,
        C=C,
        messages=M,
        free_energy=free,
        energy=energy,
        entropy=energy - free,
        iterations=iterations,
        residual=residual,
        converged=residual < tol,
    )


@dataclass
class MultiStartResult:
    """BP from several starts: runs[s] per start, m_spread (B,) = max_{s,s'} max_i |m^s_i − m^s'_i|
    over converged runs, disagree (B,) = m_spread > agree_tol, best (B,) index of the converged run
    with the lowest Bethe βF (−1 if no run converged)."""

    runs: list[BPResult] = field(repr=False)
    m_spread: Any
    disagree: Any
    best: np.ndarray


def bp_multistart(
    J: Any,
    h: Any,
    *,
    n_starts: int = 4,
    init_scale: float = 0.5,
    seed: int = 0,
    agree_tol: float = 1e-3,
    **bp_kwargs: Any,
) -> MultiStartResult:
    """Detect several BP fixed points: start 0 from the paper's N(0, 0.01²) messages, the others
    from broad N(0, init_scale²) messages that can fall into ordered fixed points."""
    if n_starts < 2:
        raise ValueError(f"bp_multistart: n_starts={n_starts} must be ≥ 2 to compare fixed points")
    runs = [
        bp(J, h, seed=seed + s, init_scale=PAPER_INIT_SCALE if s == 0 else init_scale, **bp_kwargs)
        for s in range(n_starts)
    ]
    xp = array_module(runs[0].m)
    ms = xp.stack([r.m for r in runs])  # (S,B,N)
    ok = xp.stack([r.converged for r in runs])  # (S,B)
    big = xp.where(ok[:, :, None], ms, xp.nan)
    hi = xp.nanmax(big, axis=0) if bool(ok.any()) else xp.zeros_like(ms[0])
    lo = xp.nanmin(big, axis=0) if bool(ok.any()) else xp.zeros_like(ms[0])
    spread = xp.nan_to_num(hi - lo).max(axis=-1)
    free = xp.stack([xp.where(r.converged, r.free_energy, xp.inf) for r in runs])
    best = np.where(_to_host(ok.any(axis=0)), _to_host(free.argmin(axis=0)), -1)
    return MultiStartResult(runs=runs, m_spread=spread, disagree=spread > agree_tol, best=best)
