"""Typed checks of the numeric options, run by the error boundary before any data is loaded.

Each option in :data:`NUMERIC` that the app's config has must hold a number of its kind within
its range: integers stay integers (``collect.target=2.5`` and ``collect.target=abc`` are refused,
``collect.target=2e6`` becomes 2000000), and the error names the key, the value and what it
means. Checked values are written back with their type, so the apps read ints as ints.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from ..errors import ConfigError


@dataclass(frozen=True)
class Num:
    """An integer (``integer=True``) or real option in [lo, hi] (``lo_open``: lo excluded)."""

    what: str
    integer: bool = True
    lo: float = -math.inf
    hi: float = math.inf
    lo_open: bool = False
    null: str | None = None  # what null means, if allowed

    def describe(self) -> str:
        kind = "an integer" if self.integer else "a number"
        lo = (">" if self.lo_open else ">=") + f" {self.lo:g}" if self.lo > -math.inf else ""
        hi = f"<= {self.hi:g}" if self.hi < math.inf else ""
        rng = " and ".join(r for r in (lo, hi) if r)
        return f"{kind}{' ' + rng if rng else ''}" + (f", or null for {self.null}" if self.null else "")

    def parse(self, key: str, value: Any) -> int | float | None:
        """The value as int/float, or ConfigError naming ``key``."""
        if value is None:
            if self.null:
                return None
            raise ConfigError(f"{key}=null: give {self.describe()} ({self.what})")
        x: Any = value
        if isinstance(x, str):
            try:
                x = float(x) if any(c in x for c in ".eE") or x.strip().lower() in ("nan", "inf", "-inf") else int(x)
            except ValueError:
                x = None
        if isinstance(x, bool) or not isinstance(x, int | float) or (isinstance(x, float) and not math.isfinite(x)):
            raise ConfigError(f"{key}={value}: must be {self.describe()} ({self.what})")
        if self.integer:
            if x != int(x):
                raise ConfigError(f"{key}={value}: must be an integer, not a fraction ({self.what})")
            x = int(x)
        if x < self.lo or (self.lo_open and x == self.lo) or x > self.hi:
            raise ConfigError(f"{key}={value}: must be {self.describe()} ({self.what})")
        return x


def _int(what: str, lo: float = -math.inf, **kw: Any) -> Num:
    return Num(what, True, lo, **kw)


def _real(what: str, lo: float = -math.inf, **kw: Any) -> Num:
    return Num(what, False, lo, **kw)


_POS = {"lo": 0.0, "lo_open": True}

NUMERIC: dict[str, Num] = {
    # every app
    "seed": _int("the run's random seed", 0),
    "scenario.n_train": _int("training examples", 1),
    "scenario.batch_size": _int("examples per mini-batch", 1),
    "scenario.epochs": _int("training epochs", 0),
    "scenario.lr": _real("learning rate", **_POS),
    "scenario.weight_decay": _real("L2 penalty", 0),
    "scenario.init_std": _real("std of the initial fields", 0),
    "scenario.threshold": _real("test accuracy a kept configuration needs", 0, hi=1),
    # train.py
    "runs": _int("networks trained together", 1),
    "threads": _int("torch CPU threads", 1, null="torch default"),
    "eval.n_samples": _int("binary nets sampled per evaluation", 1),
    "collect.target": _int("configurations the store should hold", 1),
    "collect.ensemble_size": _int("networks per process and round", 1, null="auto"),
    "collect.max_trials": _int("trial budget of this run", 1, null="10 x the missing configurations"),
    "collect.threads": _int("torch threads per process", 1, null="the top-level threads"),
    "collect.devices": _int("processes per node", 1),
    "collect.num_nodes": _int("nodes", 1),
    "collect.array_index": _int("index of this array task", 0),
    "collect.array_size": _int("number of array tasks", 1),
    "collect.flush_every_s": _real("seconds between shard writes", **_POS),
    "collect.plot_every": _int("rounds between histogram uploads", 1),
    # fit_ising.py
    "max_configs": _int("configurations of the store to use", 1, null="all"),
    "bethe.lr_J": _real("learning rate of the couplings", **_POS),
    "bethe.lr_h": _real("learning rate of the fields", **_POS),
    "bethe.l2": _real("L2 penalty on the couplings", 0),
    "bethe.tol": _real("target fit error", **_POS),
    "bethe.max_steps": _int("learning steps", 1),
    "bethe.check_every": _int("steps between fresh-start checks", 1, null="off"),
    "pseudolikelihood.lam": _real("penalty as a fraction of lambda_max", 0),
    "pseudolikelihood.max_configs": _int("configurations used", 1, null="all"),
    "pseudolikelihood.tol": _real("convergence tolerance", **_POS),
    "pseudolikelihood.max_iter": _int("iterations", 1),
    "mc.chains": _int("Monte-Carlo chains", 1),
    "mc.sweeps_per_step": _int("sweeps per learning step", 1),
    "mc.blas_threads": _int("BLAS threads", 1, null="library default"),
    "mc.lr_J": _real("learning rate of the couplings", **_POS),
    "mc.lr_h": _real("learning rate of the fields", **_POS),
    "mc.window": _int("steps per averaging window", 1),
    "mc.tol": _real("target fit error", **_POS),
    "mc.max_steps": _int("learning steps", 1),
    "mc.temps": _int("replica-exchange rungs", 1),
    "mc.beta_min": _real("hottest rung's inverse temperature", **_POS, hi=1),
    "verify.chains": _int("verification chains (two halves)", 2),
    "verify.burn_in": _int("burn-in sweeps", 0),
    "verify.sweeps": _int("measured sweeps", 1),
    "verify.three_spin_spins": _int("spins of the three-spin check", 3),
    "verify.three_spin_samples": _int("model samples of the three-spin check", 1),
    # landscape.py
    "references.count": _int("reference configurations", 1),
}


def check(cfg: DictConfig, prefix: str = "") -> None:
    """Check (and type) every option of :data:`NUMERIC` present in ``cfg`` (only those under
    ``prefix`` if given); raises ConfigError naming the first bad one."""
    for key, rule in NUMERIC.items():
        if not key.startswith(prefix):
            continue
        parent_key, _, leaf = key.rpartition(".")
        parent = OmegaConf.select(cfg, parent_key) if parent_key else cfg
        if not isinstance(parent, DictConfig) or leaf not in parent:
            continue
        value = rule.parse(key, parent[leaf])
        if value is not None and type(parent[leaf]) is not type(value):
            with open_dict(parent):
                parent[leaf] = value
