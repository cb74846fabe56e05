"""Entropy landscape around reference configurations (docs/design.md §3.4; paper Sec. IV, Eqs. 6–8, App. C).

Tilted measure P_x(σ) ∝ exp(−βE(σ) + x Σ_i σ*_i σ_i), solved by BP with h_i → βh_i + xσ*_i.
With ln Z_x the Bethe log-partition function of the tilted system, per spin:

  −βf = ln Z_x / N (Eq. 7),  ε = E(⟨σ⟩_BP)/N of the *untilted* Hamiltonian (from the beliefs),
  q = (1/N) Σ_i σ*_i m_i,  d = (1 − q)/2,  s = −βf + βε − xq                  (double Legendre)

so that s is the Gibbs (Bethe) entropy per spin of P_x: ln P_x = −βE + xNq − ln Z_x.
Upper bound s_ub(d) = −d ln d − (1−d) ln(1−d).

Sweeps: every system (one reference, one direction) follows its own path of x values; each point
is one call of the package's BP kernel :func:`weightspace.ising.bp.bp` (float32 by default,
undamped with a per-system fallback to damping, converged systems leave the batch), warm-started
from the extrapolation of the previous fixed points (:func:`predict`). The sweep down
(+3 → −3) and the sweep up (−3 → +3) run side by side as independent systems of one batch; the
up branch starts from fresh messages at the lowest x, where the strong tilt leaves one fixed
point (the mismatch with the down branch's end is reported as ``end_mismatch``). All references
and both directions of a part are one array computation (J shared, fields (B,N)); on a CPU the
batch is cut into cache-sized chunks that run in worker threads, on a GPU into chunks that fit in
half of the free device memory.
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

from weightspace.backend import array_module, free_device_bytes, to_numpy
from weightspace.ising.bp import DTYPES, PAPER_INIT_SCALE, Workspace, bp, couplings

log = logging.getLogger(__name__)

PREDICTORS = ("previous", "linear", "quadratic", "cubic", "quartic")
_CPU_CHUNK_BYTES = 24 << 20  # working set per chunk on a CPU (≈ 5 (B,N,N) buffers hot per update)
_GPU_MEMORY_FRACTION = 0.5  # share of the free device memory one chunk may take
_BUFFERS_PER_SYSTEM = 8  # (N,N) buffers per system on a GPU: messages, update, couplings, scratch, margin


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
    iterations (BP updates at that point), converged (residual < tol), damped (the adaptive BP
    had to switch to damping there); all (B,T) NumPy."""

    log_z: np.ndarray
    energy: np.ndarray
    q: np.ndarray
    residual: np.ndarray
    iterations: np.ndarray
    converged: np.ndarray
    damped: np.ndarray


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


class WarmStarts:
    """Start messages along the paths of a batch: copies of the last k fixed points (``bp`` with a
    workspace reuses its buffers) and their polynomial (Lagrange) extrapolation in x to the next
    point, M_start = Σ_j L_j(x) M(x_j), L_j(x) = Π_{l≠j} (x − x_l)/(x_j − x_l), per system
    (k = 1 ``previous``, 2 ``linear``, 3 ``quadratic``, 4 ``cubic``, 5 ``quartic``; on an equally
    spaced path e.g. cubic is 4a − 6b + 4c − d). Computed in the storage layout of the newest
    fixed point (see :mod:`weightspace.ising.bp`); bp clips the start into [−1, 1]."""

    def __init__(self, predictor: str) -> None:
        if predictor not in PREDICTORS:
            raise ValueError(f"predictor={predictor!r}: choose one of {PREDICTORS}")
        self.order = PREDICTORS.index(predictor) + 1
        self.hist: list[tuple[Any, bool, np.ndarray]] = []  # (copy, transposed, x (B,)), oldest 1st
        self.out: Any = None
        self.tmp: Any = None

    def push(self, messages: Any, x: np.ndarray) -> None:
        """Keep a copy of the fixed points ``messages`` (B,N,N) at tilts ``x`` (B,), recycling the
        oldest buffer."""
        xp = array_module(messages)
        tr = not messages.flags.c_contiguous
        src = xp.swapaxes(messages, 1, 2) if tr else messages
        buf = self.hist.pop(0)[0] if len(self.hist) == self.order else None
        if buf is None or buf.shape != src.shape or buf.dtype != src.dtype:
            buf = xp.empty_like(src)
        buf[...] = src
        self.hist.append((buf, tr, np.asarray(x, dtype=float)))

    def start(self, x: np.ndarray) -> Any | None:
        """Predicted messages at tilts ``x`` (B,) (None before the first point)."""
        if not self.hist:
            return None
        xp = array_module(self.hist[0][0])
        newest, tr, _ = self.hist[-1]
        xs = np.stack([h[2] for h in self.hist])  # (k,B)
        diff = xs[:, None, :] - xs[None, :, :]
        distinct = (diff != 0) | np.eye(len(xs), dtype=bool)[:, :, None]
        if len(xs) == 1 or not distinct.all():
            return xp.swapaxes(newest, 1, 2) if tr else newest
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = (np.asarray(x, dtype=float)[None, None, :] - xs[None, :, :]) / diff
        coef = np.where(np.eye(len(xs), dtype=bool)[:, :, None], 1.0, ratio).prod(axis=1)  # (k,B)
        if self.out is None or self.out.shape != newest.shape or self.out.dtype != newest.dtype:
            self.out, self.tmp = xp.empty_like(newest), xp.empty_like(newest)
        for j, (a, t, _) in enumerate(self.hist):
            m = a if t == tr else xp.swapaxes(a, 1, 2)  # in the newest's layout
            c = xp.asarray(coef[j], dtype=a.dtype)[:, None, None]
            if j == 0:
                xp.multiply(m, c, out=self.out)
            else:
                self.out += xp.multiply(m, c, out=self.tmp)
        return xp.swapaxes(self.out, 1, 2) if tr else self.out


def sweep_paths(
    J: Any,
    h: Any,
    refs: Any,
    xs: np.ndarray,
    *,
    beta: float = 1.0,
    damping: float = 0.5,
    adaptive: bool = True,
    tol: float = 1e-6,
    max_iter: int = 1000,
    dtype: str = "float32",
    predictor: str = "cubic",
    init_scale: float = PAPER_INIT_SCALE,
    seed: int = 0,
    progress: bool = False,
) -> PathResult:
    """BP of P ∝ exp(−βE + x_bt σ*_b·σ) for every system b along its path xs[b] (B,T), in one batch.

    Each point is :func:`weightspace.ising.bp.bp` (``damping``, ``adaptive``, ``tol``,
    ``max_iter``, ``dtype``) warm-started by :class:`WarmStarts` from the previous fixed points;
    the first point starts from N(0, init_scale²) messages.
    """
    warm = WarmStarts(predictor)
    if dtype not in DTYPES:
        raise ValueError(f"dtype={dtype!r}: choose one of {DTYPES}")
    xs = np.asarray(xs, dtype=float)
    _check_inputs(J, h, refs, xs)
    xp = array_module(J)
    nb, nt = xs.shape
    n = J.shape[-1]
    cp = couplings(J, beta, dtype)
    sstar = refs.astype(cp.T.dtype)
    base = (beta * h).astype(cp.T.dtype)[None, :]
    ws = Workspace()
    out = {k: np.zeros((nb, nt)) for k in ("log_z", "energy", "q", "residual", "iterations")}
    out["damped"] = np.zeros((nb, nt), bool)
    for t in tqdm(range(nt), desc=f"tilt sweep N={n}", disable=not progress, mininterval=5.0):
        g = base + xp.asarray(xs[:, t], dtype=cp.T.dtype)[:, None] * sstar
        r = bp(
            cp,
            g,
            damping=damping,
            adaptive=adaptive,
            tol=tol,
            max_iter=max_iter,
            messages=warm.start(xs[:, t]),
            seed=seed,
            init_scale=init_scale,
            correlations=False,
            workspace=ws,
        )
        warm.push(r.messages, xs[:, t])
        out["log_z"][:, t] = to_numpy(-r.free_energy) / n
        out["energy"][:, t] = to_numpy(r.coupling_energy - r.m @ h.astype(r.m.dtype)) / n
        out["q"][:, t] = to_numpy((r.m * sstar).sum(axis=-1)) / n
        out["residual"][:, t] = to_numpy(r.residual)
        out["iterations"][:, t] = r.iterations
        out["damped"][:, t] = r.damped
    return PathResult(converged=out["residual"] < tol, **out)


def default_batch_size(n: int, xp: Any, dtype: str) -> int:
    """Systems per chunk. On a CPU as many as keep the ≈5 (B,N,N) buffers of an update (messages ×3,
    couplings, scratch) within a few tens of MB; on a GPU as many as fit, with ~8 (N,N) buffers each,
    in half of the free device memory."""
    per_system = n * n * np.dtype(dtype).itemsize
    free = free_device_bytes(xp)
    if free is None:
        return max(1, _CPU_CHUNK_BYTES // (5 * per_system))
    return max(1, int(_GPU_MEMORY_FRACTION * free) // (_BUFFERS_PER_SYSTEM * per_system))


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
    if xp is not np:
        log.info("%d systems in %d chunk(s) of <= %d (free device memory: %.1f GiB)", nb, len(chunks), size,
                 (free_device_bytes(xp) or 0) / 2**30)
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
    iterations, damped (BP needed damping); end_mismatch (K,) |d_down − d_up| at the lowest x
    (both branches start apart)."""

    x: np.ndarray
    d: np.ndarray
    s: np.ndarray
    energy: np.ndarray
    free_energy: np.ndarray
    q: np.ndarray
    converged: np.ndarray
    residual: np.ndarray
    iterations: np.ndarray
    damped: np.ndarray
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
        damped=shape(res.damped.astype(float)).astype(bool),
        end_mismatch=np.abs(d[:, 0, -1] - d[:, 1, -1]),
    )


def save_landscape(path: Path, land: Landscape, **extra: Any) -> None:
    """``landscape.npz``: the arrays of :class:`Landscape` plus ``extra`` (scalars, names)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **land.arrays(), **{k: np.asarray(v) for k, v in extra.items()})
