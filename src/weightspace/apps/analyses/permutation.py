"""``analysis=permutation``: entropy landscapes of models refitted on ensembles mixed with permuted
copies at ratios r_ps (paper App. J, Fig. 10). Writes ``permutation/<r_ps>/<part>/landscape.npz``
(and the mixed moments ``moments_<part>.npz``) and ``permutation.png``."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from weightspace.apps.fit_ising import learn_bethe
from weightspace.apps.tracking import log_figure
from weightspace.data import load_dataset
from weightspace.ising.moments import spin_moments
from weightspace.landscape import plots
from weightspace.landscape.entropy import Landscape, entropy_landscape, save_landscape, x_grid
from weightspace.landscape.inputs import ensemble_pool
from weightspace.landscape.permutation import mixed_ensemble

from .common import models_and_references, part_refs, xp_of
from .entropy import bp_options

log = logging.getLogger(__name__)


def refit(
    m: np.ndarray, C: np.ndarray, fit: DictConfig
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """The Ising refit of mixed-ensemble moments: Boltzmann learning with BP moments (paper Eq. 5) by
    fit_ising's ``method=bethe`` (:func:`learn_bethe`), with ``fit`` in place of its ``bethe`` settings
    (the same defaults, so r_ps = 0 refits as the pipeline fits)."""
    settings = OmegaConf.to_container(fit, resolve=True)
    seed = int(settings.pop("seed"))
    res = learn_bethe(OmegaConf.create({"bethe": settings, "seed": seed}), m, C)
    return (
        np.asarray(res.J),
        np.asarray(res.h),
        {"delta": float(res.delta_bp), "converged": bool(res.converged)},
    )


def run(acfg: DictConfig, out_dir: Path, loggers: list) -> dict[str, float]:
    xp = xp_of(acfg)
    models, refs, info = models_and_references(acfg)
    widths = list(acfg.widths)
    configs = ensemble_pool(
        acfg.references.get("ensemble") or models[0].ensemble, int(acfg.ensemble_size)
    )
    d = acfg.dataset
    data = load_dataset(
        d, None, d.get("subset", "first"), int(d.get("subset_seed", 0)), acfg.get("cache_dir")
    )
    x_ones = data.x_test[data.y_test == 1]
    x = x_grid(float(acfg.x.max), float(acfg.x.min), float(acfg.x.step))
    curves: dict[str, dict[float, Landscape]] = {m.part: {} for m in models}
    metrics: dict[str, float] = {}
    for r in [float(v) for v in acfg.r_ps]:
        mixed = mixed_ensemble(configs, widths, x_ones, r, int(acfg.seed))
        for model in models:
            mom = spin_moments(mixed, model.start, model.stop)
            sub = out_dir / "permutation" / f"{r:g}" / model.part
            sub.mkdir(parents=True, exist_ok=True)
            np.savez(sub / "moments.npz", m=mom.m, C=mom.C, n_samples=mom.n_samples, r_ps=r)
            J, h, fit_info = refit(mom.m, mom.C, acfg.fit)
            land = entropy_landscape(
                xp.asarray(J),
                xp.asarray(h),
                xp.asarray(part_refs(refs, model)),
                x,
                **bp_options(acfg),
            )
            save_landscape(sub / "landscape.npz", land, part=model.part, r_ps=r, J=J, h=h)
            curves[model.part][r] = land
            t0 = int(np.argmin(np.abs(x)))
            metrics[f"{model.part}/r{r:g}/s_x0"] = float(land.s[:, 0, t0].mean())
            metrics[f"{model.part}/r{r:g}/fit_delta"] = fit_info["delta"]
            metrics[f"{model.part}/r{r:g}/fit_converged"] = float(fit_info["converged"])
            log.info(
                "r_ps=%g part %s: s(x=0)=%.4f", r, model.part, metrics[f"{model.part}/r{r:g}/s_x0"]
            )
    log_figure(
        loggers, "permutation", plots.permutation_figure(curves, out_dir / "permutation.png")
    )
    return metrics
