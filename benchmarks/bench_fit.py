"""Time Boltzmann learning of the effective Ising model: ours vs the paper-style baseline.

Ours: ``boltzmann_learn`` with fit_ising.py's ``bethe`` settings (the 'stable_pair' start — the
data's own BP fixed point if BP reaches it, else its correlations clipped to the edge of BP stability
by the Jacobian radius — then Eq. 5: SGD steps on warm BP moments with radius and fresh-start
checks, keep-best by fresh-start delta_bp). Baseline (paper Sec. III):
J = 0, h = atanh m, plain SGD lr_J 0.01, lr_h 0.3, lightly damped BP, 300 steps, no checks. Both
report delta_bp: Δ of BP from fresh N(0, 0.01²) messages (bp() defaults, as fit_ising.py does).
``--mc-sweeps`` adds delta_mc, Δ of Monte-Carlo moments of each fitted model.

Data: ``--store DIR`` (an ensemble store; ``--parts`` of its network), ``--configs file.npy``
(M, N) of ±1 (or 0/1) weights, or a synthetic ensemble: samples of a mixture of ``--clusters``
product measures (solution clusters) around a common magnetisation.

    .venv/bin/python benchmarks/bench_fit.py --store outputs/ensembles/over_para_deep_20_15_15_10
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
from weightspace.ising.bp import bp
from weightspace.ising.moments import Moments, accumulate_moments, fit_delta, mixture_samples
from weightspace.ising.sampler import sample
from weightspace.ising.source import from_store
from weightspace.nets.spins import part_slice

PAPER_BASELINE = dict(init="zero", optimizer="sgd", lr_J=0.01, lr_h=0.3, bp_damping=0.1,
                      check_every=None, max_steps=300)


def load_moments(args: argparse.Namespace) -> tuple[Moments, dict[str, slice]]:
    """Moments of the store / given ±1 configurations / a synthetic cluster-mixture ensemble, and
    the parts to fit (spin slices)."""
    if args.store:
        src = from_store(Path(args.store))
        widths = src.widths or args.widths
        return src.moments, {p: part_slice(widths, p) for p in args.parts.split(",")}
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
        d = accumulate_moments(chunks)
        return d, {"full": slice(0, d.m.shape[0])}
    rng = np.random.default_rng(args.seed)
    base = rng.normal(0.0, 0.5, args.n)
    centers = np.tanh(base + rng.normal(0.0, args.spread, (args.clusters, args.n)))
    x = mixture_samples(centers, np.ones(args.clusters), args.samples, seed=args.seed + 1)
    return accumulate_moments(np.array_split(x, 8)), {"full": slice(0, args.n)}


def fresh_delta(m, C, J, h, seed: int) -> tuple[float, bool]:
    """delta_bp by its definition: BP from fresh N(0, 0.01²) messages (bp() defaults)."""
    r = bp(J, h, seed=seed)
    return fit_delta(m, C, r.m[0], r.C[0]), bool(to_numpy(r.converged)[0])


def mc_delta(m, C, J, h, args: argparse.Namespace) -> tuple[float, float]:
    """delta_mc and the integrated autocorrelation time (sweeps) of the MC run."""
    r = sample(J, h, args.mc_chains, args.mc_sweeps, burn_in=args.mc_burn_in, seed=args.seed)
    return fit_delta(m, C, r.m, r.C), float(r.tau_energy)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--store", default="", help="ensemble store directory")
    p.add_argument("--parts", default="full,lb,itr,rb", help="parts to fit (with --store)")
    p.add_argument("--widths", default="20,15,15,10", help="network widths if the store lacks them")
    p.add_argument("--configs", default="", help="(M, N) ±1 .npy of weight configurations")
    p.add_argument("--n", type=int, default=675)
    p.add_argument("--clusters", type=int, default=100)
    p.add_argument("--spread", type=float, default=0.5)
    p.add_argument("--samples", type=int, default=200_000)
    p.add_argument("--max-steps", type=int, default=30)
    p.add_argument("--tol", type=float, default=0.01)
    p.add_argument("--backend", default="auto", choices=["auto", "numpy", "cupy"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--skip-baseline", action="store_true")
    p.add_argument("--mc-sweeps", type=int, default=0, help="> 0: also report delta_mc")
    p.add_argument("--mc-chains", type=int, default=256)
    p.add_argument("--mc-burn-in", type=int, default=500)
    args = p.parse_args()
    args.widths = [int(w) for w in args.widths.split(",")]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    xp = get_xp(args.backend)
    t0 = time.perf_counter()
    d, parts = load_moments(args)
    print(f"data: N={d.m.shape[0]} M={d.n_samples} ({time.perf_counter() - t0:.1f} s)")
    runs = {"ours": dict(max_steps=args.max_steps, optimizer="sgd", lr_J=0.002, lr_h=0.002, check_every=5)}
    if not args.skip_baseline:
        runs["baseline"] = PAPER_BASELINE
    for part, sl in parts.items():
        m, C = xp.asarray(d.m[sl]), xp.asarray(d.C[sl, sl])
        cc = to_numpy(C) - np.outer(to_numpy(m), to_numpy(m))
        off = ~np.eye(cc.shape[0], dtype=bool)
        print(f"[{part}] N={m.shape[0]}  rms C_conn={np.sqrt((cc[off] ** 2).mean()):.4f} "
              f"(sampling noise ~ {1 / np.sqrt(d.n_samples):.4f} per entry)")
        for name, kw in runs.items():
            r = boltzmann_learn(m, C, tol=args.tol, seed=args.seed, log_every=100, **kw)
            dbp, ok = fresh_delta(m, C, r.J, r.h, args.seed)
            line = (f"  {name:8s} {r.seconds:7.1f} s  steps {r.steps:4d}  delta_bp {dbp:.4f} "
                    f"(BP converged {ok})  min warm Δ {r.delta.min():.4f}  "
                    f"fresh_disagrees {r.fresh_disagrees}  backtracks {r.n_backtracks}")
            line += f"  rho {r.rho}  start delta_bp {r.delta_bp_start:.4f}  radius {r.radius:.3f}"
            if args.mc_sweeps:
                dmc, tau = mc_delta(m, C, r.J, r.h, args)
                line += f"  delta_mc {dmc:.4f} (tau_E {tau:.1f} sweeps)"
            print(line, flush=True)


if __name__ == "__main__":
    main()
