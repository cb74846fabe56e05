"""``analysis=mc_dynamics``: Metropolis dynamics from references on the fitted model, tracking the
Ising energy and the test accuracy of the network carrying the spins (paper Fig. 9). Writes
``mc_dynamics_<part>.npz`` / ``.png``; metrics: initial and final mean accuracy and energy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from weightspace.apps.tracking import log_figure
from weightspace.data import load_dataset
from weightspace.landscape import plots
from weightspace.landscape.dynamics import mc_dynamics

from .common import models_and_references, xp_of


def run(acfg: DictConfig, out_dir: Path, loggers: list) -> dict[str, float]:
    xp = xp_of(acfg)
    models, refs, _ = models_and_references(acfg)
    d = acfg.dataset
    data = load_dataset(
        d, None, d.get("subset", "first"), int(d.get("subset_seed", 0)), acfg.get("cache_dir")
    )
    widths = list(acfg.widths)
    starts = np.repeat(refs.astype(float), int(acfg.trials), axis=0)  # references × trials chains
    metrics: dict[str, float] = {}
    for model in models:
        dyn = mc_dynamics(
            xp.asarray(model.J),
            xp.asarray(model.h),
            xp.asarray(starts),
            model.start,
            model.stop,
            widths,
            data.x_test,
            data.y_test,
            n_sweeps=int(acfg.n_sweeps),
            observe_every=int(acfg.observe_every),
            seed=int(acfg.seed),
            progress=bool(acfg.get("progress", False)),
        )
        p = model.part
        metrics |= {
            f"{p}/accuracy_start": float(dyn.accuracy[0].mean()),
            f"{p}/accuracy_end": float(dyn.accuracy[-1].mean()),
            f"{p}/accuracy_end_std": float(dyn.accuracy[-1].std()),
            f"{p}/energy_start": float(dyn.energy[0].mean()),
            f"{p}/energy_end": float(dyn.energy[-1].mean()),
            f"{p}/acceptance": dyn.acceptance,
        }
        np.savez(
            out_dir / f"mc_dynamics_{p}.npz",
            flips=dyn.flips,
            energy=dyn.energy,
            accuracy=dyn.accuracy,
        )
        png = plots.dynamics_figure(
            dyn.flips,
            dyn.energy,
            dyn.accuracy,
            out_dir / f"mc_dynamics_{p}.png",
            1.0 / data.n_classes,
        )
        log_figure(loggers, f"mc_dynamics/{p}", png)
    return metrics
