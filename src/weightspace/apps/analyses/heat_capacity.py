"""``analysis=heat_capacity``: landscape entropy by thermodynamic / heat-capacity integration of MC
energies (paper App. H; :mod:`weightspace.landscape.thermo`) at a few tilts x, for models where BP
fails; compared with the BP entropy at the same points where BP converges. Writes
``heat_capacity.csv``; metrics: max |s_MC − s_BP| over converged BP points."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from weightspace.apps.tracking import log_table
from weightspace.landscape.entropy import sweep_paths
from weightspace.landscape.thermo import thermo_entropy

from .common import models_and_references, part_refs, xp_of


def run(acfg: DictConfig, out_dir: Path, loggers: list) -> dict[str, float]:
    xp = xp_of(acfg)
    models, refs, _ = models_and_references(acfg)
    xs = [float(v) for v in acfg.x_values]
    mc = acfg.mc
    rows, metrics = [], {}
    for model in models:
        J, h = xp.asarray(model.J), xp.asarray(model.h)
        r = xp.asarray(part_refs(refs, model))
        bp = sweep_paths(
            J,
            h,
            r,
            np.tile(np.array(xs), (r.shape[0], 1)),
            dtype="float64",
            tol=1e-8,
            max_iter=int(acfg.bp_max_iter),
        )
        diffs = []
        for k in range(r.shape[0]):
            for t, x in enumerate(xs):
                th = thermo_entropy(
                    J,
                    h,
                    x,
                    r[k],
                    n_lam=int(mc.n_lam),
                    n_chains=int(mc.n_chains),
                    n_sweeps=int(mc.n_sweeps),
                    burn_in=int(mc.burn_in),
                    seed=int(acfg.seed) + k,
                    tempering=bool(mc.tempering),
                    grid_power=float(mc.grid_power),
                    progress=bool(acfg.get("progress", False)),
                )
                s_bp = bp.log_z[k, t] + bp.energy[k, t] - x * bp.q[k, t]
                ok = bool(bp.converged[k, t])
                rows.append(
                    {
                        "part": model.part,
                        "reference": k,
                        "x": x,
                        "s_mc": th.s,
                        "s_mc_err": th.s_err,
                        "s_quad_err": th.s_quad_err,
                        "s_heat": th.s_heat,
                        "s_heat_err": th.s_heat_err,
                        "s_heat_quad_err": th.s_heat_quad_err,
                        "d_mc": th.d,
                        "s_bp": s_bp,
                        "d_bp": (1 - bp.q[k, t]) / 2,
                        "bp_converged": ok,
                        "tau_reliable": th.tau_reliable,
                        "min_swap_acceptance": float(th.swap_acceptance.min()) if th.swap_acceptance.size
                        else float("nan"),
                    }
                )
                if ok:
                    diffs.append(abs(th.s - s_bp))
        metrics[f"{model.part}/max_abs_s_mc_minus_bp"] = float(max(diffs, default=float("nan")))
        metrics[f"{model.part}/bp_unconverged"] = float((~bp.converged).sum())
    log_table(loggers, "heat_capacity", rows, out_dir / "heat_capacity.csv")
    return metrics
