"""Monte-Carlo sampling of the pairwise Ising model (docs/design.md §3.3, §3.4; paper App. B, H, Fig. 9).

Target measure, with an optional tilt towards a reference configuration sigma*:

    P(sigma) ∝ exp( beta [ sum_{i<j} J_ij s_i s_j + sum_i h_i s_i ] + x sum_i s*_i s_i ),

energy E(sigma) = -sum_{i<j} J_ij s_i s_j - sum_i h_i s_i (untilted, beta-free).

Many independent chains (array of shape (R, N), entries ±1) are updated together by
single-spin moves (Metropolis or heat-bath) in sweeps over all spins. The local fields
F = S J + h of every chain are kept up to date incrementally and in blocks: inside a
block of b spins the field of each spin is corrected for the changes of the block's earlier
spins (a b x R product), and after the block the change of all N fields is one matmul
(N x b) @ (b x R). A sweep thus costs one R x N x N matmul plus O(R N b) vector work, and
is exactly a sequential single-spin sweep in the chosen order. Both rules become s_k ← sign(v_k − B_k)
with v_k the block's own couplings to its already updated spins and B_k all the rest (fields, threshold
of the uniform draw, tilt) computed for the whole block at once, so each spin costs one (k x R)
product, one subtraction and one copysign; on CuPy the within-block loop is one CUDA kernel (one
thread per chain, ``FUSED_BLOCKS``) and a sweep costs O(N / b) kernel launches. Random numbers come
from :class:`~weightspace.backend.CounterRNG`, drawn once per sweep on the device, so a seed gives the
same chains on NumPy and CuPy; no value is copied to the host inside the sweep loop (acceptance,
exchange and passage counters stay on the device until the end). The kernel runs in J's dtype
(float32 halves the memory traffic; the fields are recomputed every few sweeps); m and C are summed
in float64. Written once against ``xp`` (NumPy or CuPy).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from weightspace.backend import CounterRNG, array_module, to_numpy

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


def random_configs(xp: Any, n_chains: int, n: int, rng: Any, dtype: Any = float) -> Any:
    """n_chains uniform random ±1 configurations, shape (n_chains, n)."""
    return xp.where(rng.random((n_chains, n)) < 0.5, 1.0, -1.0).astype(dtype)


def _initial_chains(J: Any, n_chains: int, init: Any, rng: Any) -> Any:
    xp = array_module(J)
    n = J.shape[0]
    if init is None:
        return random_configs(xp, n_chains, n, rng, J.dtype)
    S = xp.asarray(init, dtype=J.dtype)
    if S.ndim == 1:
        S = xp.broadcast_to(S, (n_chains, n))
    S = S.copy()
    if S.shape != (n_chains, n) or not bool(xp.all(xp.abs(S) == 1)):
        raise ValueError(f"init: need ±1 entries of shape ({n},) or ({n_chains}, {n})")
    return S


_BLOCK_CUDA = r"""
extern "C" __global__ void block_spins(const T* Jbb, const T* B, T* S, const int b, const int R) {
    // one thread per chain r: the sequential within-block loop s_k = sign(sum_{k'<k} Jbb[k,k'] s_k' - B[k,r])
    const int r = blockDim.x * blockIdx.x + threadIdx.x;
    if (r >= R) return;
    for (int k = 0; k < b; ++k) {
        T v = 0;
        for (int j = 0; j < k; ++j) v += Jbb[k * b + j] * S[j * R + r];
        S[k * R + r] = copysign((T)1, v - B[k * R + r]);
    }
}
"""
FUSED_BLOCKS = True  # on CuPy, run the within-block loop as one CUDA kernel (False: the array twin)
_fused_cache: dict[str, Any] = {}


def _fused_kernel(xp: Any, dtype: Any) -> Any:
    """The compiled CUDA twin of :meth:`_Kernel.block_spins` for ``dtype`` (None on NumPy or when off)."""
    if xp is np or not FUSED_BLOCKS:
        return None
    name = np.dtype(dtype).name
    if name not in _fused_cache:
        ctype = {"float32": "float", "float64": "double"}[name]
        _fused_cache[name] = xp.RawKernel(f"#define T {ctype}\n{_BLOCK_CUDA}", "block_spins")
    return _fused_cache[name]


class _Kernel:
    """Blocked single-spin sweeps for R chains at once (see module docstring).

    Works on transposed arrays, spins x chains: ST (N, R) and fields FT = J ST + h (N, R),
    so that each spin's row over the chains is contiguous. Randomness comes from a
    :class:`~weightspace.backend.CounterRNG` (the same numbers on every backend), drawn once per
    sweep; nothing is copied to the host inside a sweep.
    """

    def __init__(self, J: Any, h: Any, beta: Any, tilt: Any, rule: str, order: str, rng: CounterRNG,
                 block: int) -> None:
        if rule not in RULES:
            raise ValueError(f"rule={rule!r}: choose one of {', '.join(RULES)}")
        if order not in ORDERS:
            raise ValueError(f"order={order!r}: choose one of {', '.join(ORDERS)}")
        if block < 1:
            raise ValueError(f"block={block}: need a positive block size")
        self.xp = array_module(J)
        # beta: a number, or one inverse temperature per chain (R,); tilt: (N,) or per chain (N, R)
        self.beta = float(beta) if np.ndim(beta) == 0 else self.xp.asarray(beta, dtype=J.dtype)
        self.J, self.h, self.tilt = J, h, tilt if tilt.ndim == 2 else tilt[:, None]
        self.rule, self.order, self.rng, self.block = rule, order, rng, int(block)
        self.sequential = self.xp.arange(J.shape[0])
        self.fused = _fused_kernel(self.xp, J.dtype)
        self.n_moves = 0
        self.n_changed = self.xp.zeros((), dtype=self.xp.int64)

    def fields(self, ST: Any) -> Any:
        """FT = J ST + h (untilted, beta-free local fields), shape (N, R)."""
        return self.J @ ST + self.h[:, None]

    def thresholds(self, shape: tuple[int, int], dtype: Any) -> Any:
        """Uniform draws u turned into thresholds θ on the spin's log-odds g, shape (N, R).

        heat-bath: s = +1 with probability e^g / (e^g + e^-g), i.e. iff g > θ = atanh(2u − 1);
        Metropolis: flip with probability min(1, e^{-2 s g}), i.e. iff s g < θ = −ln(u) / 2.
        """
        xp = self.xp
        u = self.rng.random(shape)
        with np.errstate(divide="ignore"):  # u = 0 (probability 2^-53): θ = ∓inf, still exact
            th = xp.arctanh(2.0 * u - 1.0) if self.rule == "heatbath" else -0.5 * xp.log(u)
        return th.astype(dtype)

    def block_spins(self, Jbb: Any, B: Any) -> Any:
        """New spins of a block (b, R): s_k = sign(v_k − B_k), v_k = Σ_{k'<k} Jbb_kk' s_k' over the
        block's already updated spins, in order (one CUDA kernel on CuPy, this loop otherwise)."""
        xp = self.xp
        S = xp.empty_like(B)
        if self.fused is not None:
            b, R = B.shape
            self.fused(((R + 127) // 128,), (128,), (Jbb, B, S, np.int32(b), np.int32(R)))
            return S
        xp.copysign(1.0, -B[0], out=S[0])
        for k in range(1, B.shape[0]):
            xp.copysign(1.0, Jbb[k, :k] @ S[:k] - B[k], out=S[k])
        return S

    def sweep(self, ST: Any, FT: Any) -> None:
        """One sweep over all N spins of every chain, in place on ST and FT.

        Spin k of a block has log-odds g_k = β(F_k + Σ_{k'<k} J_kk' d_k') + x s*_k (F the fields at
        the start of the block, d the changes of the block's earlier spins). Both rules set
        s_k ← sign(g_k − Θ_k), Θ = θ (heat-bath) or s_k θ (Metropolis: keep s iff s g ≥ θ), i.e.
        s_k ← sign(v_k − B_k) with v_k = Σ_{k'<k} J_kk' s'_k' over the new spins and
        B = (Θ − x s*)/β − (F − Σ_{k'<k} J_kk' s_k'); after the block FT += J[:, block] D.
        """
        xp, J, n, beta = self.xp, self.J, self.J.shape[0], self.beta
        perm = self.rng.permutation(n) if self.order == "random" else self.sequential
        TH = self.thresholds(ST.shape, ST.dtype)
        S0 = ST.copy()
        for start in range(0, n, self.block):
            idx = perm[start : start + self.block]
            Sb = ST[idx]  # copy (fancy indexing), (b, R)
            Jcols = J[:, idx]
            Jbb = Jcols[idx]
            th = TH[start : start + self.block]
            G = FT[idx] - xp.tril(Jbb, -1) @ Sb
            theta = th if self.rule == "heatbath" else Sb * th
            B = ((theta - self.tilt[idx]) / beta - G).astype(ST.dtype, copy=False)
            Snew = self.block_spins(Jbb, B)
            ST[idx] = Snew
            FT += Jcols @ (Snew - Sb)
        self.n_changed += (ST != S0).sum()
        self.n_moves += ST.shape[1] * n

    def acceptance(self) -> float:
        return int(self.n_changed) / max(self.n_moves, 1)


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
    res = temper(J, h, [beta], n_chains, n_sweeps, burn_in=burn_in, thin=thin, seed=seed, init=init, x=x / beta,
                 sigma_star=sigma_star, rule=rule, order=order, keep_samples=keep_samples,
                 accumulate_moments=accumulate_moments, block=block, progress=progress)
    tau_m, ok_m = integrated_autocorr_time(res.magnetisations[:, 0])
    return MCResult(
        samples=res.samples,
        energies=res.energies[:, 0],
        magnetisations=res.magnetisations[:, 0],
        overlaps=None if res.overlaps is None else res.overlaps[:, 0],
        m=res.m,
        C=res.C,
        tau_energy=float(res.tau_energy[0]),
        tau_magnetisation=tau_m * thin,
        tau_reliable=res.tau_reliable and ok_m,
        acceptance=res.acceptance,
        chains=res.chains,
    )


@dataclass
class TemperingResult:
    """Output of :func:`temper`. Arrays live on the backend of J; T temperatures, S chain sets.

    betas (T,) the ladder (ascending; the last is the target); energies, magnetisations, overlaps:
    (n_kept, T, S) E(sigma) (untilted), (1/N) sum_i s_i and Q = sum_i s*_i s_i of the state at each
    temperature of each set (overlaps None without sigma*); m (N,), C (N, N): averages of s_i and raw s_i s_j
    at the target temperature; samples: (n_kept, S, N) int8 at the target, or None;
    swap_acceptance (T-1,): accepted fraction of the swaps proposed between neighbours k, k+1;
    passages: how many times a state went from the hottest temperature down to the target (summed
    over sets; each brings the target a state decorrelated at high temperature); tau_energy (T,):
    integrated autocorrelation times in sweeps per temperature; tau_reliable: all of them
    reliable; acceptance: single-spin moves; chains (T*S, N) final states, temperature-major
    (row k*S + s).
    """

    betas: np.ndarray
    energies: Any
    magnetisations: Any
    overlaps: Any
    m: Any
    C: Any
    samples: Any
    swap_acceptance: np.ndarray
    passages: int
    tau_energy: np.ndarray
    tau_reliable: bool
    acceptance: float
    chains: Any


def geometric_ladder(beta_min: float, n_temps: int, beta_max: float = 1.0) -> np.ndarray:
    """n_temps inverse temperatures from beta_min to beta_max, equally spaced in ln beta ([beta_max] for 1)."""
    if not 0.0 < beta_min < beta_max or n_temps < 1:
        raise ValueError(f"beta_min={beta_min}, n_temps={n_temps}: need 0 < beta_min < {beta_max} and n_temps >= 1")
    return np.geomspace(beta_min, beta_max, n_temps) if n_temps > 1 else np.array([float(beta_max)])


def temper(
    J: Any,
    h: Any,
    betas: Any,
    n_sets: int,
    n_sweeps: int,
    burn_in: int = 100,
    thin: int = 1,
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
) -> TemperingResult:
    """Parallel tempering (replica exchange) on the ladder P_k(sigma) ∝ exp(-beta_k K(sigma)),
    K = E(sigma) - x sum_i s*_i s_i, the target being the last (largest) beta.

    ``n_sets`` independent sets of T = len(betas) chains (one chain per temperature) make single-spin
    sweeps together; after each sweep neighbours (k, k+1) of the same set, k even or odd in turn,
    exchange states with probability min(1, exp[(beta_k - beta_{k+1})(K_k - K_{k+1})]) (detailed
    balance in the product measure). Hot chains cross the barriers that trap single-spin moves at the
    target; sets never exchange, so they stay independent for error bars. ``init``: (N,), (S, N)
    (every temperature of a set starts there) or (T*S, N) temperature-major, e.g. ``chains`` of an
    earlier call. A single beta is plain single-spin sampling (:func:`sample` is this case).
    """
    xp = array_module(J)
    J = xp.asarray(J)
    h = xp.asarray(h, dtype=J.dtype)
    _check_model(J, h)
    betas = np.asarray(betas, dtype=float)
    if betas.ndim != 1 or betas.size < 1 or np.any(betas <= 0) or np.any(np.diff(betas) <= 0):
        raise ValueError(f"betas={betas.tolist()}: need positive, increasing inverse temperatures")
    if n_sets < 1 or n_sweeps < thin or thin < 1 or burn_in < 0:
        raise ValueError(f"n_sets={n_sets}, n_sweeps={n_sweeps}, thin={thin}, burn_in={burn_in}: need n_sets >= 1, "
                         "n_sweeps >= thin >= 1 and burn_in >= 0")
    n, T, S = J.shape[0], betas.size, int(n_sets)
    R = T * S
    if init is not None and np.ndim(init) == 2 and init.shape[0] == S != R:
        init = xp.tile(xp.asarray(init), (T, 1))
    rng = CounterRNG(xp, seed)
    ST = _initial_chains(J, R, init, rng).T.copy()
    beta_r = xp.asarray(np.repeat(betas, S), dtype=J.dtype)  # chain r = k*S + s has beta_k
    tilt = _tilt_field(J, x, sigma_star)
    sstar = None if sigma_star is None else xp.asarray(sigma_star, dtype=J.dtype)
    kernel = _Kernel(J, h, beta_r, tilt[:, None] * beta_r[None, :], rule, order, rng, block)
    FT = kernel.fields(ST)
    n_kept = n_sweeps // thin
    energies = xp.empty((n_kept, T, S), dtype=J.dtype)
    mags = xp.empty((n_kept, T, S), dtype=J.dtype)
    overlaps = None if sstar is None else xp.empty((n_kept, T, S), dtype=J.dtype)
    samples = xp.empty((n_kept, S, n), dtype=xp.int8) if keep_samples else None
    m_sum = xp.zeros(n) if accumulate_moments else None
    C_sum = xp.zeros((n, n)) if accumulate_moments else None
    # exchange bookkeeping stays on the device (no host sync per sweep): pairs (k, k+1), k even / odd
    pairs = [np.arange(p, T - 1, 2) for p in (0, 1)]
    pairs_dev = [xp.asarray(k) for k in pairs]
    n_acc, n_prop = xp.zeros(T - 1), np.zeros(T - 1)
    # each state carries the end of the ladder it last visited: +1 hottest, -1 target, 0 neither yet
    label = xp.zeros((T, S), dtype=xp.int8)
    passages = xp.zeros((), dtype=xp.int64)
    src0 = xp.arange(R).reshape(T, S)
    target = slice((T - 1) * S, R)
    db = xp.asarray(np.diff(betas), dtype=J.dtype)[:, None]  # (T-1, 1): beta_{k+1} - beta_k
    rec = 0
    desc = "MC sweeps" if T == 1 else "tempering sweeps"
    for t in tqdm(range(burn_in + n_sweeps), desc=desc, disable=not progress, mininterval=5.0):
        kernel.sweep(ST, FT)
        if (t + 1) % _REFRESH_EVERY == 0:
            FT = kernel.fields(ST)
        E = -0.5 * (ST * (FT + h[:, None])).sum(axis=0)
        Q = None if sstar is None else sstar @ ST
        K = (E if Q is None else E - x * Q).reshape(T, S)
        # exchange: log ratio (beta_k - beta_{k+1})(K_k - K_{k+1}) = db_k (K_{k+1} - K_k)
        ks = pairs_dev[t % 2]
        if pairs[t % 2].size:
            logr = db[ks] * (K[ks + 1] - K[ks])
            acc = xp.log(rng.random(logr.shape)) < logr
            n_acc[ks] += acc.sum(axis=1)
            n_prop[pairs[t % 2]] += S
            src = src0.copy()
            lo, hi = src0[ks], src0[ks + 1]
            src[ks] = xp.where(acc, hi, lo)
            src[ks + 1] = xp.where(acc, lo, hi)
            src = src.ravel()
            ST, FT, E, label = ST[:, src], FT[:, src], E[src], label.ravel()[src].reshape(T, S)
            Q = None if Q is None else Q[src]
        label[0] = 1  # states now at the hottest temperature
        passages += (label[T - 1] == 1).sum()  # a state from the hottest end reached the target
        label[T - 1] = -1
        if t < burn_in or (t - burn_in + 1) % thin:
            continue
        energies[rec] = E.reshape(T, S)
        mags[rec] = ST.mean(axis=0).reshape(T, S)
        if overlaps is not None:
            overlaps[rec] = Q.reshape(T, S)
        St = ST[:, target]
        if samples is not None:
            samples[rec] = St.T.astype(xp.int8)
        if accumulate_moments:
            m_sum += St.sum(axis=1)
            C_sum += St @ St.T
        rec += 1
    n_samp = n_kept * S
    taus = [integrated_autocorr_time(energies[:, k]) for k in range(T)]
    return TemperingResult(
        betas=betas,
        energies=energies,
        magnetisations=mags,
        overlaps=overlaps,
        m=None if m_sum is None else m_sum / n_samp,
        C=None if C_sum is None else C_sum / n_samp,
        samples=samples,
        swap_acceptance=to_numpy(n_acc) / np.maximum(n_prop, 1),
        passages=int(passages),
        tau_energy=np.array([tau for tau, _ in taus]) * thin,
        tau_reliable=all(ok for _, ok in taus),
        acceptance=kernel.acceptance(),
        chains=ST.T.copy(),
    )


def mc_moments_fn(
    n_chains: int,
    n_sweeps: int,
    seed: int | None = 0,
    burn_in: int = 100,
    rule: str = "heatbath",
    dtype: Any = None,
    temps: int = 1,
    beta_min: float = 0.2,
) -> Callable[[Any, Any, Any], tuple[Any, Any, Any]]:
    """A ``moments_fn(J, h, state) -> (m, C, state)`` backed by persistent MC chains.

    ``state`` is the chains array (None on the first call: random start plus ``burn_in``
    sweeps); each call runs ``n_sweeps`` sweeps from it and averages m, raw C (float64) at
    beta = 1. ``temps`` > 1: each of the ``n_chains`` target chains has a ladder of ``temps``
    replicas down to ``beta_min`` (:func:`temper`), for models where single-spin moves do not
    mix. ``dtype`` (e.g. "float32"): the sampler's precision (default: that of J).
    """
    rng = np.random.default_rng(seed)
    betas = geometric_ladder(beta_min, temps)

    def moments_fn(J: Any, h: Any, state: Any) -> tuple[Any, Any, Any]:
        J, h = (J, h) if dtype is None else (J.astype(dtype), h.astype(dtype))
        res = temper(
            J,
            h,
            betas,
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
    rng = CounterRNG(xp, seed)
    ST = _initial_chains(J, init.shape[0], init, rng).T.copy()
    kernel = _Kernel(J, h, beta, xp.zeros(J.shape[0], dtype=J.dtype), "metropolis", "random", rng, _BLOCK)
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


@dataclass
class TiltSweepResult:
    """Output of :func:`tilt_sweep`: x (T,); d, d_err, energy (K, 2, T) for K references, index 0 the
    sweep down (x[0] → x[-1]), 1 the sweep back up, entry t the value at x[t]: d = (1 - q)/2 with
    q = (1/N) sum_i s*_i s_i and energy E(sigma)/N, averaged over the chains and the second half of
    the sweeps at each point (d_err: standard error over chains); acceptance."""

    x: np.ndarray
    d: np.ndarray
    d_err: np.ndarray
    energy: np.ndarray
    acceptance: float


def tilt_sweep(
    J: Any,
    h: Any,
    refs: Any,
    xs: Any,
    n_chains: int = 32,
    sweeps_per_point: int = 20,
    seed: int | None = 0,
    progress: bool = False,
) -> TiltSweepResult:
    """The Monte-Carlo counterpart of the BP entropy sweep (docs/design.md §3.4) for models where BP fails.

    ``n_chains`` heat-bath chains per reference sigma*_k (rows of ``refs``, K x N) start at sigma*_k and
    sample P_x ∝ exp(-E(sigma) + x sum_i s*_i s_i) while x runs through ``xs`` and back, each point
    warm-started from the previous one with ``sweeps_per_point`` sweeps. Where the tilted model has
    two states separated by a barrier that single-spin moves cannot cross in that time, the two
    branches of d(x) disagree: a hysteresis loop (first-order transition). Unlike the BP loop its
    width also depends on the sweep rate; the equilibrium d(x) lies between the branches.
    """
    xp = array_module(J)
    J = xp.asarray(J)
    h = xp.asarray(h, dtype=J.dtype)
    _check_model(J, h)
    refs = xp.asarray(refs, dtype=J.dtype)
    xs = np.asarray(xs, dtype=float)
    n = J.shape[0]
    if refs.ndim != 2 or refs.shape[1] != n or not bool(xp.all(xp.abs(refs) == 1)):
        raise ValueError(f"refs: need ±1 references of shape (K, {n}); got {tuple(refs.shape)}")
    if xs.ndim != 1 or xs.size < 2 or n_chains < 2 or sweeps_per_point < 2:
        raise ValueError(f"x grid of {xs.size} points, n_chains={n_chains}, sweeps_per_point={sweeps_per_point}: "
                         "need >= 2 of each")
    K, T = refs.shape[0], xs.size
    starsT = xp.repeat(refs, n_chains, axis=0).T.copy()  # (N, K*chains): each chain's own reference
    ST = starsT.copy()
    kernel = _Kernel(J, h, 1.0, starsT, "heatbath", "random", CounterRNG(xp, seed), _BLOCK)
    FT = kernel.fields(ST)
    d, d_err, energy = np.zeros((3, K, 2, T))
    keep = sweeps_per_point - sweeps_per_point // 2
    sweeps = 0
    with tqdm(total=2 * T, desc="MC tilt sweep", disable=not progress, mininterval=5.0) as bar:
        for direction, order in enumerate((range(T), range(T - 1, -1, -1))):
            for t in order:
                kernel.tilt = xs[t] * starsT
                q_sum = xp.zeros(ST.shape[1])
                e_sum = xp.zeros(ST.shape[1])
                for k in range(sweeps_per_point):
                    kernel.sweep(ST, FT)
                    sweeps += 1
                    if sweeps % _REFRESH_EVERY == 0:
                        FT = kernel.fields(ST)
                    if k >= sweeps_per_point - keep:
                        q_sum += (starsT * ST).sum(axis=0) / n
                        e_sum += -0.5 * (ST * (FT + h[:, None])).sum(axis=0) / n
                dc = to_numpy((1.0 - q_sum / keep) / 2.0).reshape(K, n_chains)
                d[:, direction, t] = dc.mean(axis=1)
                d_err[:, direction, t] = dc.std(axis=1, ddof=1) / np.sqrt(n_chains)
                energy[:, direction, t] = to_numpy(e_sum / keep).reshape(K, n_chains).mean(axis=1)
                bar.update()
    return TiltSweepResult(xs, d, d_err, energy, kernel.acceptance())
