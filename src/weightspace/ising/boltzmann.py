"""Boltzmann learning of the effective Ising model (paper Sec. III, Eq. 5; docs/design.md §3.3).

Ascent on the log-likelihood: J += η(C^d − C^m), h += η(m^d − m^m), with model moments from a
pluggable ``moments_fn(J, h, state) -> (m, C, state)`` (warm-started BP by default; a persistent
Monte-Carlo chain has the same signature). Step rule Adam (default) or plain SGD (paper baseline:
lr_J 0.01, lr_h 0.3). Stops at Δ < tol or max_steps (paper: 0.01, 300).

Noisy (Monte-Carlo) moments: Adam divides by the gradient's RMS, so on noise it walks J with
steps ~lr; plain SGD keeps the likelihood gradient's natural scale. Two options serve this case:
``center`` — the centred parametrisation E = −Σ_{i<j} J_ij (σ_i − c_i)(σ_j − c_j) − Σ a_i σ_i with
c = m^d (the centring trick, Melchior et al. 2016), whose gradients
g_J = (C^d − C^m)_ij − c_i (m^d − m^m)_j − c_j (m^d − m^m)_i, g_a = m^d − m^m decouple couplings
from fields (h = a − J c, so Δh = Δa − ΔJ c); and ``window`` — Polyak–Ruppert averaging in
windows of W steps: at the end of each window the iterates (J, h) and the model moments are
averaged over it, Δ of the averaged moments (noise ÷ √W, and ≈ the moments of the averaged
(J, h) to first order) is the stopping criterion, and the averaged (J, h) is what is returned.

Stability (BP moments): a warm-started BP can sit on an *unstable* fixed point (it starts at the
fixed point, so the residual is tiny), while BP from scratch flows to an ordered state. Learning
therefore checks every ``check_every`` steps the spectral radius of the BP Jacobian at the tracked
fixed point (ising.stability; must stay below ``max_radius``) and, when the warm Δ beats the best
model so far, BP from fresh N(0, 0.01²) messages (it must reach the tracked fixed point). It keeps
the best model by fresh-start Δ (delta_bp) and, when a check fails, backtracks there with halved
steps (an improvement raises them again; ``max_backtracks`` failures in a row end learning: a
budget, i.e. a heuristic, not a proof that no better model exists; ``stopped`` says which rule
ended learning). No estimate of what is reachable stops learning.

Default start ('stable_pair'): BP beliefs fix (J, h) uniquely (independent-pair inversion,
ising.inverse), so the start is the independent-pair inversion of the data's correlations, unclipped
if its fixed point is stable, otherwise with the modes of K = D^{-1/2} C^c D^{-1/2} clipped at the
largest ρ (bisection, continuation from the unclipped data towards J = 0) whose fixed point has
Jacobian radius < ``max_radius``; BP from scratch must then reach it (else ρ is lowered).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from weightspace.backend import array_module
from weightspace.ising.bp import PAPER_INIT_SCALE, BPResult, bp
from weightspace.ising.inverse import (
    correlation_spectrum,
    independent_pair,
    naive_mean_field,
    stable_correlations,
)
from weightspace.ising.moments import fit_delta
from weightspace.ising.stability import bp_jacobian_radius

log = logging.getLogger(__name__)

MomentsFn = Callable[[Any, Any, Any], tuple[Any, Any, Any]]
INITS = ("stable_pair", "independent_pair", "nmf", "zero")
START_RADIUS = 0.99  # bisection bound on the 'stable_pair' start's BP Jacobian radius ...
LOWER, N_LOWER = 0.97, 12  # ... then ρ is lowered by this factor until BP from scratch reaches the fixed point
MAX_RADIUS = 1.0  # learning keeps the tracked fixed point linearly stable (and reached from scratch)
WARM_MAX_ITER = 200  # warm-started BP that needs more updates has left the tracked fixed point
N_BISECT = 8  # bisection steps on the clipping level ρ of the 'stable_pair' start


def bp_moments(damping: float = 0.5, tol: float = 1e-6, max_iter: int = 1000, seed: int = 0) -> MomentsFn:
    """BP moments function; ``state`` is the previous BPResult (its messages warm-start the next
    call) or None for a fresh N(0, 0.01²) start."""

    def moments_fn(J: Any, h: Any, state: Any) -> tuple[Any, Any, BPResult]:
        warm = state.messages if isinstance(state, BPResult) else None
        r = bp(J, h, damping=damping, tol=tol, max_iter=max_iter, messages=warm, seed=seed)
        return r.m[0], r.C[0], r

    return moments_fn


@dataclass
class BoltzmannResult:
    """Learned J (N,N), h (N,); shrink applied to the closed-form start; rho the clipping level of
    the 'stable_pair' start (inf: unclipped, None: no level reached, J = 0); delta[t] = Δ of the
    moments used at step t; delta_bp = Δ of BP started from fresh N(0, 0.01²) messages at the
    returned (J, h); delta_bp_start the same at the start; checks (K, 2) = (step, delta_bp) of
    every fresh-start check (step 0: the start); radius = BP Jacobian radius at the returned model's
    fixed point (nan if not computed); fresh_disagrees: that fresh start reached a different fixed
    point (max |Δm| > agree_tol) than the warm one; converged: delta_bp < tol with BP moments
    (with another moments_fn: its own last Δ < tol); n_backtracks: times learning returned to the
    best model; n_moment_failures: steps whose moments_fn reported non-convergence; stopped: what
    ended learning ('tol', 'max_steps' or 'backtracks', the last a heuristic budget);
    delta_window[k] = Δ of the model moments averaged over the k-th window (``window`` learning)."""

    J: Any
    h: Any
    shrink: float | None
    rho: float | None
    delta: np.ndarray
    delta_bp: float
    fresh_disagrees: bool
    converged: bool
    steps: int
    n_backtracks: int
    n_moment_failures: int
    init: str
    seconds: float
    delta_bp_start: float = float("nan")
    radius: float = float("nan")
    checks: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    stopped: str = "max_steps"
    delta_window: np.ndarray = field(default_factory=lambda: np.zeros(0))


@dataclass
class Start:
    """Closed-form start of learning: J, h, shrink (independent_pair / nmf), rho (stable_pair; see
    BoltzmannResult), radius of its BP fixed point and its fresh-start BPResult (when checked)."""

    J: Any
    h: Any
    shrink: float | None = None
    rho: float | None = None
    radius: float = float("nan")
    fresh: BPResult | None = None


def _reached(fresh: BPResult, m_target: Any, agree_tol: float, max_iter: int | None = None) -> bool:
    """BP from scratch converged to the fixed point whose beliefs are m_target (with ``max_iter``:
    within half of it, so that other random starts converge too near the edge of stability)."""
    xp = array_module(m_target)
    fast = max_iter is None or int(np.max(fresh.iterations)) <= max_iter // 2
    return bool(fresh.converged.all()) and fast and float(xp.abs(fresh.m[0] - m_target).max()) <= agree_tol


def stable_pair_start(
    m_d: Any,
    C_d: Any,
    seed: int = 0,
    damping: float = 0.5,
    max_iter: int = 1000,
    agree_tol: float = 1e-2,
    max_radius: float = START_RADIUS,
) -> Start:
    """Independent-pair inversion of the data (module docstring): unclipped if BP from scratch
    reaches its fixed point, else the modes of K clipped at the largest ρ ∈ [0, λ_max(K)]
    (bisection on the radius, N_BISECT steps) below max_radius. BP from fresh N(0, 0.01²) messages
    must reach the chosen fixed point (max_i |m_i − m^d_i| ≤ agree_tol, within max_iter / 2 updates:
    near radius 1 it converges ever more slowly); if it does not, ρ is lowered (× LOWER, up to
    N_LOWER times); J = 0, h = atanh m as the last resort."""
    sp = correlation_spectrum(m_d, C_d)

    def level(rho: float) -> tuple[Any, float]:
        target = C_d if rho == float("inf") else stable_correlations(m_d, C_d, rho, sp)
        inv = independent_pair(m_d, target)
        return inv, bp_jacobian_radius(inv.J, inv.messages, seed=seed)

    rho = float("inf")
    inv, radius = level(rho)
    fresh = _fresh_bp(inv.J, inv.h, seed, damping, max_iter)
    if _reached(fresh, m_d, agree_tol, max_iter):  # the data's own fixed point: exact
        return Start(inv.J, inv.h, rho=rho, radius=radius, fresh=fresh)
    lo, hi, best = 0.0, float(sp.values.max()), None
    for _ in range(N_BISECT):
        mid = 0.5 * (lo + hi)
        cand, r = level(mid)
        if r < max_radius:
            lo, best = mid, (cand, r)
        else:
            hi = mid
    rho = lo
    inv, radius = best if best is not None else level(lo)
    for _ in range(N_LOWER):
        fresh = _fresh_bp(inv.J, inv.h, seed, damping, max_iter)
        if _reached(fresh, m_d, agree_tol, max_iter):
            return Start(inv.J, inv.h, rho=rho, radius=radius, fresh=fresh)
        log.info("stable_pair start: rho=%.3g (radius %.3f) not reached by BP from scratch", rho, radius)
        rho = LOWER * min(rho, float(sp.values.max()))
        inv, radius = level(rho)
    inv = independent_pair(m_d, C_d, shrink=0.0)
    return Start(inv.J, inv.h, rho=None, radius=0.0)


def initial_parameters(
    m_d: Any,
    C_d: Any,
    init: str,
    shrink: float | None,
    ridge: float,
    seed: int = 0,
    damping: float = 0.5,
    max_iter: int = 1000,
    max_radius: float = START_RADIUS,
) -> Start:
    """Closed-form start: 'stable_pair' (:func:`stable_pair_start`), 'independent_pair' with
    couplings × ``shrink`` (default 1: the exact fixed point, possibly unstable), 'nmf'
    (ridge-regularised, couplings × shrink), 'zero' (J = 0, h = atanh m)."""
    if init == "stable_pair":
        return stable_pair_start(m_d, C_d, seed, damping, max_iter, max_radius=max_radius)
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
    return Start(inv.J, inv.h, shrink=shrink)


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
    return bp(J, h, damping=damping, tol=1e-6, max_iter=max_iter, seed=seed, init_scale=PAPER_INIT_SCALE)


def boltzmann_learn(
    m_d: Any,
    C_d: Any,
    *,
    init: str = "stable_pair",
    shrink: float | None = None,
    ridge: float = 1e-3,
    J0: Any | None = None,
    h0: Any | None = None,
    moments_fn: MomentsFn | None = None,
    optimizer: str = "adam",
    lr_J: float = 0.002,
    lr_h: float = 0.01,
    l2: float = 0.0,
    center: bool = False,
    window: int | None = None,
    tol: float = 0.01,
    max_steps: int = 300,
    check_every: int | None = 10,
    agree_tol: float = 1e-2,
    start_radius: float = START_RADIUS,
    max_radius: float = MAX_RADIUS,
    max_backtracks: int = 6,
    bp_damping: float = 0.5,
    bp_max_iter: int = 1000,
    seed: int = 0,
    log_every: int = 50,
) -> BoltzmannResult:
    """Fit J, h so that the model moments match (m_d, C_d) to Δ < tol (paper Eq. 5).

    Default start: 'stable_pair' (module docstring) — exact when the independent-pair fixed point
    of the data is stable, otherwise the data's correlations clipped to the edge of BP stability.
    nMF is not the default: on low-rank, cluster-like data C_conn is near-singular and −C_conn⁻¹
    is dominated by the ridge. ``J0``/``h0`` override the closed-form start.

    With BP moments and ``check_every`` set, learning always runs: warm-started BP moments, Adam
    (or SGD) steps; every ``check_every`` steps (and when Δ < tol or Δ more than doubles against
    the best) the tracked fixed point must be stable (Jacobian radius < ``max_radius``) and, when
    its warm Δ beats the best model's delta_bp, BP from fresh N(0, 0.01²) messages must reach it
    (max |Δm| ≤ agree_tol); its fresh Δ then competes for the best model. A failed check returns
    to the best model with halved steps; an improvement raises them by 1.25 (up to the initial
    rates); after ``max_backtracks`` failed checks in a row learning stops.
    The best model by fresh-start Δ is returned. check_every=None turns the checks off
    (paper-style learning: stop on the warm Δ alone).

    ``center`` and ``window`` (module docstring) are meant for noisy moments (a Monte-Carlo
    ``moments_fn``, no fixed-point checks): with ``window`` learning stops when Δ of the
    window-averaged moments is < tol and returns the window-averaged (J, h) with the lowest such Δ.
    """
    if optimizer not in ("adam", "sgd"):
        raise ValueError(f"optimizer={optimizer!r}: choose 'adam' or 'sgd'")
    if tol <= 0 or max_steps < 1 or (check_every is not None and check_every < 1):
        raise ValueError("boltzmann_learn: need tol > 0, max_steps ≥ 1, check_every ≥ 1 or None")
    if window is not None and (window < 1 or moments_fn is None):
        raise ValueError("boltzmann_learn: window needs window ≥ 1 and a (Monte-Carlo) moments_fn")
    t0 = time.perf_counter()
    xp = array_module(C_d)
    if J0 is not None and h0 is not None:
        start = Start(xp.array(J0, dtype=C_d.dtype), xp.array(h0, dtype=C_d.dtype))
        init = "given"
    else:
        start = initial_parameters(m_d, C_d, init, shrink, ridge, seed, bp_damping, bp_max_iter, start_radius)
    checked = moments_fn is None and check_every is not None and window is None
    moments_fn = moments_fn or bp_moments(damping=bp_damping, max_iter=min(bp_max_iter, WARM_MAX_ITER), seed=seed)
    J, h = start.J, start.h
    fresh = start.fresh if checked and start.fresh is not None else _fresh_bp(J, h, seed, bp_damping, bp_max_iter)
    d_start = fit_delta(m_d, C_d, fresh.m[0], fresh.C[0])
    best = _Best(J, h, fresh if _reached(fresh, fresh.m[0], agree_tol) else None, d_start, start.radius)
    checks = [(0, d_start)]
    state: Any = fresh if checked else None
    off = 1.0 - xp.eye(m_d.shape[0], dtype=C_d.dtype)
    opt_J, opt_h = (_Adam(J, lr_J), _Adam(h, lr_h)) if optimizer == "adam" else (None, None)
    rates = [lr_J, lr_h]
    trace: list[float] = []
    win = _Window(m_d, C_d) if window else None
    n_back = n_stall = n_fail = 0  # backtracks in all, since the last improvement; moment failures
    fresh_seed = seed + 1
    stopped = "max_steps"
    for step in range(1, max_steps + 1):
        m_m, C_m, state = moments_fn(J, h, state)
        bp_ok = not isinstance(state, BPResult) or bool(state.converged.all())
        n_fail += not bp_ok
        delta = fit_delta(m_d, C_d, m_m, C_m)
        trace.append(delta)
        if win is not None:
            win.add(J, h, m_m, C_m)
            if step % window == 0:
                d_win = win.close()
                log.info("boltzmann step %d  window-averaged Δ=%.4g", step, d_win)
                if d_win < tol:
                    stopped = "tol"
                    break
        elif not checked:
            if delta < tol:
                stopped = "tol"
                break
        elif best.delta_bp < tol:
            stopped = "tol"
            break
        elif delta < tol or step % check_every == 0 or delta > 2.0 * best.delta_bp or not bp_ok:
            left = delta > 2.0 * best.delta_bp or not bp_ok  # the warm BP left the tracked fixed point
            radius = float("inf") if left else bp_jacobian_radius(J, state.messages, seed=seed)
            ok = radius < max_radius
            if ok and delta < best.delta_bp:
                fresh = _fresh_bp(J, h, fresh_seed, bp_damping, bp_max_iter)
                fresh_seed += 1
                d_fresh = fit_delta(m_d, C_d, fresh.m[0], fresh.C[0])
                checks.append((step, d_fresh))
                ok = _reached(fresh, m_m, agree_tol, bp_max_iter)
                if ok and d_fresh < best.delta_bp:
                    best = _Best(J, h, fresh, d_fresh, radius)
                    n_stall = 0
                    rates = [min(1.25 * r, r0) for r, r0 in zip(rates, (lr_J, lr_h), strict=True)]
                    if opt_J is not None:
                        opt_J.lr, opt_h.lr = rates
            if not ok:
                if n_stall >= max_backtracks:
                    stopped = "backtracks"
                    log.info("boltzmann step %d: %d failed checks in a row, learning stops (a step budget, not "
                             "a bound); best delta_bp=%.4g", step, n_stall, best.delta_bp)
                    break
                n_back += 1
                n_stall += 1
                J, h, state = best.J, best.h, best.fresh
                rates = [0.5 * r for r in rates]
                if opt_J is not None:
                    opt_J.lr, opt_h.lr = rates
                log.info("boltzmann step %d: unstable or unreached fixed point (radius %.3f); back to the best model, "
                         "lr ×0.5 (%d)", step, radius, n_back)
                continue
        if step % log_every == 0:
            rate = step / (time.perf_counter() - t0)
            log.info("boltzmann step %d  Δ=%.4g  best delta_bp=%.4g  (%.2f steps/s)", step, delta, best.delta_bp, rate)
        gm = m_d - m_m
        gC = C_d - C_m
        if center:  # gradient in (J, a) with a = h + J m^d
            gC = gC - xp.outer(m_d, gm) - xp.outer(gm, m_d)
        gJ = gC * off - l2 * J
        gh = gm - l2 * h
        dJ, dh = (opt_J.step(gJ), opt_h.step(gh)) if optimizer == "adam" else (rates[0] * gJ, rates[1] * gh)
        if center:
            dh = dh - dJ @ m_d
        J = J + dJ
        h = h + dh
        J = 0.5 * (J + J.T)
    if win is not None and win.best is not None:
        J, h = win.best[0], win.best[1]
    if checked:
        J, h, fresh, delta_bp, radius = best.J, best.h, best.fresh, best.delta_bp, best.radius
        disagrees = fresh is None
        converged = delta_bp < tol and not disagrees
    else:
        fresh = _fresh_bp(J, h, seed + 10_000, bp_damping, bp_max_iter)
        delta_bp, radius = fit_delta(m_d, C_d, fresh.m[0], fresh.C[0]), float("nan")
        warm_m = state.m[0] if isinstance(state, BPResult) else fresh.m[0]
        disagrees = float(xp.abs(fresh.m[0] - warm_m).max()) > agree_tol
        converged = (delta_bp < tol and bool(fresh.converged.all())) if isinstance(state, BPResult) else trace[-1] < tol
    res = BoltzmannResult(
        J=J, h=h, shrink=start.shrink, rho=start.rho, delta=np.asarray(trace), delta_bp=delta_bp,
        fresh_disagrees=disagrees, converged=converged, steps=len(trace), n_backtracks=n_back,
        n_moment_failures=n_fail, init=init, seconds=time.perf_counter() - t0, delta_bp_start=d_start,
        radius=radius, checks=np.asarray(checks, dtype=float), stopped=stopped,
    )
    if win is not None:
        res.delta_window = np.asarray(win.deltas)
        res.converged = bool(win.deltas) and min(win.deltas) < tol
    return res


@dataclass
class _Best:
    """The best checked model: (J, h), its fresh-start BPResult (None: BP from scratch did not reach a
    converged fixed point), delta_bp and Jacobian radius."""

    J: Any
    h: Any
    fresh: BPResult | None
    delta_bp: float
    radius: float


class _Window:
    """Polyak–Ruppert window: running sums of (J, h) and of the model moments (m, C); ``close``
    returns Δ(data, averaged moments), keeps the averaged (J, h) if that Δ is the lowest so far,
    and starts the next window."""

    def __init__(self, m_d: Any, C_d: Any) -> None:
        self.m_d, self.C_d = m_d, C_d
        self.sums: list | None = None
        self.count = 0
        self.deltas: list[float] = []
        self.best: tuple | None = None  # (J, h, delta)

    def add(self, J: Any, h: Any, m: Any, C: Any) -> None:
        new = (J, h, m, C)
        self.sums = list(new) if self.sums is None else [s + x for s, x in zip(self.sums, new, strict=True)]
        self.count += 1

    def close(self) -> float:
        J, h, m, C = (s / self.count for s in self.sums)
        delta = fit_delta(self.m_d, self.C_d, m, C)
        self.deltas.append(delta)
        if self.best is None or delta < self.best[2]:
            self.best = (J, h, delta)
        self.sums, self.count = None, 0
        return delta
