"""``analysis=entropy``: entropy landscapes of every part with hysteresis detection (paper Figs.
5, 6,
13, 14, 16). Writes ``<part>/landscape.npz``, ``hysteresis.csv``, ``entropy_landscape.png``,
``hysteresis.png``; returns per-part metrics (s at x = 0 on the low-d branch, hysteresis size,
entropy gap as a d-range no dominant state covers, ...; :mod:`weightspace.landscape.hysteresis`)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from weightspace.apps.lineage import file_digest
from weightspace.apps.tracking import log_figure, log_table
from weightspace.backend import to_numpy
from weightspace.landscape import plots
from weightspace.landscape.entropy import Landscape, entropy_landscape, save_landscape, x_grid
from weightspace.landscape.hysteresis import detect_hysteresis, s_at_x0, summarize
from weightspace.landscape.inputs import FittedModel

from .common import models_and_references, part_refs, xp_of

log = logging.getLogger(__name__)


def bp_options(acfg: DictConfig) -> dict[str, Any]:
    b = acfg.bp
    return {
        "damping": float(b.damping),
        "adaptive": bool(b.get("adaptive", True)),
        "tol": float(b.tol),
        "max_iter": int(b.max_iter),
        "dtype": str(b.dtype),
        "predictor": str(b.predictor),
        "batch_size": b.batch_size,
        "workers": int(b.workers),
        "progress": bool(acfg.get("progress", False)),
    }


def sweep_part(model: FittedModel, refs: np.ndarray, acfg: DictConfig) -> Landscape:
    """The landscape of one part for all references (both directions in one batch)."""
    xp = xp_of(acfg)
    x = x_grid(float(acfg.x.max), float(acfg.x.min), float(acfg.x.step))
    land = entropy_landscape(
        xp.asarray(model.J),
        xp.asarray(model.h),
        xp.asarray(part_refs(refs, model)),
        x,
        beta=float(acfg.beta),
        **bp_options(acfg),
    )
    return land


def part_metrics(
    part: str, land: Landscape, threshold: float
) -> tuple[dict[str, float], list[dict[str, Any]]]:
    hs = [
        detect_hysteresis(land.x, land.d[k], land.s[k], land.converged[k], threshold)
        for k in range(land.d.shape[0])
    ]
    t0 = int(np.argmin(np.abs(land.x)))
    s0 = float(s_at_x0(land.x, land.d, land.s).mean())  # low-d branch inside a loop (paper)
    metrics = {f"{part}/{k}": v for k, v in summarize(hs).items()}
    metrics |= {
        f"{part}/s_x0": s0,
        f"{part}/s_x0_over_ln2": s0 / np.log(2),
        f"{part}/s_x0_both_branches": float(land.s[:, :, t0].mean()),
        f"{part}/branch_max_abs_diff_d": float(np.abs(land.d[:, 0] - land.d[:, 1]).max()),
        f"{part}/unconverged_points": float((~land.converged).sum()),
        f"{part}/end_mismatch_max": float(land.end_mismatch.max()),
    }
    rows = [{"part": part, "reference": k, **h.as_dict()} for k, h in enumerate(hs)]
    return metrics, rows


def s_of_d_rows(part: str, land: Landscape) -> list[dict[str, Any]]:
    """s(d) of one part as table rows (mean and std over references per branch and x), the form in
    which W&B overlays the curves of several runs."""
    return [
        {"part": part, "branch": branch, "x": float(land.x[t]),
         "d": float(land.d[:, b, t].mean()), "s": float(land.s[:, b, t].mean()), "s_std": float(land.s[:, b, t].std())}
        for b, branch in enumerate(("down", "up")) for t in range(land.x.size)
    ]


def run(acfg: DictConfig, out_dir: Path, loggers: list) -> dict[str, float]:
    models, refs, info = models_and_references(acfg)
    lands: dict[str, Landscape] = {}
    metrics: dict[str, float] = {}
    rows: list[dict[str, Any]] = []
    for model in models:
        log.info(
            "entropy landscape: part %s (N=%d), %d references",
            model.part,
            model.h.size,
            refs.shape[0],
        )
        land = sweep_part(model, refs, acfg)
        lands[model.part] = land
        m, r = part_metrics(model.part, land, float(acfg.hysteresis_threshold))
        metrics |= m
        rows += r
        save_landscape(
            out_dir / model.part / "landscape.npz",
            land,
            part=model.part,
            model=str(model.path),
            model_digest=file_digest(model.path),
            references=part_refs(refs, model).astype(np.int8),
            reference_energy=to_numpy(info["energy_per_spin"]),
            hysteresis_size=m[f"{model.part}/hysteresis_size_max"],
            entropy_gap=m[f"{model.part}/entropy_gap_max"],
        )
        if (~land.converged).any():
            log.warning(
                "part %s: %d of %d BP points did not converge (flagged in landscape.npz and plots)",
                model.part,
                int((~land.converged).sum()),
                land.converged.size,
            )
    np.save(out_dir / "references.npy", refs)
    log_table(loggers, "landscape/hysteresis", rows, out_dir / "hysteresis.csv")
    log_table(loggers, "landscape/s_of_d", [r for part, land in lands.items() for r in s_of_d_rows(part, land)], None)
    title = f"{acfg.get('scenario', '')} refs={info.get('level', info['source'])}"
    for name, fn in (
        ("entropy_landscape", lambda p: plots.entropy_figure(lands, p, title)),
        ("hysteresis", lambda p: plots.hysteresis_figure(lands, p)),
    ):
        log_figure(loggers, f"landscape/{name}", fn(out_dir / f"{name}.png"))
    print(
        f"entropy landscape figures: {out_dir / 'entropy_landscape.png'}, "
        f"{out_dir / 'hysteresis.png'}"
    )
    return metrics
