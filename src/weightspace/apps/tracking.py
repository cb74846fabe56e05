"""Experiment tracking shared by every entry point.

Loggers are Lightning logger objects built from the ``logger`` config group
(``wandb`` offline by default, ``csv``, ``none``), so Lightning training and the
plain NumPy analyses log the same way.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import hydra
from lightning.pytorch.loggers import Logger, WandbLogger
from omegaconf import DictConfig, OmegaConf


def make_loggers(logger_cfg: DictConfig | None) -> list[Logger]:
    """Instantiate every ``_target_`` node under the ``logger`` config."""
    if not logger_cfg:
        return []
    return [hydra.utils.instantiate(node) for node in logger_cfg.values() if "_target_" in node]


def log_config(loggers: list[Logger], cfg: DictConfig) -> None:
    params = {k: OmegaConf.to_container(v, resolve=True) if isinstance(v, DictConfig) else v
              for k, v in cfg.items() if k != "hydra"}
    for lg in loggers:
        lg.log_hyperparams(params)


def log_metrics(loggers: list[Logger], metrics: Mapping[str, float], step: int | None = None) -> None:
    clean = {k: float(v) for k, v in metrics.items()}
    for lg in loggers:
        lg.log_metrics(clean, step=step)


def log_figure(loggers: list[Logger], key: str, path: str | Path) -> None:
    """Send a PNG already written under the run dir to the loggers that show images."""
    for lg in loggers:
        if isinstance(lg, WandbLogger):
            lg.log_image(key=key, images=[str(path)])


def log_table(loggers: list[Logger], key: str, rows: list[Mapping[str, Any]], path: str | Path) -> None:
    """Write ``rows`` as CSV at ``path`` and log it as a W&B table."""
    if not rows:
        return
    cols = list(rows[0].keys())
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        w.writerows(rows)
    for lg in loggers:
        if isinstance(lg, WandbLogger):
            lg.log_table(key=key, columns=cols, data=[[r[c] for c in cols] for r in rows])


def finish(loggers: list[Logger]) -> None:
    """Flush every logger and close the W&B run (always call in ``finally``)."""
    for lg in loggers:
        lg.finalize("success")
    if any(isinstance(lg, WandbLogger) for lg in loggers):
        import wandb

        wandb.finish()


def log_artifact(
    loggers: list[Logger], name: str, kind: str, paths: list[str | Path], metadata: Mapping[str, Any]
) -> None:
    """Log files as one W&B artifact (e.g. fitted models, with the ensemble they came from)."""
    for lg in loggers:
        if isinstance(lg, WandbLogger):
            import wandb

            art = wandb.Artifact(name=name, type=kind, metadata=dict(metadata))
            for p in paths:
                art.add_file(str(p))
            lg.experiment.log_artifact(art)
