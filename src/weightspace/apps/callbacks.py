"""Hydra callbacks: a resolvable sweep dir, and aggregating a multirun after its last job.

In an experiment config::

    hydra:
      callbacks:
        aggregate:
          _target_: weightspace.apps.callbacks.AggregateSweep
          kind: double_descent

After the sweep, ``task=aggregate`` runs on the sweep dir and writes its figure, table and
metrics to ``<sweep dir>/aggregate/`` (and to the configured loggers).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict


class SweepRuntime(Callback):
    """Make ``${hydra:...}`` resolvable while the launcher resolves ``hydra.sweep.dir``.

    Hydra 1.3 sets ``HydraConfig`` per job only, but the launcher resolves the sweep dir before
    the first job; ours goes through ``paths.outputs`` -> ``${hydra:runtime.cwd}``, so without this
    every ``-m`` command without an explicit ``hydra.sweep.dir`` failed with "HydraConfig was not set".
    """

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from hydra.core.hydra_config import HydraConfig

        HydraConfig.instance().set_config(config)


class AggregateSweep(Callback):
    def __init__(self, kind: str) -> None:
        self.kind = kind

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from .train import run

        sweep = Path(config.hydra.sweep.dir)
        cfg = OmegaConf.masked_copy(config, [k for k in config if k != "hydra"])
        with open_dict(cfg):
            cfg.task = "aggregate"
            cfg.aggregate.dir = str(sweep)
            cfg.aggregate.kind = self.kind
            cfg.paths.root_dir = os.getcwd()
            cfg.paths.output_dir = str(sweep / "aggregate")
        run(cfg)
