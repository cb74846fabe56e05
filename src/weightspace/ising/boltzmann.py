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

Stability: a warm-started BP can sit on an *unstable* fixed point (it starts at the fixed point,
so the residual is tiny), while BP from scratch flows to an ordered state. Learning therefore
checks, from fresh N(0, 0.01²) messages, that the fixed point it tracks is the one BP reaches from
scratch, keeps the last (J, h) that passed as a checkpoint, and backtracks there with halved steps
when a check fails. Convergence is declared on Δ of the fresh start (delta_bp); the best (J, h)
that passed a check is returned.

Default start ('stable_pair'): BP beliefs fix (J, h) uniquely, so the best model BP reaches from
scratch is the independent-pair inversion of the nearest correlations whose fixed point is stable
(ising.inverse: the data's modes of K = D^{-1/2} C^c D^{-1/2} clipped at ρ < 1). The largest ρ of
RHOS whose fresh-start BP reaches that fixed point is used; ``delta_floor``
(inverse.stability_floor) reports how close to the data any such model can get; when it is ≥ tol,
learning stops at the (checked) start.
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
    stability_floor,
    stable_correlations,
)
from weightspace.ising.moments import fit_delta

log = logging.getLogger(__name__)

MomentsFn = Callable[[Any, Any, Any], tuple[Any, Any, Any]]
INITS = ("stable_pair", "independent_pair", "nmf", "zero")
RHOS = (0.98, 0.95, 0.9, 0.8, 0.6, 0.3, 0.0)  # clipping levels tried by the 'stable_pair' start


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
    """Learned J (N,N), h (N,); shrink applied to the closed-form start ('stable_pair': rho, the
    clipping level used, None if no level passed and the start fell back to J = 0; delta_floor,
    the lower bound on delta_bp of inverse.stability_floor); delta[t] = Δ of the
    moments used at step t; delta_bp = Δ of BP started from fresh N(0, 0.01²) messages at the
    final (J, h); fresh_disagrees: that fresh start reached a different fixed point
    (max |Δm| > agree_tol) than the warm one; converged: delta_bp < tol with BP moments (with
    another moments_fn: its own last Δ < tol); n_backtracks: times
    learning returned to its last stable checkpoint; n_moment_failures: steps whose moments_fn
    reported non-convergence. If the final (J, h) fails the fresh-start check, the last
    checkpoint is returned and the flags describe it. delta_window[k] = Δ of the model moments
    averaged over the k-th window (``window`` learning; empty otherwise)."""

    J: Any
    h: Any
    shrink: float | None
    rho: float | None
    delta_floor: float | None
    delta: np.ndarray
    delta_bp: float
    fresh_disagrees: bool
    converged: bool
    steps: int
    n_backtracks: int
    n_moment_failures: int
    init: str
    seconds: float
    delta_window: np.ndarray = field(default_factory=lambda: np.zeros(0))


@dataclass
class Start:
    """Closed-form start of learning: J, h, shrink (independent_pair / nmf), rho and delta_floor
    (stable_pair; see BoltzmannResult)."""

    J: Any
    h: Any
    shrink: float | None = None
    rho: float | None = None
    delta_floor: float | None = None


def stable_pair_start(
    m_d: Any, C_d: Any, seed: int = 0, damping: float = 0.5, max_iter: int = 1000, agree_tol: float = 1e-2
) -> Start:
    """Independent-pair inversion of the data with the modes of K clipped at the largest ρ in RHOS
    for which BP from fresh N(0, 0.01²) messages converges to that exact fixed point
    (max_i |m_i − m^d_i| ≤ agree_tol); J = 0, h = atanh m if none does."""
    xp = array_module(C_d)
    sp = correlation_spectrum(m_d, C_d)
    floor = stability_floor(m_d, C_d, sp)
    for rho in RHOS:
        inv = independent_pair(m_d, stable_correlations(m_d, C_d, rho, sp))
        r = _fresh_bp(inv.J, inv.h, seed, damping, max_iter)
        if bool(r.converged.all()) and float(xp.abs(r.m[0] - m_d).max()) <= agree_tol:
            return Start(inv.J, inv.h, rho=rho, delta_floor=floor)
        log.info("stable_pair start: rho=%.2f not reached by BP from scratch", rho)
    inv = independent_pair(m_d, C_d, shrink=0.0)
    return Start(inv.J, inv.h, rho=None, delta_floor=floor)


def initial_parameters(
    m_d: Any,
    C_d: Any,
    init: str,
    shrink: float | None,
    ridge: float,
    seed: int = 0,
    damping: float = 0.5,
    max_iter: int = 1000,
) -> Start:
    """Closed-form start: 'stable_pair' (:func:`stable_pair_start`), 'independent_pair' with
    couplings × ``shrink`` (default 1: the exact fixed point, possibly unstable), 'nmf'
    (ridge-regularised, couplings × shrink), 'zero' (J = 0, h = atanh m)."""
    if init == "stable_pair":
        return stable_pair_start(m_d, C_d, seed, damping, max_iter)
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
    max_backtracks: int = 6,
    bp_damping: float = 0.5,
    bp_max_iter: int = 1000,
    seed: int = 0,
    log_every: int = 50,
) -> BoltzmannResult:
    """Fit J, h so that the model moments match (m_d, C_d) to Δ < tol (paper Eq. 5).

    Default start: 'stable_pair' (module docstring) — exact when the independent-pair fixed point
    of the data is stable, otherwise the best fit that BP reaches from scratch to first order in
    the correlations (``delta_floor`` tells how far that is from the data). nMF is not the
    default: on low-rank, cluster-like data C_conn is near-singular and −C_conn⁻¹ is dominated by
    the ridge. ``J0``/``h0`` override the closed-form start.

    Checks (every ``check_every`` steps, when Δ < tol, or when Δ more than doubles against the last
    checkpoint): BP from fresh N(0, 0.01²) messages must agree with the warm fixed point (max |Δm|
    ≤ agree_tol) and not be much worse than the checkpoint; then (J, h) becomes the checkpoint.
    Otherwise learning backtracks to the checkpoint and halves both step sizes (at most
    ``max_backtracks`` times, then it stops). The best checked (J, h) is returned when the final one
    fails its fresh-start check or is worse. check_every=None turns the checks off (paper-style
    learning: stop on the warm Δ alone).

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
        start = initial_parameters(m_d, C_d, init, shrink, ridge, seed, bp_damping, bp_max_iter)
    J, h = start.J, start.h
    unreachable = start.delta_floor is not None and start.delta_floor >= tol
    if unreachable:
        log.warning(
            "boltzmann: tol=%.3g is below the stability floor %.4f — no model that BP "
            "reaches from scratch fits closer (first order); keeping the stable_pair "
            "start",
            tol,
            start.delta_floor,
        )
    moments_fn = moments_fn or bp_moments(damping=bp_damping, max_iter=bp_max_iter, seed=seed)
    off = 1.0 - xp.eye(m_d.shape[0], dtype=C_d.dtype)
    opt_J, opt_h = (_Adam(J, lr_J), _Adam(h, lr_h)) if optimizer == "adam" else (None, None)
    rates = [lr_J, lr_h]
    state: Any = None
    ckpt: tuple | None = None  # (J, h, state, delta) of the last (J, h) whose fresh start agreed
    best: tuple | None = None  # the same for the lowest fresh-start delta
    trace: list[float] = []
    win = _Window(m_d, C_d) if window else None
    n_back = n_fail = 0
    fresh_seed = seed + 1
    for step in range(1, max_steps + 1):
        m_m, C_m, state = moments_fn(J, h, state)
        if isinstance(state, BPResult) and not bool(state.converged.all()):
            n_fail += 1
        delta = fit_delta(m_d, C_d, m_m, C_m)
        trace.append(delta)
        if win is not None:
            win.add(J, h, m_m, C_m)
            if step % window == 0:
                d_win = win.close()
                log.info("boltzmann step %d  window-averaged Δ=%.4g", step, d_win)
                if d_win < tol:
                    break
        elif check_every is None or not isinstance(state, BPResult):  # no fixed-point checks
            if delta < tol:
                break
        elif delta < tol or step % check_every == 0 or ckpt is None or delta > 2.0 * ckpt[3]:
            fresh = _fresh_bp(J, h, fresh_seed, bp_damping, bp_max_iter)
            fresh_seed += 1
            d_fresh = fit_delta(m_d, C_d, fresh.m[0], fresh.C[0])
            agrees = float(xp.abs(fresh.m[0] - m_m).max()) <= agree_tol
            if agrees and (ckpt is None or d_fresh < 1.5 * ckpt[3]):
                ckpt = (J, h, state, d_fresh)
                if best is None or d_fresh < best[3]:
                    best = ckpt
                if d_fresh < tol or unreachable:
                    break
            elif ckpt is not None and n_back < max_backtracks:
                n_back += 1
                J, h, state = ckpt[0], ckpt[1], ckpt[2]
                rates = [0.5 * r for r in rates]
                if opt_J is not None:
                    opt_J.lr, opt_h.lr = rates
                log.info(
                    "boltzmann step %d: fresh BP left the tracked fixed point; backtrack %d, lr ×0.5", step, n_back
                )
                continue
            else:
                break
        if step % log_every == 0:
            rate = step / (time.perf_counter() - t0)
            log.info("boltzmann step %d  Δ=%.4g  (%.2f steps/s)", step, delta, rate)
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
    res = _finish(
        m_d, C_d, J, h, state, best, trace, n_back, n_fail, init, t0, tol, agree_tol, bp_damping, bp_max_iter, seed
    )
    res.shrink, res.rho, res.delta_floor = start.shrink, start.rho, start.delta_floor
    if win is not None:
        res.delta_window = np.asarray(win.deltas)
        res.converged = bool(win.deltas) and min(win.deltas) < tol
    return res


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


def _finish(
    m_d, C_d, J, h, state, ckpt, trace, n_back, n_fail, init, t0, tol, agree_tol, bp_damping, bp_max_iter, seed
) -> BoltzmannResult:
    """Final fresh-start check; fall back to the best checked (J, h) (``ckpt``) when the last
    one fails it or is worse."""
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
        J=J,
        h=h,
        shrink=None,
        rho=None,
        delta_floor=None,
        delta=np.asarray(trace),
        delta_bp=delta_bp,
        fresh_disagrees=disagrees,
        converged=converged,
        steps=len(trace),
        n_backtracks=n_back,
        n_moment_failures=n_fail,
        init=init,
        seconds=time.perf_counter() - t0,
    )
