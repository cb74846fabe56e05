"""Benchmark of the Fig. 5 workload: entropy sweeps, 4 parts × K refs × 121 x × 2 directions.

Batched (this package: all references and both directions of a part in one sweep, ``bp`` in float32,
undamped with fallback to damping, cubic predictor, cache-sized chunks in worker threads) vs the
straightforward sweep: one reference at a time with plain ``weightspace.ising.bp.bp`` (float64,
damping 0.5), down then back up, each point warm-started from the previous fixed point.
The baseline is timed on ``--baseline-refs`` references and scaled linearly to K (it is exactly
linear: references are independent). Models: synthetic weakly coupled J ~ N(0, 0.5²/N),
h ~ N(0, 0.3²) of the 20-15-15-10 part sizes (full 675, LB 300, ITR 225, RB 150); references
uniform random ±1. Agreement: max |Δd| between both sweeps over the baseline references.

    python benchmarks/bench_landscape.py [--refs 60] [--baseline-refs 2] [--step 0.05] [--parts full,lb]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from weightspace.backend import get_xp, to_numpy
from weightspace.ising.bp import bp
from weightspace.landscape.entropy import entropy_landscape, x_grid

SIZES = {"full": 675, "lb": 300, "itr": 225, "rb": 150}


def synthetic(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    J = np.triu(rng.normal(0.0, 0.5 / np.sqrt(n), (n, n)), 1)
    return J + J.T, rng.normal(0.0, 0.3, n)


def baseline_sweep(
    J: np.ndarray, h: np.ndarray, ref: np.ndarray, x: np.ndarray, tol: float, damping: float
) -> np.ndarray:
    """One reference, sequential sweep down then back up with bp(); returns d (2, T) and the mean
    number of BP updates per point."""
    d = np.zeros((2, x.size))
    msg = None
    its = []
    for r, path in enumerate((x, x[::-1])):
        for t, xv in enumerate(path):
            res = bp(J, h + xv * ref, damping=damping, tol=tol, messages=msg)
            msg = res.messages
            its.append(int(res.iterations[0]))
            d[r, t if r == 0 else x.size - 1 - t] = (1 - float(res.m[0] @ ref) / ref.size) / 2
    return d, float(np.mean(its))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--refs", type=int, default=60)
    ap.add_argument("--baseline-refs", type=int, default=2)
    ap.add_argument("--step", type=float, default=0.05)
    ap.add_argument("--tol", type=float, default=1e-6)
    ap.add_argument("--damping", type=float, default=0.5)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--predictor", default="cubic")
    ap.add_argument("--no-adaptive", action="store_true", help="keep the damping fixed")
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--parts", default=",".join(SIZES), help="comma-separated subset of parts")
    ap.add_argument("--backend", default="auto")
    args = ap.parse_args()
    xp = get_xp(args.backend)
    x = x_grid(3.0, -3.0, args.step)
    rng = np.random.default_rng(0)
    t_batched = t_base = 0.0
    print(
        f"workload: {args.refs} refs × {len(SIZES)} parts × {x.size} x × 2 directions; "
        f"backend {xp.__name__}"
    )
    for i, (part, n) in enumerate(SIZES.items()):
        if part not in args.parts.split(","):
            continue
        J, h = synthetic(n, i)
        refs = np.where(rng.random((args.refs, n)) < 0.5, -1.0, 1.0)
        t0 = time.perf_counter()
        land = entropy_landscape(
            xp.asarray(J),
            xp.asarray(h),
            xp.asarray(refs),
            x,
            tol=args.tol,
            damping=args.damping,
            dtype=args.dtype,
            predictor=args.predictor,
            adaptive=not args.no_adaptive,
            batch_size=args.batch_size,
            workers=args.workers,
        )
        to_numpy(land.d)
        tb = time.perf_counter() - t0
        t0 = time.perf_counter()
        errs, its = [], []
        for k in range(args.baseline_refs):
            d, it = baseline_sweep(J, h, refs[k], x, args.tol, args.damping)
            errs.append(np.abs(d - land.d[k]).max())
            its.append(it)
        tbase = (time.perf_counter() - t0) * args.refs / args.baseline_refs
        t_batched += tb
        t_base += tbase
        print(
            f"{part:5s} N={n:4d}: batched {tb:7.1f} s   baseline {tbase:7.1f} s "
            f"(scaled from {args.baseline_refs})"
            f"   ratio {tbase / tb:5.1f}x   max|Δd| vs baseline {max(errs):.1e}   "
            f"unconverged {int((~land.converged).sum())}   "
            f"BP updates/point: batched {land.iterations.mean():.1f} (damped at "
            f"{land.damped.mean():.1%} of points), baseline {np.mean(its):.1f}"
        )
    print(
        f"TOTAL: batched {t_batched:.1f} s, baseline {t_base:.1f} s, "
        f"speed-up {t_base / t_batched:.1f}x"
    )


if __name__ == "__main__":
    main()
