"""Read the results of a Hydra multirun: one row per job dir, and mean/std curves over a sweep axis.

A job dir ``<sweep>/<k>/`` holds ``.hydra/config.yaml`` (the job's composed config) and
``metrics.json`` (written by the task when it finished). Jobs without ``metrics.json`` are
reported as failed, never silently dropped.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import OmegaConf

from ..nets.spins import n_spins


def job_dirs(sweep_dir: str | Path) -> list[Path]:
    """Job dirs of a multirun (sub dirs holding ``.hydra/config.yaml``), in job-number order."""
    root = Path(sweep_dir)
    if not root.is_dir():
        raise ValueError(
            f"aggregate.dir={root}: not a directory; give a multirun dir (.../multirun/<time>)"
        )
    jobs = [p for p in root.iterdir() if (p / ".hydra" / "config.yaml").is_file()]
    if not jobs:
        raise ValueError(
            f"aggregate.dir={root}: no job dirs with .hydra/config.yaml; is it a multirun dir?"
        )
    return sorted(
        jobs, key=lambda p: (not p.name.isdigit(), int(p.name) if p.name.isdigit() else 0, p.name)
    )


def job_row(job: Path) -> dict[str, Any] | None:
    """Config facts (task, widths, N, P, alpha = N/P, labels, loss, runs) and metrics of one job;
    None when the job wrote no ``metrics.json``."""
    metrics_path = job / "metrics.json"
    if not metrics_path.is_file():
        return None
    cfg = OmegaConf.load(job / ".hydra" / "config.yaml")
    widths = [int(w) for w in OmegaConf.to_container(cfg.arch.widths, resolve=True)]
    n, p = n_spins(widths), int(cfg.scenario.n_train)
    row: dict[str, Any] = {
        "job": job.name,
        "task": str(cfg.task),
        "widths": widths,
        "hidden": widths[1] if len(widths) > 2 else 0,
        "depth": len(widths) - 1,
        "n_params": n,
        "n_train": p,
        "alpha": n / p,
        "labels": str(cfg.get("labels", "digits")),
        "loss": str(cfg.get("loss", "ce")),
        "runs": int(cfg.runs),
    }
    try:
        row |= json.loads(metrics_path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"{metrics_path}: unreadable ({exc}); rerun that job or delete its dir"
        ) from None
    return row


def read_sweep(sweep_dir: str | Path) -> tuple[list[dict[str, Any]], list[str]]:
    """``(rows, failed job names)`` of a multirun dir."""
    rows, failed = [], []
    for job in job_dirs(sweep_dir):
        row = job_row(job)
        if row is None:
            failed.append(job.name)
        else:
            rows.append(row)
    return rows, failed


def curve(
    rows: Sequence[dict[str, Any]], x: str, y: str, y_std: str | None = None
) -> dict[str, np.ndarray]:
    """Rows sorted by ``x``: ``{"x", "y", "std"}``. Several rows at one x (e.g. repeated seeds)
    are pooled: mean of their means, std from the law of total variance when ``y_std`` is given."""
    xs = sorted({r[x] for r in rows})
    mean, std = [], []
    for v in xs:
        group = [r for r in rows if r[x] == v]
        m = np.array([float(r[y]) for r in group])
        s = np.array([float(r[y_std]) for r in group]) if y_std else np.zeros(len(group))
        mean.append(m.mean())
        std.append(np.sqrt((s**2).mean() + m.var()))
    return {"x": np.array(xs, dtype=float), "y": np.array(mean), "std": np.array(std)}
