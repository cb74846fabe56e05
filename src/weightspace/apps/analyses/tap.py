"""``analysis=tap``: distribution of TAP free energies from random starts (paper Fig. 8, App. I).
Writes ``tap_<part>.npz``, ``tap_<part>.png``; metrics: converged fraction, distinct fixed points,
number of peaks of the free-energy histogram."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from weightspace.apps.tracking import log_figure
from weightspace.landscape import plots
from weightspace.landscape.tap import count_peaks, distinct_fixed_points, random_starts, tap_iterate

from .common import load_models, xp_of


def run(acfg: DictConfig, out_dir: Path, loggers: list) -> dict[str, float]:
    xp = xp_of(acfg)
    metrics: dict[str, float] = {}
    for model in load_models(acfg):
        n = model.h.size
        res = tap_iterate(
            xp.asarray(model.J),
            xp.asarray(model.h),
            random_starts(int(acfg.n_starts), n, int(acfg.seed), xp),
            damping=float(acfg.damping),
            tol=float(acfg.tol),
            max_iter=int(acfg.max_iter),
        )
        ok = res.converged
        labels = (
            distinct_fixed_points(res.m[ok], float(acfg.distinct_tol))
            if ok.any()
            else np.zeros(0, int)
        )
        p = model.part
        metrics |= {
            f"{p}/converged_fraction": float(ok.mean()),
            f"{p}/distinct_fixed_points": float(labels.max() + 1 if labels.size else 0),
            f"{p}/peaks": float(count_peaks(res.free_energy[ok], int(acfg.bins))),
            f"{p}/iterations_median": float(np.median(res.iterations)),
            f"{p}/free_energy_min": float(res.free_energy[ok].min()) if ok.any() else float("nan"),
            f"{p}/free_energy_max": float(res.free_energy[ok].max()) if ok.any() else float("nan"),
        }
        np.savez(
            out_dir / f"tap_{p}.npz",
            free_energy=res.free_energy,
            converged=ok,
            iterations=res.iterations,
            residual=res.residual,
            labels=labels,
            model=str(model.path),
        )
        log_figure(
            loggers,
            f"tap/{p}",
            plots.tap_figure(
                res.free_energy, ok, out_dir / f"tap_{p}.png", f"{acfg.get('scenario', '')} {p}"
            ),
        )
    return metrics
