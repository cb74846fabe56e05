"""Iso-energy entropy curves (paper Fig. 7, App. C Eq. C7a; docs/design.md §3.4).

At each x the inverse temperature β is tuned so that the energy density of the untilted
Hamiltonian under P ∝ exp(−βE + xσ*·σ) equals the reference's own, ε(β, x) = ε* = E(σ*)/N.
The root is found by the secant method in β, separately per system (reference × direction),
all systems in one batch (per-system couplings βJ). ε(β) is monotone (dε/dβ = −Var E/N ≤ 0),
so the root is unique when it lies in [beta_min, beta_max]. Entropy s = −βf + βε − xq as in
:mod:`weightspace.landscape.entropy`. Warm start: β and the messages of the previous x.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from weightspace.backend import array_module, to_numpy
from weightspace.ising.bp import BPResult, bp


@dataclass
class IsoEnergy:
    """Arrays (K,2,T) as in :class:`~weightspace.landscape.entropy.Landscape`: beta, d, s,
    energy, q, all read at the same evaluated β (also where the secant search stopped at
    ``max_secant`` without reaching ε*); converged (BP converged and |ε − ε*| < energy_tol:
    only these points are iso-energy points); target (K,) ε*; secant_steps (K,2,T)."""

    x: np.ndarray
    beta: np.ndarray
    d: np.ndarray
    s: np.ndarray
    energy: np.ndarray
    q: np.ndarray
    converged: np.ndarray
    target: np.ndarray
    secant_steps: np.ndarray


def _energy_at(
    J: Any, h: Any, sstar: Any, x_t: Any, beta: Any, msg: Any, bp_kw: dict
) -> tuple[Any, BPResult]:
    """ε(β, x) = E(⟨σ⟩)/N of the untilted Hamiltonian, by BP of couplings βJ, fields βh + xσ*."""
    g = beta[:, None] * h[None, :] + x_t[:, None] * sstar
    r = bp(J, g, beta=beta, messages=msg, correlations=False, **bp_kw)
    return (r.coupling_energy - r.m @ h) / J.shape[0], r


def iso_energy_paths(
    J: Any,
    h: Any,
    refs: Any,
    xs: np.ndarray,
    *,
    beta0: float = 1.0,
    beta_min: float = 0.0,
    beta_max: float = 5.0,
    energy_tol: float = 1e-5,
    max_secant: int = 30,
    damping: float = 0.5,
    adaptive: bool = True,
    tol: float = 1e-7,
    max_iter: int = 2000,
    seed: int = 0,
    progress: bool = False,
) -> dict[str, np.ndarray]:
    """Secant search of β along each system's path xs (B,T); returns (B,T) arrays."""
    xp = array_module(J)
    nb, nt = xs.shape
    n = J.shape[0]
    sstar = refs.astype(J.dtype)
    target = (-0.5 * ((sstar @ J) * sstar).sum(-1) - sstar @ h) / n
    bp_kw = {"damping": damping, "adaptive": adaptive, "tol": tol, "max_iter": max_iter, "seed": seed}
    msg = None  # first point: N(0, 0.01²) messages (paper)
    beta = xp.full(nb, float(beta0))
    out = {k: np.zeros((nb, nt)) for k in ("beta", "log_z", "energy", "q", "ok", "steps")}
    for t in tqdm(range(nt), desc=f"iso-energy N={n}", disable=not progress, mininterval=5.0):
        x_t = xp.asarray(xs[:, t], dtype=J.dtype)
        b_old = beta
        e_old, r = _energy_at(J, h, sstar, x_t, b_old, msg, bp_kw)
        msg = r.messages
        b_new = xp.clip(b_old + 0.05, beta_min, beta_max)
        steps = np.zeros(nb)
        for k in range(max_secant):
            e_new, r = _energy_at(J, h, sstar, x_t, b_new, msg, bp_kw)
            msg = r.messages
            gap_new, gap_old = e_new - target, e_old - target
            done = xp.abs(gap_new) < energy_tol
            if bool(done.all()) or k == max_secant - 1:
                break  # the last guess is the last evaluated one: beta, r, e_new agree
            slope = (gap_new - gap_old) / xp.where(b_new == b_old, 1e-12, b_new - b_old)
            step = xp.where(xp.abs(slope) > 1e-14, -gap_new / xp.where(slope == 0, 1.0, slope), 0.0)
            b_next = xp.where(done, b_new, xp.clip(b_new + step, beta_min, beta_max))
            steps += to_numpy(~done)
            b_old, e_old, b_new = b_new, e_new, b_next
        beta = b_new  # every output of this x is read at this (evaluated) beta
        out["beta"][:, t] = to_numpy(beta)
        out["log_z"][:, t] = to_numpy(-r.free_energy) / n
        out["energy"][:, t] = to_numpy(e_new)
        out["q"][:, t] = to_numpy((r.m * sstar).sum(-1)) / n
        out["ok"][:, t] = to_numpy(r.converged & (xp.abs(e_new - target) < energy_tol))
        out["steps"][:, t] = steps
    out["target"] = to_numpy(target)
    return out


def iso_energy_landscape(J: Any, h: Any, refs: Any, x: np.ndarray, **kwargs: Any) -> IsoEnergy:
    """Both sweep directions for every reference in one batch (layout of the entropy landscape)."""
    xp = array_module(J)
    k = refs.shape[0]
    both = xp.concatenate([refs, refs])
    xs = np.concatenate([np.tile(x, (k, 1)), np.tile(x[::-1], (k, 1))])
    raw = iso_energy_paths(J, h, both, xs, **kwargs)

    def shape(a: np.ndarray) -> np.ndarray:
        a = a.reshape(2, k, -1).transpose(1, 0, 2).copy()
        a[:, 1] = a[:, 1, ::-1]
        return a

    beta, q, log_z, energy = (shape(raw[key]) for key in ("beta", "q", "log_z", "energy"))
    return IsoEnergy(
        x=x,
        beta=beta,
        d=(1 - q) / 2,
        s=log_z + beta * energy - x[None, None, :] * q,
        energy=energy,
        q=q,
        converged=shape(raw["ok"]).astype(bool),
        target=raw["target"][:k],
        secant_steps=shape(raw["steps"]).astype(int),
    )


def converged_mean(a: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Mean over references (axis 0) of the converged points only; NaN where none converged."""
    a, ok = np.asarray(a, float), np.asarray(ok, bool)
    count = ok.sum(0)
    total = np.where(ok, a, 0.0).sum(0)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def entropy_suppression(
    normal_s: np.ndarray, normal_ok: np.ndarray, iso_s: np.ndarray, iso_ok: np.ndarray
) -> dict[str, float]:
    """How far the iso-energy constraint lowers the sweep-down entropy, from converged points only:
    ``max_entropy_suppression`` = max_x [<s_normal>(x) − <s_iso>(x)] (means over the references
    converged at that x, arrays (K,2,T), direction 0), ``suppression_x_points`` the number of x
    where both means exist; ``unconverged_points`` the iso points left out (reported, not averaged)."""
    diff = converged_mean(normal_s[:, 0], normal_ok[:, 0]) - converged_mean(iso_s[:, 0], iso_ok[:, 0])
    finite = np.isfinite(diff)
    return {
        "max_entropy_suppression": float(diff[finite].max()) if finite.any() else float("nan"),
        "suppression_x_points": float(finite.sum()),
        "unconverged_points": float((~np.asarray(iso_ok, bool)).sum()),
    }
