"""Shared plumbing of the entry points: config validation, output dir, data, summaries."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hydra
from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

from ..data import Dataset, load_dataset
from ..data.datasets import to_parity
from ..errors import ConfigError
from . import boundary

LABELS = ("digits", "parity")

CONF_DIR = Path(__file__).resolve().parents[3] / "conf"


def _groups(conf_dir: Path) -> set[str]:
    return {p.name for p in conf_dir.iterdir() if p.is_dir()} | {"hydra"}


def check_overrides(config_name: str, overrides: list[str], conf_dir: Path = CONF_DIR) -> str | None:
    """Return a one-line message for the first override naming a key the config does not have.

    Hydra's struct mode already rejects such keys; this adds the list of valid keys at that level.
    Group choices (``arch=...``), appends (``+key``) and deletions (``~key``) are left to Hydra.
    """
    parsed = OverridesParser.create().parse_overrides(overrides)
    groups = _groups(conf_dir)
    choice = [o.input_line for o in parsed if o.key_or_group.split("/")[0] in groups and "." not in o.key_or_group]
    choice = [c for c in choice if not c.startswith("hydra")]
    with initialize_config_dir(str(conf_dir), version_base="1.3"):
        try:
            cfg = compose(config_name, overrides=choice)
        except Exception as exc:  # a bad group choice: Hydra's own message lists the options
            return " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    for o in parsed:
        key = o.key_or_group
        if o.input_line in choice or key.startswith("hydra") or o.is_add() or o.is_delete():
            continue
        node: Any = cfg
        parts = key.split(".")
        for depth, part in enumerate(parts):
            if not isinstance(node, DictConfig) or part not in node:
                where = ".".join(parts[:depth]) or "<top level>"
                valid = sorted(node.keys()) if isinstance(node, DictConfig) else []
                return f"unknown config key '{key}': valid keys under {where} are {', '.join(map(str, valid))}"
            if depth < len(parts) - 1:  # leaves are not read: they may interpolate ${hydra:...}
                node = node[part]
    return None


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


def config_dict(cfg: DictConfig) -> dict[str, Any]:
    return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]


def launch(config_name: str, run: Callable[[DictConfig], dict[str, float]], objective: str | None = None) -> None:
    """Body of the top-level ``<config_name>.py`` scripts: check the command line's keys, then run
    ``run(cfg)`` under ``@hydra.main``; ``objective`` names the metric returned to sweepers.
    Failures are one line and an exit code (:mod:`.boundary`)."""

    @hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name=config_name)
    def main(cfg: DictConfig) -> float | None:
        metrics = boundary.run(config_name, run, cfg)
        return metrics.get(objective) if objective else None

    with boundary.guard(config_name):
        problem = check_overrides(config_name, [a for a in sys.argv[1:] if not a.startswith("-")])
        if problem:
            raise ConfigError(problem)
        main()
