"""Time Monte-Carlo Boltzmann learning (``fit_ising.py method=mc``) on the parts of an ensemble store.

Per part: the BP fit (fit_ising's ``bethe`` defaults) is the start; the heat-bath sampler's throughput
(spin updates per second, 512 chains) is measured there in float64/float32 with one BLAS thread and with
the library's default; then MC learning runs with the ``mc:`` defaults of conf/fit_ising.yaml (centred
SGD, Polyak-Ruppert windows) and, with ``--baseline``, with the previous defaults (Adam lr_J 3e-4,
lr_h 1e-3, 600 steps, no centring or windows). Every model is verified as fit_ising does it
(``verify:`` defaults: delta_mc and its sampling error delta_mc_noise).

    .venv/bin/python benchmarks/bench_mc_fit.py --store outputs/ensembles/over_para_deep_20_15_15_10 \
        [--parts lb itr rb] [--baseline]
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf
from threadpoolctl import threadpool_limits

from weightspace.apps.fit_ising import learn_bethe, learn_mc, verify_mc
from weightspace.ising.sampler import sample
from weightspace.ising.source import from_store
from weightspace.nets.spins import part_slice

CONF = Path(__file__).resolve().parents[1] / "conf" / "fit_ising.yaml"
BASELINE = dict(optimizer="adam", lr_J=3e-4, lr_h=1e-3, center=False, window=None, tol=0.01, max_steps=600)


def throughput(J: np.ndarray, h: np.ndarray, dtype: str, threads: int | None, chains: int = 512) -> float:
    """Spin updates per second of 20 heat-bath sweeps (after 5 warm-up sweeps)."""
    Jd, hd = J.astype(dtype), h.astype(dtype)
    with threadpool_limits(limits=threads):
        sample(Jd, hd, chains, 5, burn_in=0)
        t0 = time.perf_counter()
        sample(Jd, hd, chains, 20, burn_in=0)
    return chains * 20 * J.shape[0] / (time.perf_counter() - t0)


def learn(cfg, m: np.ndarray, C: np.ndarray, J0: np.ndarray, h0: np.ndarray, **step) -> tuple[dict, float]:
    """fit_ising's MC learning from (J0, h0) with its step options overridden by ``step``; verified."""
    t0 = time.perf_counter()
    res = learn_mc(cfg, m, C, J0, h0, **step)
    seconds = time.perf_counter() - t0
    return verify_mc(cfg, res.J, res.h, m, C, keep_samples=False) | {"steps": res.steps}, seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", type=Path, required=True)
    ap.add_argument("--parts", nargs="+", default=["lb", "itr", "rb"])
    ap.add_argument("--baseline", action="store_true", help="also run the previous defaults (Adam)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    cfg = OmegaConf.load(CONF)
    src = from_store(args.store)
    for part in args.parts:
        sl = part_slice(src.widths, part)
        m, C = src.moments.m[sl], src.moments.C[sl, sl]
        start = learn_bethe(cfg, m, C)
        v0 = verify_mc(cfg, start.J, start.h, m, C, keep_samples=False)
        rates = {(dt, th): throughput(start.J, start.h, dt, th) for dt in ("float64", "float32") for th in (1, None)}
        print(
            f"{part} (N={sl.stop - sl.start}): BP start delta_bp {start.delta_bp:.4f}, delta_mc {v0['delta_mc']:.4f} "
            f"(noise {v0['delta_mc_noise']:.4f}); sampler M updates/s: "
            + ", ".join(f"{dt}/{th or 'default'} threads {r / 1e6:.1f}" for (dt, th), r in rates.items())
        )
        runs = {"defaults": {}}
        if args.baseline:
            runs["baseline"] = BASELINE
        for name, opts in runs.items():
            v, seconds = learn(cfg, m, C, start.J, start.h, **opts)
            print(
                f"  {name:>9}: delta_mc {v['delta_mc']:.4f} (noise {v['delta_mc_noise']:.4f}, debiased "
                f"{np.sqrt(max(v['delta_mc'] ** 2 - v['delta_mc_noise'] ** 2, 0.0)):.4f}), {v['steps']} steps, "
                f"learning {seconds:.1f} s"
            )


if __name__ == "__main__":
    main()
