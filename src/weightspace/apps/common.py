"""Shared plumbing of the entry points: launch (command-line check + Hydra), output dir, data, JSON."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig

from ..data import Dataset, load_dataset
from ..data.datasets import to_parity
from ..errors import ConfigError
from . import boundary, cli
from .cli import Choices

LABELS = ("digits", "parity")

CONF_DIR = Path(__file__).resolve().parents[3] / "conf"


def write_json(path: Path, obj: dict[str, Any]) -> None:
    path.write_text(json.dumps(obj, indent=2, default=float) + "\n")


def output_dir(cfg: DictConfig) -> Path:
    out = Path(cfg.paths.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    return out


def load_data(cfg: DictConfig) -> Dataset:
    """The dataset of ``cfg`` with the scenario's training-set size and ``cfg.labels`` (digits or
    parity), checked against the architecture."""
    d = cfg.dataset
    data = load_dataset(d, cfg.scenario.n_train, d.subset, d.subset_seed, cfg.paths.cache_dir)
    labels = cfg.get("labels", "digits")
    if labels not in LABELS:
        raise ConfigError(f"labels={labels!r}: choose one of {list(LABELS)}")
    if labels == "parity":
        data = to_parity(data)
    widths = list(cfg.arch.widths)
    if widths[0] != data.n_inputs or widths[-1] < data.n_classes:
        raise ConfigError(
            f"arch={cfg.arch.name} (widths {widths}) does not fit dataset={d.name} with labels={labels} "
            f"({data.n_inputs} inputs, {data.n_classes} classes): pick a matching arch or dataset"
        )
    return data


def launch(
    config_name: str,
    run: Callable[[DictConfig], dict[str, float]],
    objective: str | None = None,
    choices: Choices | None = None,
) -> None:
    """Body of the top-level ``<config_name>.py`` scripts: check every job of the command line
    (:func:`weightspace.apps.cli.check`: unknown keys, group options, ``choices``, experiments of
    another app), then hand ``sys.argv`` to ``@hydra.main`` untouched and run ``run(cfg)`` per job;
    ``objective`` names the metric returned to sweepers. Failures are one line and an exit code
    (:mod:`.boundary`: 2 for a bad command line)."""

    @hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name=config_name)
    def main(cfg: DictConfig) -> float | None:
        metrics = boundary.run(config_name, run, cfg)
        return metrics.get(objective) if objective else None

    with boundary.guard(config_name):
        problem = cli.check(config_name, sys.argv[1:], CONF_DIR, choices)
        if problem:
            raise ConfigError(problem)
        main()
