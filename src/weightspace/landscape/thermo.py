"""Entropy by thermodynamic / heat-capacity integration of MC energies (paper App. H, Eq. H1).

Tilted measure of the landscape analysis (docs/design.md §3.4), written with K = E - x Q,
E(s) = -sum_{i<j} J_ij s_i s_j - sum_i h_i s_i and Q(s) = sum_i s*_i s_i:

    P_x(s) = exp(-K(s)) / Z_x.

Path: P_lam ∝ exp(-lam K), lam from 0 (uniform measure, ln Z = N ln 2) to 1; i.e. MC at
inverse temperature beta = lam with tilt lam x. Since d ln Z_lam / d lam = -<K>_lam and
dS_lam / d lam = -lam Var_lam(K):

    ln Z_x = N ln 2 - int_0^1 <K>_lam d lam,          S = ln Z_x + <K>_1        (energy route)
    S      = N ln 2 - int_0^1 lam Var_lam(K) d lam                              (heat capacity, H1)

S is the Gibbs entropy of P_x, which equals the landscape entropy N s with
s = -beta f + beta eps - x q (paper Sec. IV; the paper's "S - N x q"). The paper's H1
integrates C/T from T = 0 and needs S(T=0) = 0; integrating from lam = 0 (T = infinity),
where S = N ln 2 exactly, does not. At lam = 0 the moments are exact:
<K>_0 = 0, Var_0(K) = sum_{i<j} J_ij^2 + sum_i (h_i + x s*_i)^2.

Quadrature: composite Simpson on a uniform grid of 4k+1 points in t, lam = t^p (``grid_power``
p; the integrands get the Jacobian p t^(p-1)); its error is estimated by Richardson,
|S_h - S_2h| / 15. p > 1 crowds the points towards lam = 0, where Var(K) of a strongly coupled
model falls by orders of magnitude within a small lam (Var_0 K ∝ sum J^2). MC errors come from
the spread of the R independent chains (chain means for <K>, jackknife over chains for Var K) and are propagated
through the quadrature weights.

With ``tempering`` the grid points lam_1..lam_K are the rungs of one replica-exchange run
(``ising.sampler.temper``) instead of a sequence of annealed runs: hot rungs carry the chains
across barriers that trap single-spin moves at lam = 1 (glassy models, e.g. the shallow net).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from weightspace.backend import array_module, to_numpy
from weightspace.ising.sampler import sample, temper


@dataclass
class ThermoEntropy:
    """Result of :func:`thermo_entropy`; densities are per spin.

    s, s_err, s_quad_err: entropy of P_x by the energy route, its MC error and quadrature
    error estimate; s_heat, s_heat_err, s_heat_quad_err: the same by the heat-capacity route;
    log_z: ln Z_x / N (= -beta f); energy, energy_err: eps = <E>/N at lam = 1 (untilted E);
    q, q_err: overlap (1/N) sum_i s*_i <s_i> (0 without sigma*); d = (1 - q)/2, d_err;
    lams, mean_k, mean_k_err, var_k, var_k_err: the integrands per grid point (K totals);
    tau: energy autocorrelation time per point (sweeps), tau_reliable: all estimates
    reliable; x; swap_acceptance: with tempering, the accepted fraction of exchanges between
    neighbouring grid points (n_lam - 2,), else empty.
    """

    s: float
    s_err: float
    s_quad_err: float
    s_heat: float
    s_heat_err: float
    s_heat_quad_err: float
    log_z: float
    energy: float
    energy_err: float
    q: float
    q_err: float
    d: float
    d_err: float
    lams: np.ndarray
    mean_k: np.ndarray
    mean_k_err: np.ndarray
    var_k: np.ndarray
    var_k_err: np.ndarray
    tau: np.ndarray
    tau_reliable: bool
    x: float
    swap_acceptance: np.ndarray


def simpson_weights(n_points: int) -> np.ndarray:
    """Composite Simpson weights on a uniform grid of [0, 1] with an odd number of points."""
    if n_points < 3 or n_points % 2 == 0:
        raise ValueError(f"n_points={n_points}: Simpson's rule needs an odd number >= 3")
    w = np.ones(n_points)
    w[1:-1:2], w[2:-1:2] = 4.0, 2.0
    return w / (3.0 * (n_points - 1))


def _integral(values: np.ndarray) -> tuple[float, float]:
    """Simpson integral over [0, 1] of grid values and its Richardson error estimate."""
    fine = float(simpson_weights(values.size) @ values)
    coarse = float(simpson_weights((values.size + 1) // 2) @ values[::2])
    return fine, abs(fine - coarse) / 15.0


def _chain_stats(series: np.ndarray) -> tuple[float, float, float, float]:
    """Mean and variance of a (T, R) series and their errors from the R independent chains.

    Mean error: spread of chain means. Variance error: jackknife, leaving out one chain.
    """
    T, R = series.shape
    means = series.mean(axis=0)
    sq = (series**2).mean(axis=0)
    mean = float(means.mean())
    var = float(sq.mean() - mean**2)
    loo_mean = (means.sum() - means) / (R - 1)
    loo_var = (sq.sum() - sq) / (R - 1) - loo_mean**2
    var_err = math.sqrt((R - 1) / R * np.sum((loo_var - loo_var.mean()) ** 2))
    return mean, float(means.std(ddof=1) / math.sqrt(R)), var, var_err


def thermo_entropy(
    J: Any,
    h: Any,
    x: float = 0.0,
    sigma_star: Any = None,
    n_lam: int = 17,
    n_chains: int = 64,
    n_sweeps: int = 1000,
    burn_in: int = 200,
    thin: int = 1,
    seed: int = 0,
    tempering: bool = False,
    grid_power: float = 1.0,
    progress: bool = False,
) -> ThermoEntropy:
    """Entropy per spin of P_x ∝ exp(-E + x sum_i s*_i s_i) by integration over lam in [0, 1].

    At each of ``n_lam`` (= 4k+1) grid points, ``n_chains`` chains (warm-started from the
    previous point) run ``burn_in`` + ``n_sweeps`` heat-bath sweeps, recording every
    ``thin``-th; with ``tempering``, ``n_chains`` independent ladders over all grid points
    exchange states instead. See the module docstring for the equations and error estimates.
    """
    if n_lam < 5 or (n_lam - 1) % 4:
        raise ValueError(f"n_lam={n_lam}: need 4k+1 >= 5 points (Simpson + Richardson error)")
    if n_chains < 2:
        raise ValueError(f"n_chains={n_chains}: need >= 2 independent chains for error bars")
    xp = array_module(J)
    h = xp.asarray(h, dtype=J.dtype)
    n = J.shape[0]
    sstar = None if sigma_star is None else xp.asarray(sigma_star, dtype=J.dtype)
    field = h if sstar is None else h + x * sstar
    if grid_power < 1.0:
        raise ValueError(f"grid_power={grid_power}: need >= 1 (lam = t^p crowds points towards lam = 0)")
    t = np.linspace(0.0, 1.0, n_lam)
    lams = t**grid_power
    jac = grid_power * t ** (grid_power - 1.0)  # d lam / d t
    stats = np.zeros((n_lam, 4))
    stats[0, 2] = float(0.5 * xp.sum(J * J) + xp.sum(field * field))  # exact at lam = 0
    tau = np.ones(n_lam)
    swaps = np.zeros(0)
    if tempering:
        pt = temper(J, h, lams[1:], n_chains, n_sweeps, burn_in=burn_in, thin=thin, seed=seed, x=x,
                    sigma_star=sstar, accumulate_moments=False, progress=progress)
        e_all = to_numpy(pt.energies).astype(float)  # (n_kept, n_lam - 1, n_chains)
        q_all = np.zeros_like(e_all) if pt.overlaps is None else to_numpy(pt.overlaps).astype(float)
        tau[1:], reliable, swaps = pt.tau_energy, pt.tau_reliable, pt.swap_acceptance
        series = [(e_all[:, k - 1], q_all[:, k - 1]) for k in range(1, n_lam)]
    else:
        series, reliable, chains = [], True, None
        for k in tqdm(range(1, n_lam), desc="thermodynamic integration", disable=not progress):
            lam = float(lams[k])
            res = sample(J, h, n_chains, n_sweeps, burn_in=burn_in, thin=thin, beta=lam,
                         seed=seed + k, init=chains, x=lam * x, sigma_star=sstar,
                         accumulate_moments=False)
            chains = res.chains
            e = to_numpy(res.energies).astype(float)
            series.append((e, np.zeros_like(e) if res.overlaps is None else to_numpy(res.overlaps).astype(float)))
            tau[k] = res.tau_energy
            reliable &= res.tau_reliable
    for k, (e, qq) in enumerate(series, start=1):
        stats[k] = _chain_stats(e - x * qq)
    e_stats, q_stats = _chain_stats(series[-1][0]), _chain_stats(series[-1][1])
    mean_k, mean_err, var_k, var_err = stats.T
    int_k, quad_k = _integral(jac * mean_k)
    int_c, quad_c = _integral(jac * lams * var_k)
    w = jac * simpson_weights(n_lam)
    coef = -w.copy()
    coef[-1] += 1.0  # S = N ln 2 - sum_k w_k <K>_k + <K>_1
    log_z = n * math.log(2.0) - int_k
    s_err = float(np.sqrt(np.sum((coef * mean_err) ** 2)))
    s_heat_err = float(np.sqrt(np.sum((w * lams * var_err) ** 2)))
    q = q_stats[0] / n
    return ThermoEntropy(
        s=(log_z + mean_k[-1]) / n,
        s_err=s_err / n,
        s_quad_err=quad_k / n,
        s_heat=(n * math.log(2.0) - int_c) / n,
        s_heat_err=s_heat_err / n,
        s_heat_quad_err=quad_c / n,
        log_z=log_z / n,
        energy=e_stats[0] / n,
        energy_err=e_stats[1] / n,
        q=q,
        q_err=q_stats[1] / n,
        d=(1.0 - q) / 2.0,
        d_err=q_stats[1] / (2.0 * n),
        lams=lams,
        mean_k=mean_k,
        mean_k_err=mean_err,
        var_k=var_k,
        var_k_err=var_err,
        tau=tau,
        tau_reliable=bool(reliable),
        x=float(x),
        swap_acceptance=np.asarray(swaps),
    )
