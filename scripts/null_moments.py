"""Finite-sample control: moments of an ensemble part whose spin columns are shuffled
independently across configurations (keeps every m_i and the sample size M, removes every real
correlation). Fitting these and sweeping the landscape gives what M samples of *independent*
spins look like -- the entropy deficit that sampling noise alone produces.

    .venv/bin/python scripts/null_moments.py outputs/ensembles/under_para_deep_20_15_15_10 --part itr \
        --out null_itr.npz --references null_itr_refs.npy
    .venv/bin/python fit_ising.py moments=null_itr.npz arch.widths=[...]   # part=full of the file
"""

from __future__ import annotations

import argparse

import numpy as np

from weightspace.ensemble.configs import load_configs
from weightspace.ising.moments import spin_moments
from weightspace.nets.spins import part_slice


def shuffled_columns(configs: np.ndarray, seed: int) -> np.ndarray:
    """Each column permuted by its own random permutation of the M rows."""
    rng = np.random.default_rng(seed)
    return np.take_along_axis(configs, rng.permuted(np.indices(configs.shape)[0], axis=0), axis=0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("store")
    ap.add_argument("--part", default="full")
    ap.add_argument("--out", required=True, help="moments .npz (m, C) for fit_ising.py moments=")
    ap.add_argument("--references", help="also write the first 20 shuffled configurations (.npy) as references")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    configs, widths = load_configs(args.store)
    sl = part_slice(widths, args.part)
    null = shuffled_columns(configs[:, sl], args.seed)
    mom = spin_moments(null)
    np.savez(args.out, m=mom.m, C=mom.C)
    if args.references:
        np.save(args.references, null[:20])
    print(f"{args.store} part {args.part}: M={len(null)}, N={null.shape[1]} -> {args.out}")


if __name__ == "__main__":
    main()
