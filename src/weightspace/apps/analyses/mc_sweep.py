"""``analysis=mc_sweep``: the Monte-Carlo tilt sweep (``ising.sampler.tilt_sweep``), d(x) down and back
up from each reference on the fitted model, for models where BP fails or has several fixed points
(the shallow net). Writes ``mc_sweep.npz`` (x; per part d, d_err, energy of shape (K, 2, T)) and
``mc_sweep_hysteresis.png``; metrics per part: the hysteresis summary of the MC branches, where a loop
point needs the branches apart by ``hysteresis_threshold`` and by 4 standard errors of their difference
(``entropy_gap``: the d-range skipped by a jump of a branch, as for BP; no entropy, so
``branch_entropy_difference`` is NaN; ``heat_capacity`` with ``mc.tempering=true`` gives s at chosen x)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
from omegaconf import DictConfig

from weightspace.apps.tracking import log_figure
from weightspace.ising.sampler import tilt_sweep
from weightspace.landscape import plots
from weightspace.landscape.entropy import x_grid
from weightspace.landscape.hysteresis import detect_hysteresis, summarize

from .common import models_and_references, part_refs, xp_of


def run(acfg: DictConfig, out_dir: Path, loggers: list) -> dict[str, float]:
    xp = xp_of(acfg)
    models, refs, _ = models_and_references(acfg)
    xs = x_grid(float(acfg.x.max), float(acfg.x.min), float(acfg.x.step))
    metrics: dict[str, float] = {}
    arrays: dict[str, np.ndarray] = {"x": xs}
    curves = {}
    for model in models:
        res = tilt_sweep(
            xp.asarray(model.J), xp.asarray(model.h), xp.asarray(part_refs(refs, model)), xs,
            n_chains=int(acfg.n_chains), sweeps_per_point=int(acfg.sweeps_per_point), seed=int(acfg.seed),
            progress=bool(acfg.get("progress", False)),
        )
        p = model.part
        nan_s = np.full((2, xs.size), np.nan)
        converged = np.ones((2, xs.size), dtype=bool)
        # a loop needs the branches apart by the threshold and by 4 standard errors of their difference
        thr = np.maximum(float(acfg.hysteresis_threshold), 4.0 * np.sqrt((res.d_err**2).sum(axis=1)))
        hs = [detect_hysteresis(xs, res.d[k], nan_s, converged, thr[k]) for k in range(res.d.shape[0])]
        summary = summarize(hs)
        summary.pop("unconverged_in_loop_max")
        metrics |= {f"{p}/{k}": v for k, v in summary.items()} | {f"{p}/acceptance": res.acceptance}
        arrays |= {f"d_{p}": res.d, f"d_err_{p}": res.d_err, f"energy_{p}": res.energy}
        curves[p] = SimpleNamespace(x=xs, d=res.d, converged=np.ones(res.d.shape, dtype=bool))
        print(f"mc_sweep {p}: {res.d.shape[0]} references x {acfg.n_chains} chains, {acfg.sweeps_per_point} sweeps "
              f"per x: hysteresis size max {summary['hysteresis_size_max']:.3f} "
              f"(loop in {summary['loop_fraction']:.0%} of references, x in [{summary['loop_x_lo']:.2f}, "
              f"{summary['loop_x_hi']:.2f}])")
    np.savez(out_dir / "mc_sweep.npz", **arrays)
    png = plots.hysteresis_figure(curves, out_dir / "mc_sweep_hysteresis.png")
    log_figure(loggers, "mc_sweep/hysteresis", png)
    return metrics
