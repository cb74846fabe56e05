"""Time Boltzmann learning of a 675-spin effective Ising model: ours vs the paper-style baseline.

Ours: Adam, warm-started damped BP, automatic shrunk independent-pair start, fresh-start stability
checks (``boltzmann_learn`` defaults). Baseline (paper Sec. III): J = 0, h = atanh m, plain SGD
lr_J 0.01, lr_h 0.3, lightly damped BP, 300 steps, no checks. Both report fresh-start Δ_BP.

Data: ``--configs file.npy`` (M, N) of ±1 (or 0/1) weights, or a synthetic ensemble: samples of a
mixture of ``--clusters`` product measures (solution clusters) around a common magnetisation.

    .venv/bin/python benchmarks/bench_fit.py [--configs X.npy] [--n 675] [--samples 200000]
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np

from weightspace.backend import get_xp, to_numpy
from weightspace.ising.boltzmann import boltzmann_learn
from weightspace.ising.moments import Moments, accumulate_moments, mixture_samples


def load_moments(args: argparse.Namespace) -> Moments:
    """Moments of the given ±1 configurations, or of a synthetic cluster-mixture ensemble."""
    if args.configs:
        path = Path(args.configs)
        if not path.is_file():
            raise SystemExit(f"--configs {path}: no such file; pass an (M, N) ±1 .npy array")
        x = np.load(path, mmap_mode="r")
        if x.ndim != 2:
            raise SystemExit(f"--configs {path}: expected an (M, N) array, got shape {x.shape}")
        chunks = (np.asarray(x[i : i + 100_000]) for i in range(0, x.shape[0], 100_000))
        if x.min() == 0:
            chunks = (2 * c.astype(np.int8) - 1 for c in chunks)
        return accumulate_moments(chunks)
    rng = np.random.default_rng(args.seed)
    base = rng.normal(0.0, 0.5, args.n)
    centers = np.tanh(base + rng.normal(0.0, args.spread, (args.clusters, args.n)))
    x = mixture_samples(centers, np.ones(args.clusters), args.samples, seed=args.seed + 1)
    return accumulate_moments(np.array_split(x, 8))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--configs", default="", help="(M, N) ±1 .npy of weight configurations")
    p.add_argument("--n", type=int, default=675)
    p.add_argument("--clusters", type=int, default=100)
    p.add_argument("--spread", type=float, default=0.5)
    p.add_argument("--samples", type=int, default=200_000)
    p.add_argument("--max-steps", type=int, default=300)
    p.add_argument("--tol", type=float, default=0.01)
    p.add_argument("--backend", default="auto", choices=["auto", "numpy", "cupy"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--skip-baseline", action="store_true")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    xp = get_xp(args.backend)
    t0 = time.perf_counter()
    d = load_moments(args)
    m, C = xp.asarray(d.m), xp.asarray(d.C)
    cc = to_numpy(C) - np.outer(to_numpy(m), to_numpy(m))
    off = ~np.eye(cc.shape[0], dtype=bool)
    print(f"data: N={m.shape[0]} M={d.n_samples} rms C_conn={np.sqrt((cc[off] ** 2).mean()):.4f} "
          f"({time.perf_counter() - t0:.1f} s)")
    runs = {"ours": dict(max_steps=args.max_steps, tol=args.tol)}
    if not args.skip_baseline:
        runs["baseline"] = dict(init="zero", optimizer="sgd", lr_J=0.01, lr_h=0.3,
                                bp_damping=0.1, check_every=None, max_steps=300, tol=args.tol)
    out = {}
    for name, kw in runs.items():
        r = boltzmann_learn(m, C, **kw)
        out[name] = r
        print(f"{name:9s} {r.seconds:8.1f} s  steps {r.steps:4d}  Δ_warm {r.delta[-1]:.4f}  "
              f"Δ_BP(fresh) {r.delta_bp:.4f}  converged {r.converged}  "
              f"fresh_disagrees {r.fresh_disagrees}  backtracks {r.n_backtracks}  "
              f"BP failures {r.n_moment_failures}  shrink {r.shrink}")
    if "baseline" in out:
        o, b = out["ours"], out["baseline"]
        print(f"time ratio baseline/ours = {b.seconds / o.seconds:.2f}; "
              f"Δ_BP ours {o.delta_bp:.4f} vs baseline {b.delta_bp:.4f}")


if __name__ == "__main__":
    main()
