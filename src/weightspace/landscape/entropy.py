"""Entropy landscape around reference configurations (DESIGN 3.4; paper Sec. IV, Eqs. 6–8, App. C).

Tilted measure P_x(σ) ∝ exp(−βE(σ) + x Σ_i σ*_i σ_i), solved by BP with h_i → βh_i + xσ*_i.
With ln Z_x the Bethe log-partition function of the tilted system, per spin:

  −βf = ln Z_x / N (Eq. 7),  ε = E(⟨σ⟩_BP)/N of the *untilted* Hamiltonian (from the beliefs),
  q = (1/N) Σ_i σ*_i m_i,  d = (1 − q)/2,  s = −βf + βε − xq                  (double Legendre)

so that s is the Gibbs (Bethe) entropy per spin of P_x: ln P_x = −βE + xNq − ln Z_x.
Upper bound s_ub(d) = −d ln d − (1−d) ln(1−d).

Sweeps: every system (one reference, one direction) follows its own path of x values and is
warm-started point to point. The sweep down (+3 → −3) and the sweep up (−3 → +3) run side by
side in lockstep as independent systems of one batch; the up branch starts from fresh messages
at the lowest x, where the strong tilt leaves one fixed point (the mismatch with the down
branch's end is reported as ``end_mismatch``). All references and both directions of a part are
one array computation (J shared, fields (B,N)); on a CPU the batch is cut into cache-sized
chunks that run in worker threads.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from weightspace.backend import array_module, to_numpy
from weightspace.ising.bp import PAPER_INIT_SCALE
from weightspace.landscape import tilted_bp as tbp

log = logging.getLogger(__name__)

PREDICTORS = ("previous", "linear")
DTYPES = ("float32", "float64")
_CPU_CHUNK_BYTES = 24 << 20  # working set per chunk (≈ 5 (B,N,N) buffers) on a CPU


def x_grid(x_max: float = 3.0, x_min: float = -3.0, step: float = 0.05) -> np.ndarray:
    """Sweep-down tilts, x_max → x_min in steps of ``step`` (paper: 3 → −3, 0.05, T=121)."""
    if not (x_max > x_min and step > 0):
        raise ValueError(f"x grid: need x_max > x_min and step > 0 (got {x_max}, {x_min}, {step})")
    n = int(round((x_max - x_min) / step)) + 1
    return np.round(np.linspace(x_max, x_min, n), 12)


def s_upper_bound(d: Any) -> Any:
    """s_ub(d) = −d ln d − (1−d) ln(1−d), the entropy of the distance constraint alone."""
    d = np.clip(np.asarray(d, dtype=float), 0.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = -np.where(d > 0, d * np.log(d), 0.0) - np.where(d < 1, (1 - d) * np.log1p(-d), 0.0)
    return out


@dataclass
class PathResult:
    """Per system b and step t of its path: log_z = ln Z/N, energy ε (untilted), q, residual,
    iterations (BP evaluations at that point), converged (residual < tol); all (B,T) NumPy."""

    log_z: np.ndarray
    energy: np.ndarray
    q: np.ndarray
    residual: np.ndarray
    iterations: np.ndarray
    converged: np.ndarray


def _check_inputs(J: Any, h: Any, refs: Any, xs: np.ndarray) -> None:
    n = J.shape[-1]
    if J.shape != (n, n) or h.shape != (n,):
        raise ValueError(f"model: J {tuple(J.shape)} / h {tuple(h.shape)}: need J (N,N), h (N,)")
    if refs.ndim != 2 or refs.shape[1] != n:
        raise ValueError(f"references: shape {tuple(refs.shape)}, need (K, {n}) ±1 rows")
    if not bool(array_module(refs).all(array_module(refs).abs(refs) == 1)):
        raise ValueError("references: entries must be ±1")
    if xs.ndim != 2 or xs.shape[0] != refs.shape[0]:
        raise ValueError(f"x paths: shape {xs.shape}, need (K, T) with one path per reference")


def sweep_paths(
    J: Any,
    h: Any,
    refs: Any,
    xs: np.ndarray,
    *,
    beta: float = 1.0,
    damping: float = 0.5,
    tol: float = 1e-6,
    max_iter: int = 1000,
    dtype: str = "float32",
    predictor: str = "linear",
    init_scale: float = PAPER_INIT_SCALE,
    seed: int = 0,
    progress: bool = False,
) -> PathResult:
    """BP of P ∝ exp(−βE + x_bt σ*_b·σ) for every system b along its path xs[b] (B,T), in one batch.

    Each point is warm-started from the previous one (``predictor="previous"``) or from the linear
    extrapolation of the last two fixed points (``"linear"``, clipped into (−1,1)); the first point
    starts from N(0, init_scale²) messages.
    """
    if predictor not in PREDICTORS:
        raise ValueError(f"predictor={predictor!r}: choose one of {PREDICTORS}")
    if dtype not in DTYPES:
        raise ValueError(f"dtype={dtype!r}: choose one of {DTYPES}")
    if not 0.0 <= damping < 1.0 or tol <= 0 or max_iter < 1:
        raise ValueError(
            f"BP: need 0 ≤ damping < 1, tol > 0, max_iter ≥ 1 ({damping}, {tol}, {max_iter})"
        )
    xs = np.asarray(xs, dtype=float)
    _check_inputs(J, h, refs, xs)
    xp = array_module(J)
    dt = getattr(xp, dtype)
    nb, nt = xs.shape
    n = J.shape[-1]
    Jd = J.astype(dt)
    T = tbp.couplings_tanh(Jd, beta)
    lcb = float(tbp.half_log_cosh_sum(J.astype(xp.float64), beta))
    sstar = refs.astype(dt)
    base = (beta * h).astype(dt)[None, :]
    msg = tbp.initial_messages(nb, n, init_scale, seed, xp, dt)
    prev: tbp.Messages | None = None
    out = {k: np.zeros((nb, nt)) for k in ("log_z", "energy", "q", "residual", "iterations")}
    bound = 1.0 - 1e-6
    for t in tqdm(range(nt), desc=f"tilt sweep N={n}", disable=not progress, mininterval=5.0):
        x_t = xp.asarray(xs[:, t], dtype=dt)[:, None]
        g = base + x_t * sstar
        start = msg
        if predictor == "linear" and prev is not None:
            start = tbp.Messages(
                xp.clip(2.0 * msg.M - prev.M, -bound, bound),
                xp.clip(2.0 * msg.Mt - prev.Mt, -bound, bound),
            )
        prev = msg.copy() if predictor == "linear" else None
        msg, res, its = tbp.iterate(T, g, start, damping=damping, tol=tol, max_iter=max_iter)
        obs = tbp.bethe_observables(Jd, T, g, msg, lcb)
        out["log_z"][:, t] = to_numpy(obs.log_z) / n
        out["energy"][:, t] = to_numpy(-obs.pair - (obs.m * h[None, :]).sum(axis=-1)) / n
        out["q"][:, t] = to_numpy((obs.m * sstar).sum(axis=-1)) / n
        out["residual"][:, t] = to_numpy(res)
        out["iterations"][:, t] = its
    return PathResult(converged=out["residual"] < tol, **out)


def default_batch_size(n: int, xp: Any, dtype: str) -> int:
    """Systems per chunk: everything at once on a GPU; on a CPU as many as keep the ≈5 (B,N,N)
    working buffers within a few tens of MB (larger chunks are slower: memory bound)."""
    if xp is not np:
        return 1 << 30
    return max(1, _CPU_CHUNK_BYTES // (5 * n * n * np.dtype(dtype).itemsize))


def sweep_batched(
    J: Any,
    h: Any,
    refs: Any,
    xs: np.ndarray,
    *,
    batch_size: int | None = None,
    workers: int = 1,
    progress: bool = False,
    **kwargs: Any,
) -> PathResult:
    """:func:`sweep_paths` on chunks of ``batch_size`` systems (None: :func:`default_batch_size`),
    ``workers`` chunks at a time in threads (NumPy releases the GIL in its array loops)."""
    xp = array_module(J)
    nb = refs.shape[0]
    size = batch_size or default_batch_size(J.shape[-1], xp, kwargs.get("dtype", "float32"))
    chunks = [slice(a, min(a + size, nb)) for a in range(0, nb, size)]
    t0 = time.perf_counter()

    def one(sl: slice) -> PathResult:
        return sweep_paths(J, h, refs[sl], xs[sl], progress=progress and len(chunks) == 1, **kwargs)

    if workers > 1 and len(chunks) > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(one, sl) for sl in chunks]
            parts = [f.result() for f in tqdm(futures, desc="sweep chunks", disable=not progress)]
    else:
        parts = [
            one(sl)
            for sl in tqdm(chunks, desc="sweep chunks", disable=not progress or len(chunks) == 1)
        ]
    log.info(
        "swept %d systems × %d points (N=%d) in %.1f s",
        nb,
        xs.shape[1],
        J.shape[-1],
        time.perf_counter() - t0,
    )
    return PathResult(
        **{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(PathResult)}
    )


@dataclass
class Landscape:
    """Entropy landscape of one model part: x (T,) the sweep-down grid; per reference k,
    direction r (0: down +3 → −3, 1: back up) and t the value at x[t], arrays (K,2,T):
    d, s, energy (ε, untilted), free_energy (βf = −ln Z_x/N, Eq. 7), q, converged, residual,
    iterations; end_mismatch (K,) |d_down − d_up| at the lowest x (both branches start apart)."""

    x: np.ndarray
    d: np.ndarray
    s: np.ndarray
    energy: np.ndarray
    free_energy: np.ndarray
    q: np.ndarray
    converged: np.ndarray
    residual: np.ndarray
    iterations: np.ndarray
    end_mismatch: np.ndarray

    def arrays(self) -> dict[str, np.ndarray]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def entropy_landscape(
    J: Any, h: Any, refs: Any, x: np.ndarray, *, beta: float = 1.0, **kwargs: Any
) -> Landscape:
    """Sweep down along ``x`` and back up for every reference (rows of ``refs``) in one batch."""
    x = np.asarray(x, dtype=float)
    xp = array_module(J)
    refs = xp.asarray(refs)
    k = refs.shape[0]
    both = xp.concatenate([refs, refs])
    xs = np.concatenate([np.tile(x, (k, 1)), np.tile(x[::-1], (k, 1))])
    res = sweep_batched(J, h, both, xs, beta=beta, **kwargs)

    def shape(a: np.ndarray) -> np.ndarray:
        a = a.reshape(2, k, -1).transpose(1, 0, 2).copy()
        a[:, 1] = a[:, 1, ::-1]
        return a

    q, log_z, energy = shape(res.q), shape(res.log_z), shape(res.energy)
    d = (1.0 - q) / 2.0
    return Landscape(
        x=x,
        d=d,
        s=log_z + beta * energy - x[None, None, :] * q,
        energy=energy,
        free_energy=-log_z,
        q=q,
        converged=shape(res.converged.astype(float)).astype(bool),
        residual=shape(res.residual),
        iterations=shape(res.iterations).astype(int),
        end_mismatch=np.abs(d[:, 0, -1] - d[:, 1, -1]),
    )


def save_landscape(path: Path, land: Landscape, **extra: Any) -> None:
    """``landscape.npz``: the arrays of :class:`Landscape` plus ``extra`` (scalars, names)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **land.arrays(), **{k: np.asarray(v) for k, v in extra.items()})
