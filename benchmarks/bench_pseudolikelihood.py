"""Time l1 pseudolikelihood (paper App. E) at the paper's size: N = 675, M = 100 000, lam = 0.05.

Data: ``--configs file.npy`` (an (M, N) ±1 array), or synthetic samples of a planted
sparse Ising model drawn with the Monte-Carlo sampler (then support recovery is reported).
Target: <= 120 s on 2 CPU cores.

    .venv/bin/python benchmarks/bench_pseudolikelihood.py [--n 675] [--m 100000] [--lam 0.05]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from weightspace.backend import get_xp, to_numpy
from weightspace.ising.pseudolikelihood import fit_pseudolikelihood
from weightspace.ising.sampler import sample


def planted_model(n: int, degree: float, coupling: float, field: float, seed: int):
    """Sparse symmetric J with about ``degree`` couplings ±``coupling`` per spin, h ~ N(0, field²)."""
    rng = np.random.default_rng(seed)
    mask = np.triu(rng.random((n, n)) < degree / (n - 1), 1)
    J = np.where(mask, rng.choice([-coupling, coupling], size=(n, n)), 0.0)
    return J + J.T, rng.normal(0.0, field, n)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", type=Path, help="(M, N) ±1 .npy file instead of synthetic data")
    ap.add_argument("--save-configs", type=Path, help="save the synthetic configs (.npy) here")
    ap.add_argument("--n", type=int, default=675)
    ap.add_argument("--m", type=int, default=100_000)
    ap.add_argument("--lam", type=float, default=0.05)
    ap.add_argument("--standardize", action="store_true", help="penalty weighted as l1_logreg -s")
    ap.add_argument("--tol", type=float, default=1e-3)
    ap.add_argument("--max-iter", type=int, default=100)
    ap.add_argument("--degree", type=float, default=8.0)
    ap.add_argument("--coupling", type=float, default=0.2)
    ap.add_argument("--field", type=float, default=0.3)
    ap.add_argument("--backend", default="numpy", choices=["auto", "numpy", "cupy"])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    xp = get_xp(args.backend)
    J0 = None
    if args.configs is not None:
        if not args.configs.is_file():
            raise SystemExit(f"--configs {args.configs}: no such file; give an (M, N) ±1 .npy")
        X = np.load(args.configs)
        if X.ndim != 2:
            raise SystemExit(f"--configs {args.configs}: shape {X.shape}, need (M, N)")
        planted_file = args.configs.with_suffix(".model.npz")  # written by --save-configs
        if planted_file.is_file():
            J0 = np.load(planted_file)["J"]
    else:
        J0, h0 = planted_model(args.n, args.degree, args.coupling, args.field, args.seed)
        n_chains = 2000
        kept = -(-args.m // n_chains)
        t0 = time.perf_counter()
        res = sample(xp.asarray(J0, dtype=xp.float32), xp.asarray(h0, dtype=xp.float32),
                     n_chains, kept * 4, burn_in=150, thin=4, seed=args.seed, keep_samples=True,
                     accumulate_moments=False, block=128, progress=True)
        X = to_numpy(res.samples).reshape(-1, args.n)[: args.m]
        print(f"sampled {X.shape[0]} configs of N={args.n} in {time.perf_counter() - t0:.1f} s "
              f"(tau_E = {res.tau_energy:.2f} sweeps, reliable={res.tau_reliable})")
        if args.save_configs is not None:
            np.save(args.save_configs, X.astype(np.int8))
            np.savez(args.save_configs.with_suffix(".model.npz"), J=J0, h=h0)
    res = fit_pseudolikelihood(xp.asarray(X), lam=args.lam, tol=args.tol, standardize=args.standardize,
                               max_iter=args.max_iter, progress=True)
    print(f"pseudolikelihood N={X.shape[1]} M={X.shape[0]} lam={args.lam}: "
          f"{res.seconds:.1f} s, {res.n_iter} iterations, converged={res.converged} "
          f"(KKT {res.kkt:.2e} vs tol {args.tol:.0e}), line-search failures "
          f"{res.line_search_failures}")
    print(f"sparsity: {100 * res.sparsity:.1f}% of pairs J_ij = 0 "
          f"({100 * res.sparsity_rows:.1f}% of unsymmetrised W_ij = 0)")
    if J0 is not None:
        J = to_numpy(res.J)
        iu = np.triu_indices(J.shape[0], 1)
        true, est = J0[iu], J[iu]
        planted = true != 0
        print(f"planted couplings found with the right sign: "
              f"{np.mean(np.sign(est[planted]) == np.sign(true[planted])):.3f}; "
              f"non-planted pairs set to zero: {np.mean(est[~planted] == 0):.3f}; "
              f"max |J| off the planted support: {np.abs(est[~planted]).max():.3f}")


if __name__ == "__main__":
    main()
