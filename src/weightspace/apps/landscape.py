"""``python landscape.py analysis=...``: analyses of weight space, one module per analysis.

Each analysis module exposes ``run(acfg, out_dir, loggers) -> dict[str, float]`` and reads its
options from ``cfg.analysis.<name>`` (``conf/analysis/<name>.yaml``). Several analyses can run
in one call (``'analysis=[a,b]'``); their files share the run dir.
"""

from __future__ import annotations

import importlib

from omegaconf import DictConfig

from . import tracking
from .common import output_dir, write_json

ANALYSES = {
    "entropy": "weightspace.apps.analyses.entropy",
    "iso_energy": "weightspace.apps.analyses.iso_energy",
    "tap": "weightspace.apps.analyses.tap",
    "mc_dynamics": "weightspace.apps.analyses.mc_dynamics",
    "heat_capacity": "weightspace.apps.analyses.heat_capacity",
    "mc_sweep": "weightspace.apps.analyses.mc_sweep",
    "permutation": "weightspace.apps.analyses.permutation",
    "function_space": "weightspace.apps.analyses.function_space",
    "layer_overlap": "weightspace.apps.analyses.layer_overlap",
}


def run(cfg: DictConfig) -> dict[str, float]:
    """Run every analysis selected in ``cfg.analysis``; returns their metrics prefixed by name."""
    selected = list(cfg.get("analysis") or {})
    if not selected:
        raise ValueError(f"landscape.py: choose analysis=<name> or 'analysis=[a,b]' from {sorted(ANALYSES)}")
    unknown = [a for a in selected if a not in ANALYSES]
    if unknown:
        raise ValueError(f"analysis={unknown}: not implemented; choose from {sorted(ANALYSES)}")
    out = output_dir(cfg)
    loggers = tracking.make_loggers(cfg.get("logger"))
    metrics: dict[str, float] = {}
    try:
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
    finally:
        tracking.finish(loggers)
