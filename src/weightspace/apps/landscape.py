"""``python landscape.py analysis=...``: analyses of weight space, one module per analysis.

Each analysis module exposes ``run(acfg, out_dir, loggers) -> dict[str, float]`` and reads its
options from ``cfg.analysis.<name>`` (``conf/analysis/<name>.yaml``). Several analyses can run
in one call (``'analysis=[a,b]'``); their files share the run dir.
"""

from __future__ import annotations

import importlib

from omegaconf import DictConfig

from .. import tracking
from ..errors import ConfigError
from .common import output_dir, write_json

ANALYSES = {
    "entropy": "weightspace.landscape.apps.entropy",
    "iso_energy": "weightspace.landscape.apps.iso_energy",
    "tap": "weightspace.landscape.apps.tap",
    "mc_dynamics": "weightspace.landscape.apps.mc_dynamics",
    "heat_capacity": "weightspace.landscape.apps.heat_capacity",
    "mc_sweep": "weightspace.landscape.apps.mc_sweep",
    "permutation": "weightspace.landscape.apps.permutation",
    "function_space": "weightspace.function_space.app",
    "layer_overlap": "weightspace.overlaps.app",
}


def run(cfg: DictConfig) -> dict[str, float]:
    """Run every analysis selected in ``cfg.analysis``; returns their metrics prefixed by name."""
    selected = list(cfg.get("analysis") or {})
    if not selected:
        raise ConfigError(f"choose analysis=<name> or 'analysis=[a,b]' from {sorted(ANALYSES)}")
    unknown = [a for a in selected if a not in ANALYSES]
    if unknown:
        raise ConfigError(f"analysis={unknown}: not implemented; choose from {sorted(ANALYSES)}")
    out = output_dir(cfg)
    loggers = tracking.make_loggers(cfg.get("logger"))
    metrics: dict[str, float] = {}
    with tracking.finishing(loggers):
        tracking.log_config(loggers, cfg)
        for name in selected:
            result = importlib.import_module(ANALYSES[name]).run(cfg.analysis[name], out, loggers)
            metrics |= {f"{name}/{k}": float(v) for k, v in result.items()}
        tracking.log_metrics(loggers, metrics)
        write_json(out / "metrics.json", metrics)
        print(f"\nweightspace landscape: {', '.join(selected)} done; run dir: {out}")
        for k, v in metrics.items():
            print(f"  {k}: {v:.6g}")
        return metrics
