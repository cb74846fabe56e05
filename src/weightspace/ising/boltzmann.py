"""Boltzmann learning of the effective Ising model (paper Sec. III, Eq. 5; DESIGN 3.3).

Ascent on the log-likelihood: J += η(C^d − C^m), h += η(m^d − m^m), with model moments from a
pluggable ``moments_fn(J, h, state) -> (m, C, state)`` (warm-started BP by default; a persistent
Monte-Carlo chain has the same signature). Step rule Adam (default) or plain SGD (paper baseline:
lr_J 0.01, lr_h 0.3). Stops at Δ < tol or max_steps (paper: 0.01, 300).

Stability: a warm-started BP can sit on an *unstable* fixed point (it starts at the fixed point,
so the residual is tiny), while BP from scratch flows to an ordered state. Learning therefore
checks, from fresh N(0, 0.01²) messages, that the fixed point it tracks is the one BP reaches from
scratch, keeps the last (J, h) that passed as a checkpoint, and backtracks there with halved steps
when a check fails. Convergence is declared on Δ of the fresh start (delta_bp).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from weightspace.backend import array_module
from weightspace.ising.bp import PAPER_INIT_SCALE, BPResult, bp
from weightspace.ising.inverse import independent_pair, naive_mean_field
from weightspace.ising.moments import fit_delta

log = logging.getLogger(__name__)

MomentsFn = Callable[[Any, Any, Any], tuple[Any, Any, Any]]
INITS = ("independent_pair", "nmf", "zero")
AUTO_SHRINKS = (1.0, 0.7, 0.5, 0.3, 0.15, 0.0)


def bp_moments(
    damping: float = 0.5, tol: float = 1e-6, max_iter: int = 1000, seed: int = 0
) -> MomentsFn:
    """BP moments function; ``state`` is the previous BPResult (its messages warm-start the next
    call) or None for a fresh N(0, 0.01²) start."""

    def moments_fn(J: Any, h: Any, state: Any) -> tuple[Any, Any, BPResult]:
        warm = state.messages if isinstance(state, BPResult) else None
        r = bp(J, h, damping=damping, tol=tol, max_iter=max_iter, messages=warm, seed=seed)
        return r.m[0], r.C[0], r

    return moments_fn


@dataclass
class BoltzmannResult:
    """Learned J (N,N), h (N,); shrink applied to the closed-form start; delta[t] = Δ of the
    moments used at step t; delta_bp = Δ of BP started from fresh N(0, 0.01²) messages at the
    final (J, h); fresh_disagrees: that fresh start reached a different fixed point
    (max |Δm| > agree_tol) than the warm one; converged: delta_bp < tol with BP moments (with
    another moments_fn: its own last Δ < tol); n_backtracks: times
    learning returned to its last stable checkpoint; n_moment_failures: steps whose moments_fn
    reported non-convergence. If the final (J, h) fails the fresh-start check, the last
    checkpoint is returned and the flags describe it."""

    J: Any
    h: Any
    shrink: float | None
    delta: np.ndarray
    delta_bp: float
    fresh_disagrees: bool
    converged: bool
    steps: int
    n_backtracks: int
    n_moment_failures: int
    init: str
    seconds: float


def initial_parameters(
    m_d: Any, C_d: Any, init: str, shrink: float | None, ridge: float, seed: int = 0
) -> tuple[Any, Any, float | None]:
    """Closed-form start (J, h, shrink used): 'independent_pair' with couplings × ``shrink``; with
    shrink=None the factor in AUTO_SHRINKS whose fresh-start BP fits the data best (the exact
    independent-pair fixed point fits perfectly but may be unstable, so BP from scratch misses it);
    'nmf' (ridge-regularised, couplings × shrink); 'zero' (J = 0, h = atanh m)."""
    if init == "independent_pair" and shrink is None:
        best = None
        for s in AUTO_SHRINKS:
            inv = independent_pair(m_d, C_d, shrink=s)
            r = _fresh_bp(inv.J, inv.h, seed, 0.5, 1000)
            d = fit_delta(m_d, C_d, r.m[0], r.C[0]) if bool(r.converged.all()) else float("inf")
            if best is None or d < best[2]:
                best = (inv, s, d)
        return best[0].J, best[0].h, best[1]
    shrink = 1.0 if shrink is None else shrink
    if init == "independent_pair":
        inv = independent_pair(m_d, C_d, shrink=shrink)
    elif init == "nmf":
        inv = naive_mean_field(m_d, C_d, ridge=ridge)
        inv.J = shrink * inv.J
    elif init == "zero":
        inv, shrink = independent_pair(m_d, C_d, shrink=0.0), 0.0
    else:
        raise ValueError(f"init={init!r}: choose one of {', '.join(INITS)}")
    return inv.J, inv.h, shrink


class _Adam:
    """Adam ascent step on one parameter array (Kingma & Ba 2015)."""

    def __init__(self, like: Any, lr: float, b1: float = 0.9, b2: float = 0.999) -> None:
        xp = array_module(like)
        self.m, self.v, self.t = xp.zeros_like(like), xp.zeros_like(like), 0
        self.lr, self.b1, self.b2 = lr, b1, b2

    def step(self, g: Any) -> Any:
        xp = array_module(g)
        self.t += 1
        self.m = self.b1 * self.m + (1 - self.b1) * g
        self.v = self.b2 * self.v + (1 - self.b2) * g * g
        mhat = self.m / (1 - self.b1**self.t)
        vhat = self.v / (1 - self.b2**self.t)
        return self.lr * mhat / (xp.sqrt(vhat) + 1e-8)


def _fresh_bp(J: Any, h: Any, seed: int, damping: float, max_iter: int) -> BPResult:
    return bp(J, h, damping=damping, tol=1e-6, max_iter=max_iter, seed=seed,
              init_scale=PAPER_INIT_SCALE)


def boltzmann_learn(
    m_d: Any,
    C_d: Any,
    *,
    init: str = "independent_pair",
    shrink: float | None = None,
    ridge: float = 1e-3,
    J0: Any | None = None,
    h0: Any | None = None,
    moments_fn: MomentsFn | None = None,
    optimizer: str = "adam",
    lr_J: float = 0.002,
    lr_h: float = 0.01,
    l2: float = 0.0,
    tol: float = 0.01,
    max_steps: int = 300,
    check_every: int | None = 10,
    agree_tol: float = 1e-2,
    max_backtracks: int = 6,
    bp_damping: float = 0.5,
    bp_max_iter: int = 1000,
    seed: int = 0,
    log_every: int = 50,
) -> BoltzmannResult:
    """Fit J, h so that the model moments match (m_d, C_d) to Δ < tol (paper Eq. 5).

    Default start: independent-pair couplings shrunk by the factor (chosen automatically when
    ``shrink`` is None) whose BP from scratch fits the data best, with fields keeping single-site
    beliefs at the data. It is exact when the independent-pair fixed point is stable, and otherwise
    starts inside the region where the fixed point BP reaches from scratch is the tracked one.
    nMF is not the default: on low-rank, cluster-like data C_conn is near-singular and −C_conn⁻¹
    is dominated by the ridge. ``J0``/``h0`` override the closed-form start.

    Checks (every ``check_every`` steps, when Δ < tol, or when Δ more than doubles against the last
    checkpoint): BP from fresh N(0, 0.01²) messages must agree with the warm fixed point (max |Δm|
    ≤ agree_tol) and not be much worse than the checkpoint; then (J, h) becomes the checkpoint.
    Otherwise learning backtracks to the checkpoint and halves both step sizes (at most
    ``max_backtracks`` times, then it stops and returns the checkpoint). check_every=None turns
    the checks off (paper-style learning: stop on the warm Δ alone).
    """
    if optimizer not in ("adam", "sgd"):
        raise ValueError(f"optimizer={optimizer!r}: choose 'adam' or 'sgd'")
    if tol <= 0 or max_steps < 1 or (check_every is not None and check_every < 1):
        raise ValueError("boltzmann_learn: need tol > 0, max_steps ≥ 1, check_every ≥ 1 or None")
    t0 = time.perf_counter()
    xp = array_module(C_d)
    if J0 is not None and h0 is not None:
        J, h, init = xp.array(J0, dtype=C_d.dtype), xp.array(h0, dtype=C_d.dtype), "given"
        shrink = None
    else:
        J, h, shrink = initial_parameters(m_d, C_d, init, shrink, ridge, seed)
    moments_fn = moments_fn or bp_moments(damping=bp_damping, max_iter=bp_max_iter, seed=seed)
    off = 1.0 - xp.eye(m_d.shape[0], dtype=C_d.dtype)
    opt_J, opt_h = (_Adam(J, lr_J), _Adam(h, lr_h)) if optimizer == "adam" else (None, None)
    rates = [lr_J, lr_h]
    state: Any = None
    ckpt: tuple | None = None  # (J, h, state, delta) of the last (J, h) whose fresh start agreed
    trace: list[float] = []
    n_back = n_fail = 0
    fresh_seed = seed + 1
    for step in range(1, max_steps + 1):
        m_m, C_m, state = moments_fn(J, h, state)
        if isinstance(state, BPResult) and not bool(state.converged.all()):
            n_fail += 1
        delta = fit_delta(m_d, C_d, m_m, C_m)
        trace.append(delta)
        if check_every is None or not isinstance(state, BPResult):  # no fixed-point checks
            if delta < tol:
                break
        elif delta < tol or step % check_every == 0 or ckpt is None or delta > 2.0 * ckpt[3]:
            fresh = _fresh_bp(J, h, fresh_seed, bp_damping, bp_max_iter)
            fresh_seed += 1
            d_fresh = fit_delta(m_d, C_d, fresh.m[0], fresh.C[0])
            agrees = float(xp.abs(fresh.m[0] - m_m).max()) <= agree_tol
            if agrees and (ckpt is None or d_fresh < 1.5 * ckpt[3]):
                ckpt = (J, h, state, d_fresh)
                if d_fresh < tol:
                    break
            elif ckpt is not None and n_back < max_backtracks:
                n_back += 1
                J, h, state = ckpt[0], ckpt[1], ckpt[2]
                rates = [0.5 * r for r in rates]
                if opt_J is not None:
                    opt_J.lr, opt_h.lr = rates
                log.info("boltzmann step %d: fresh BP left the tracked fixed point; "
                         "backtrack %d, lr ×0.5", step, n_back)
                continue
            else:
                break
        if step % log_every == 0:
            rate = step / (time.perf_counter() - t0)
            log.info("boltzmann step %d  Δ=%.4g  (%.2f steps/s)", step, delta, rate)
        gJ = (C_d - C_m) * off - l2 * J
        gh = (m_d - m_m) - l2 * h
        if optimizer == "adam":
            J = J + opt_J.step(gJ)
            h = h + opt_h.step(gh)
        else:
            J = J + rates[0] * gJ
            h = h + rates[1] * gh
        J = 0.5 * (J + J.T)
    res = _finish(m_d, C_d, J, h, state, ckpt, trace, n_back, n_fail, init, t0, tol, agree_tol,
                  bp_damping, bp_max_iter, seed)
    res.shrink = shrink
    return res


def _finish(m_d, C_d, J, h, state, ckpt, trace, n_back, n_fail, init, t0, tol, agree_tol,
            bp_damping, bp_max_iter, seed) -> BoltzmannResult:
    """Final fresh-start check; fall back to the checkpoint when the last (J, h) fails it."""
    xp = array_module(C_d)
    fresh = _fresh_bp(J, h, seed + 10_000, bp_damping, bp_max_iter)
    uses_bp = isinstance(state, BPResult)
    warm_m = state.m[0] if uses_bp else fresh.m[0]
    disagrees = float(xp.abs(fresh.m[0] - warm_m).max()) > agree_tol
    delta_bp = fit_delta(m_d, C_d, fresh.m[0], fresh.C[0])
    if ckpt is not None and (disagrees or delta_bp > ckpt[3]) and ckpt[0] is not J:
        J, h, state = ckpt[0], ckpt[1], ckpt[2]
        fresh = _fresh_bp(J, h, seed + 10_000, bp_damping, bp_max_iter)
        delta_bp = fit_delta(m_d, C_d, fresh.m[0], fresh.C[0])
        disagrees = float(xp.abs(fresh.m[0] - state.m[0]).max()) > agree_tol
    if uses_bp:
        converged = delta_bp < tol and bool(fresh.converged.all())
    else:
        converged = trace[-1] < tol
    return BoltzmannResult(
        J=J, h=h, shrink=None, delta=np.asarray(trace), delta_bp=delta_bp,
        fresh_disagrees=disagrees, converged=converged, steps=len(trace),
        n_backtracks=n_back, n_moment_failures=n_fail, init=init,
        seconds=time.perf_counter() - t0,
    )
