"""``analysis=iso_energy``: entropy at fixed energy ε(σ*) vs the normal (β = 1) landscape
(paper Fig. 7). Points where the secant search or BP did not converge are counted
(``unconverged_points``), drawn as red crosses, and left out of every mean.
Writes ``iso_energy_<part>.npz`` and ``iso_energy_<part>.png``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from weightspace.apps.tracking import log_figure
from weightspace.landscape import plots
from weightspace.landscape.entropy import x_grid
from weightspace.landscape.hysteresis import detect_hysteresis
from weightspace.landscape.iso_energy import entropy_suppression, iso_energy_landscape

from .common import models_and_references, part_refs, xp_of
from .entropy import sweep_part


def run(acfg: DictConfig, out_dir: Path, loggers: list) -> dict[str, float]:
    xp = xp_of(acfg)
    models, refs, _ = models_and_references(acfg)
    x = x_grid(float(acfg.x.max), float(acfg.x.min), float(acfg.x.step))
    metrics: dict[str, float] = {}
    s = acfg.secant
    for model in models:
        iso = iso_energy_landscape(
            xp.asarray(model.J),
            xp.asarray(model.h),
            xp.asarray(part_refs(refs, model)),
            x,
            beta_min=float(s.beta_min),
            beta_max=float(s.beta_max),
            energy_tol=float(s.energy_tol),
            max_secant=int(s.max_steps),
            damping=float(acfg.bp.damping),
            tol=float(acfg.bp.tol),
            max_iter=int(acfg.bp.max_iter),
            progress=bool(acfg.get("progress", False)),
        )
        normal = sweep_part(model, refs, acfg)
        p = model.part
        loops = [
            detect_hysteresis(
                x, iso.d[k], iso.s[k], iso.converged[k], float(acfg.hysteresis_threshold)
            )
            for k in range(iso.d.shape[0])
        ]
        supp = entropy_suppression(normal.s, normal.converged, iso.s, iso.converged)
        metrics |= {f"{p}/{k}": v for k, v in supp.items()}
        metrics[f"{p}/hysteresis_size_max"] = float(max(h.size for h in loops))
        np.savez(
            out_dir / f"iso_energy_{p}.npz",
            **{k: getattr(iso, k) for k in iso.__dataclass_fields__},
            normal_d=normal.d,
            normal_s=normal.s,
        )
        png = plots.iso_energy_figure(
            normal, iso.d, iso.s, iso.converged, x, iso.beta, out_dir / f"iso_energy_{p}.png"
        )
        log_figure(loggers, f"iso_energy/{p}", png)
    return metrics
