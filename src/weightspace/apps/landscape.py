"""``python landscape.py analysis=...``: analyses of weight space, one module per analysis.

Each analysis is the module ``weightspace.apps.analyses.<name>``, exposing
``run(acfg, out_dir, loggers) -> dict[str, float]``, with its options in ``cfg.analysis.<name>``
(``conf/analysis/<name>.yaml``). Several analyses can run in one call (``'analysis=[a,b]'``);
their files share the run dir.

Before any work the fitted models each analysis will read are resolved (explicit paths, or the
newest fit per part) and pinned in its config (``model.resolved``), so the W&B run config shows
them and records them as ``inputs``; the ``landscape.npz`` files written go to W&B as one
``landscape`` artifact (:mod:`.lineage`).
"""

from __future__ import annotations

import hashlib
import importlib
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, open_dict

from ..errors import ConfigError
from ..landscape.inputs import LEVELS
from . import lineage, tracking
from .analyses.common import model_paths
from .cli import BACKENDS, Choices
from .common import output_dir, write_json

ANALYSES = ("entropy", "iso_energy", "tap", "mc_dynamics", "heat_capacity", "mc_sweep", "permutation",
            "function_space", "layer_overlap")
CHOICES: Choices = {"backend": BACKENDS, "references.level": tuple(LEVELS)}


def pin_models(cfg: DictConfig, selected: list[str]) -> dict[str, dict[str, Any]]:
    """Resolve the model files of every selected analysis that reads fitted models, pin them in
    ``analysis.<name>.model.resolved`` and return their ``inputs`` records (label -> record)."""
    inputs: dict[str, dict[str, Any]] = {}
    for name in selected:
        acfg = cfg.analysis[name]
        if "model" not in acfg:
            continue
        paths = model_paths(acfg)
        with open_dict(acfg):
            acfg.model.resolved = [str(p) for p in paths]
        for p in paths:
            record = lineage.model_input(p)
            inputs[f"model:{record['name']}"] = record
    return inputs


def log_landscapes(loggers: list, cfg: DictConfig, out: Path, metrics: dict[str, float]) -> None:
    """The run's ``landscape.npz`` files as one ``landscape`` artifact, aliased by their digest."""
    files = sorted(out.rglob("landscape.npz"))
    if not files:
        return
    digest = hashlib.sha256("".join(lineage.file_digest(f) for f in files).encode()).hexdigest()
    tracking.log_artifact(
        loggers, lineage.landscape_name(cfg.scenario.name, cfg.arch.name), lineage.LANDSCAPE, files,
        {"analyses": list(cfg.analysis), **metrics}, aliases=[lineage.alias(digest)], root=out,
    )


def run(cfg: DictConfig) -> dict[str, float]:
    """Run every analysis selected in ``cfg.analysis``; returns their metrics prefixed by name."""
    selected = list(cfg.get("analysis") or {})
    if not selected:
        raise ConfigError(f"choose analysis=<name> or 'analysis=[a,b]' from {sorted(ANALYSES)}")
    unknown = [a for a in selected if a not in ANALYSES]
    if unknown:
        raise ConfigError(f"analysis={unknown}: not implemented; choose from {sorted(ANALYSES)}")
    out = output_dir(cfg)
    inputs = pin_models(cfg, selected)
    metrics: dict[str, float] = {}
    with tracking.session(cfg) as loggers:
        tracking.declare_inputs(loggers, inputs)
        for name in selected:
            result = importlib.import_module(f"weightspace.apps.analyses.{name}").run(cfg.analysis[name], out, loggers)
            metrics |= {f"{name}/{k}": float(v) for k, v in result.items()}
        tracking.log_metrics(loggers, metrics)
        log_landscapes(loggers, cfg, out, metrics)
        write_json(out / "metrics.json", metrics)
        print(f"\nweightspace landscape: {', '.join(selected)} done; run dir: {out}")
        for k, v in metrics.items():
            print(f"  {k}: {v:.6g}")
        return metrics
