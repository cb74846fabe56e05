"""Monte-Carlo sampling of the pairwise Ising model (DESIGN 3.3-3.4; paper App. B, H, Fig. 9).

Target measure, with an optional tilt towards a reference configuration sigma*:

    P(sigma) ∝ exp( beta [ sum_{i<j} J_ij s_i s_j + sum_i h_i s_i ] + x sum_i s*_i s_i ),

energy E(sigma) = -sum_{i<j} J_ij s_i s_j - sum_i h_i s_i (untilted, beta-free).

Many independent chains (array of shape (R, N), entries ±1) are updated together by
single-spin moves (Metropolis or heat-bath) in sweeps over all spins. The local fields
F = S J + h of every chain are kept up to date incrementally and in blocks: inside a
block of b spins the field of each spin is corrected for the changes of the block's earlier
spins (a b x R product), and after the block the change of all N fields is one matmul
(N x b) @ (b x R). A sweep thus costs one R x N x N matmul plus O(R N b) vector work, and
is exactly a sequential single-spin sweep in the chosen order. The uniform draws of a block are
turned into thresholds on the log-odds at once, so each spin costs one (k x R) product, one
comparison and one select. The kernel runs in J's dtype (float32 halves the memory traffic; the
fields are recomputed every few sweeps); m and C are summed in float64. Written once against
``xp`` (NumPy or CuPy).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from weightspace.backend import array_module, to_numpy

RULES = ("metropolis", "heatbath")
ORDERS = ("random", "sequential")
_BLOCK = 64  # spins per block: larger blocks make the field update a bigger matmul
_REFRESH_EVERY = 25  # sweeps between exact recomputations of F = S J + h (bounds rounding drift)


@dataclass
class MCResult:
    """Output of :func:`sample`. Arrays live on the backend of J (NumPy or CuPy).

    samples: (n_kept, R, N) int8 or None; energies, magnetisations: (n_kept, R) per sample
    (energy is E(sigma) of the untilted Hamiltonian; magnetisation is (1/N) sum_i s_i);
    overlaps: (n_kept, R) Q = sum_i s*_i s_i, or None without sigma*; m (N,), C (N, N) the
    averages of s_i and the raw s_i s_j over all kept samples (None if not accumulated);
    tau_energy, tau_magnetisation: integrated autocorrelation times in sweeps;
    tau_reliable: False when the series is shorter than 50 tau (the estimate is then
    unreliable); acceptance: fraction of accepted flips (Metropolis) or of changed spins
    (heat-bath); chains: final (R, N) state.
    """

    samples: Any
    energies: Any
    magnetisations: Any
    overlaps: Any
    m: Any
    C: Any
    tau_energy: float
    tau_magnetisation: float
    tau_reliable: bool
    acceptance: float
    chains: Any


def ising_energy(S: Any, J: Any, h: Any) -> Any:
    """E(sigma) = -sum_{i<j} J_ij s_i s_j - sum_i h_i s_i for each row of S (shape (R, N))."""
    return -0.5 * ((S @ J) * S).sum(axis=-1) - S @ h


def _check_model(J: Any, h: Any) -> None:
    if J.ndim != 2 or J.shape[0] != J.shape[1] or h.shape != (J.shape[0],):
        raise ValueError(f"J {tuple(J.shape)} and h {tuple(h.shape)}: need J of shape (N, N) and h of shape (N,)")
    xp = array_module(J)
    if bool(xp.any(xp.diagonal(J) != 0)) or not bool(xp.allclose(J, J.T)):
        raise ValueError("J: couplings must be symmetric with a zero diagonal")


def _tilt_field(J: Any, x: float, sigma_star: Any) -> Any:
    """The extra log-weight field x s*_i (zeros without a tilt)."""
    xp = array_module(J)
    n = J.shape[0]
    if sigma_star is None:
        if x != 0.0:
            raise ValueError("x: a nonzero tilt needs sigma_star (the reference configuration)")
        return xp.zeros(n, dtype=J.dtype)
    sigma_star = xp.asarray(sigma_star, dtype=J.dtype)
    if sigma_star.shape != (n,):
        raise ValueError(f"sigma_star: shape {tuple(sigma_star.shape)}, need ({n},)")
    return x * sigma_star


def random_configs(xp: Any, n_chains: int, n: int, rs: Any, dtype: Any = float) -> Any:
    """n_chains uniform random ±1 configurations, shape (n_chains, n)."""
    return xp.where(rs.random_sample((n_chains, n)) < 0.5, 1.0, -1.0).astype(dtype)


def _initial_chains(J: Any, n_chains: int, init: Any, rs: Any) -> Any:
    xp = array_module(J)
    n = J.shape[0]
    if init is None:
        return random_configs(xp, n_chains, n, rs, J.dtype)
    S = xp.asarray(init, dtype=J.dtype)
    if S.ndim == 1:
        S = xp.broadcast_to(S, (n_chains, n))
    S = S.copy()
    if S.shape != (n_chains, n) or not bool(xp.all(xp.abs(S) == 1)):
        raise ValueError(f"init: need ±1 entries of shape ({n},) or ({n_chains}, {n})")
    return S


class _Kernel:
    """Blocked single-spin sweeps for R chains at once (see module docstring).

    Works on transposed arrays, spins x chains: ST (N, R) and fields FT = J ST + h (N, R),
    so that each spin's row over the chains is contiguous.
    """

    def __init__(self, J: Any, h: Any, beta: float, tilt: Any, rule: str, order: str, rs: Any, block: int) -> None:
        if rule not in RULES:
            raise ValueError(f"rule={rule!r}: choose one of {', '.join(RULES)}")
        if order not in ORDERS:
            raise ValueError(f"order={order!r}: choose one of {', '.join(ORDERS)}")
        if block < 1:
            raise ValueError(f"block={block}: need a positive block size")
        self.xp = array_module(J)
        self.J, self.h, self.beta, self.tilt = J, h, float(beta), tilt
        self.rule, self.order, self.rs, self.block = rule, order, rs, int(block)
        self.n_moves = 0
        self.n_changed = self.xp.zeros((), dtype=J.dtype)

    def fields(self, ST: Any) -> Any:
        """FT = J ST + h (untilted, beta-free local fields), shape (N, R)."""
        return self.J @ ST + self.h[:, None]

    def thresholds(self, S: Any) -> Any:
        """Uniform draws u turned into thresholds θ on the spin's log-odds, shape of S.

        heat-bath: s = +1 with probability e^g / (e^g + e^-g), i.e. iff g > θ = atanh(2u − 1);
        Metropolis: flip with probability min(1, e^{-2 s g}), i.e. iff s g < θ = −ln(u) / 2.
        """
        xp = self.xp
        u = self.rs.random_sample(S.shape)
        with np.errstate(divide="ignore"):  # u = 0 (probability 2^-53): θ = ∓inf, still exact
            th = xp.arctanh(2.0 * u - 1.0) if self.rule == "heatbath" else -0.5 * xp.log(u)
        return th.astype(S.dtype)

    def sweep(self, ST: Any, FT: Any) -> None:
        """One sweep over all N spins of every chain, in place on ST and FT.

        Inside a block the log-odds of its k-th spin is g_k = β F0_k + x s*_k + β Σ_{k'<k} J_kk' d_k',
        d the changes of the block's earlier spins; after the block FT += J[:, block] D.
        """
        xp, J, n = self.xp, self.J, self.J.shape[0]
        perm = self.rs.permutation(n) if self.order == "random" else xp.arange(n)
        heatbath = self.rule == "heatbath"
        for start in range(0, n, self.block):
            idx = perm[start : start + self.block]
            Sb = ST[idx]  # copy (fancy indexing), (b, R)
            Jcols = J[:, idx]
            Jbb = self.beta * Jcols[idx]
            G = self.beta * FT[idx] + self.tilt[idx][:, None]
            TH = self.thresholds(Sb)
            D = xp.zeros_like(Sb)
            for k in range(Sb.shape[0]):
                g = G[k] + Jbb[k, :k] @ D[:k] if k else G[k]
                s = Sb[k]
                new = xp.where(g > TH[k], 1.0, -1.0) if heatbath else xp.where(s * g < TH[k], -s, s)
                D[k] = new - s
            ST[idx] = Sb + D
            FT += Jcols @ D
            self.n_changed += 0.5 * xp.abs(D).sum()
        self.n_moves += ST.shape[1] * n

    def acceptance(self) -> float:
        return float(self.n_changed) / max(self.n_moves, 1)


def integrated_autocorr_time(series: Any, c: float = 5.0) -> tuple[float, bool]:
    """Integrated autocorrelation time tau = 1 + 2 sum_{t>=1} rho(t) of a (T, R) series.

    rho(t) is the autocorrelation averaged over the R chains (FFT estimate); the sum is
    cut at Sokal's window, the smallest W with W >= c tau(W). Returns (tau, reliable),
    reliable being False when no such window exists or T < 50 tau. Units: samples.
    """
    x = np.asarray(to_numpy(series), dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    T = x.shape[0]
    if T < 4:
        return float("nan"), False
    x = x - x.mean(axis=0)
    f = np.fft.rfft(x, n=2 * T, axis=0)
    acov = np.fft.irfft(f * np.conj(f), axis=0)[:T].mean(axis=1)
    if acov[0] <= 0:  # constant series: no fluctuations, no correlation time
        return 1.0, True
    rho = acov / acov[0]
    taus = 2.0 * np.cumsum(rho) - 1.0
    window = np.nonzero(np.arange(T) >= c * taus)[0]
    if window.size == 0:
        return float(taus[-1]), False
    tau = float(taus[window[0]])
    return tau, bool(T >= 50 * tau)


def sample(
    J: Any,
    h: Any,
    n_chains: int,
    n_sweeps: int,
    burn_in: int = 100,
    thin: int = 1,
    beta: float = 1.0,
    seed: int | None = 0,
    init: Any = None,
    x: float = 0.0,
    sigma_star: Any = None,
    rule: str = "heatbath",
    order: str = "random",
    keep_samples: bool = False,
    accumulate_moments: bool = True,
    block: int = _BLOCK,
    progress: bool = False,
) -> MCResult:
    """Sample P(sigma) ∝ exp(beta[sum_{i<j} J s s + h s] + x s*.s) with R parallel chains.

    ``burn_in`` sweeps are discarded, then ``n_sweeps`` sweeps are run and every
    ``thin``-th state is recorded (energy, magnetisation, overlap with sigma*, the running
    m and raw C, and the configurations when ``keep_samples``).
    """
    xp = array_module(J)
    J = xp.asarray(J)
    h = xp.asarray(h, dtype=J.dtype)
    _check_model(J, h)
    for name, val, lo in (
        ("n_chains", n_chains, 1),
        ("n_sweeps", n_sweeps, 1),
        ("burn_in", burn_in, 0),
        ("thin", thin, 1),
    ):
        if int(val) < lo:
            raise ValueError(f"{name}={val}: must be >= {lo}")
    if n_sweeps < thin:
        raise ValueError(f"n_sweeps={n_sweeps} < thin={thin}: no sample would be recorded")
    tilt = _tilt_field(J, x, sigma_star)
    sstar = None if sigma_star is None else xp.asarray(sigma_star, dtype=J.dtype)
    rs = xp.random.RandomState(seed)
    ST = _initial_chains(J, n_chains, init, rs).T.copy()
    kernel = _Kernel(J, h, beta, tilt, rule, order, rs, block)
    FT = kernel.fields(ST)
    n = J.shape[0]
    n_kept = n_sweeps // thin
    energies = xp.empty((n_kept, n_chains), dtype=J.dtype)
    mags = xp.empty((n_kept, n_chains), dtype=J.dtype)
    overlaps = None if sstar is None else xp.empty((n_kept, n_chains), dtype=J.dtype)
    samples = xp.empty((n_kept, n_chains, n), dtype=xp.int8) if keep_samples else None
    m_sum = xp.zeros(n) if accumulate_moments else None  # float64 sums; S Sᵀ of ±1 is exact in float32
    C_sum = xp.zeros((n, n)) if accumulate_moments else None
    rec = 0
    total = burn_in + n_sweeps
    for t in tqdm(range(total), desc="MC sweeps", disable=not progress, mininterval=5.0):
        kernel.sweep(ST, FT)
        if (t + 1) % _REFRESH_EVERY == 0:
            FT = kernel.fields(ST)
        if t < burn_in or (t - burn_in + 1) % thin:
            continue
        energies[rec] = -0.5 * (ST * (FT + h[:, None])).sum(axis=0)
        mags[rec] = ST.mean(axis=0)
        if overlaps is not None:
            overlaps[rec] = sstar @ ST
        if samples is not None:
            samples[rec] = ST.T.astype(xp.int8)
        if accumulate_moments:
            m_sum += ST.sum(axis=1)
            C_sum += ST @ ST.T
        rec += 1
    n_samp = n_kept * n_chains
    tau_e, ok_e = integrated_autocorr_time(energies)
    tau_m, ok_m = integrated_autocorr_time(mags)
    return MCResult(
        samples=samples,
        energies=energies,
        magnetisations=mags,
        overlaps=overlaps,
        m=None if m_sum is None else m_sum / n_samp,
        C=None if C_sum is None else C_sum / n_samp,
        tau_energy=tau_e * thin,
        tau_magnetisation=tau_m * thin,
        tau_reliable=ok_e and ok_m,
        acceptance=kernel.acceptance(),
        chains=ST.T.copy(),
    )


class PersistentChains:
    """Chains kept between calls (persistent MC for Boltzmann learning with MC moments)."""

    def __init__(
        self, n_chains: int, n: int, seed: int | None = 0, xp: Any = np, rule: str = "heatbath", burn_in: int = 100
    ) -> None:
        self.rs = xp.random.RandomState(seed)
        self.chains = random_configs(xp, n_chains, n, self.rs)
        self.rule, self.burn_in = rule, burn_in

    def moments(self, J: Any, h: Any, n_sweeps: int) -> tuple[Any, Any]:
        """(m, C) averaged over ``n_sweeps`` sweeps continued from the stored chains.

        The first call first runs ``burn_in`` sweeps from the random start.
        """
        res = sample(
            J,
            h,
            self.chains.shape[0],
            n_sweeps,
            burn_in=self.burn_in,
            thin=1,
            seed=int(self.rs.randint(0, 2**31 - 1)),
            init=self.chains,
            rule=self.rule,
        )
        self.chains, self.burn_in = res.chains, 0
        return res.m, res.C


def mc_moments_fn(
    n_chains: int,
    n_sweeps: int,
    seed: int | None = 0,
    burn_in: int = 100,
    rule: str = "heatbath",
    dtype: Any = None,
) -> Callable[[Any, Any, Any], tuple[Any, Any, Any]]:
    """A ``moments_fn(J, h, state) -> (m, C, state)`` backed by persistent MC chains.

    ``state`` is the (R, N) chains array (None on the first call: random start plus
    ``burn_in`` sweeps); each call runs ``n_sweeps`` sweeps from it and averages m, raw C
    (float64). ``dtype`` (e.g. "float32"): the sampler's precision (default: that of J).
    """
    rng = np.random.default_rng(seed)

    def moments_fn(J: Any, h: Any, state: Any) -> tuple[Any, Any, Any]:
        J, h = (J, h) if dtype is None else (J.astype(dtype), h.astype(dtype))
        res = sample(
            J,
            h,
            n_chains,
            n_sweeps,
            burn_in=burn_in if state is None else 0,
            thin=1,
            seed=int(rng.integers(2**31 - 1)),
            init=state,
            rule=rule,
        )
        return res.m, res.C, res.chains

    return moments_fn


@dataclass
class TraceResult:
    """Output of :func:`metropolis_trace`: sweeps (n_obs,), energy_per_spin (n_obs, R),
    observed (list of the observer's outputs, one per observation), acceptance, chains."""

    sweeps: np.ndarray
    energy_per_spin: Any
    observed: list
    acceptance: float
    chains: Any


def metropolis_trace(
    J: Any,
    h: Any,
    init_configs: Any,
    n_sweeps: int,
    observe_every: int = 1,
    observer: Callable[[Any], Any] | None = None,
    beta: float = 1.0,
    seed: int | None = 0,
    progress: bool = False,
) -> TraceResult:
    """Single-flip Metropolis dynamics from given starts (Fig. 9), observed along the way.

    Records, at sweep 0 and every ``observe_every`` sweeps, E(sigma)/N of each chain and
    ``observer(configs)`` (e.g. the test accuracy of the networks whose weights are the
    current spins). Sweeps visit the spins in a fresh random order.
    """
    xp = array_module(J)
    h = xp.asarray(h, dtype=J.dtype)
    _check_model(J, h)
    if n_sweeps < 1 or observe_every < 1:
        raise ValueError(f"n_sweeps={n_sweeps}, observe_every={observe_every}: must be >= 1")
    init = xp.asarray(init_configs, dtype=J.dtype)
    init = init[None, :] if init.ndim == 1 else init
    rs = xp.random.RandomState(seed)
    ST = _initial_chains(J, init.shape[0], init, rs).T.copy()
    kernel = _Kernel(J, h, beta, xp.zeros(J.shape[0], dtype=J.dtype), "metropolis", "random", rs, _BLOCK)
    FT = kernel.fields(ST)
    n = J.shape[0]
    sweeps, energy, observed = [], [], []

    def record(t: int) -> None:
        sweeps.append(t)
        energy.append(-0.5 * (ST * (FT + h[:, None])).sum(axis=0) / n)
        if observer is not None:
            observed.append(observer(ST.T.copy()))

    record(0)
    for t in tqdm(range(1, n_sweeps + 1), desc="Metropolis", disable=not progress, mininterval=5.0):
        kernel.sweep(ST, FT)
        if t % _REFRESH_EVERY == 0:
            FT = kernel.fields(ST)
        if t % observe_every == 0:
            record(t)
    return TraceResult(np.asarray(sweeps), xp.stack(energy), observed, kernel.acceptance(), ST.T.copy())
