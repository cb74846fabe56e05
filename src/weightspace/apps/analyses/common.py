"""Plumbing shared by the landscape apps: which models, which references, which backend."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from weightspace.backend import get_xp
from weightspace.landscape.inputs import FittedModel, choose_references, latest_model, load_model
from weightspace.nets.spins import available_parts

log = logging.getLogger(__name__)


def _parts(acfg: DictConfig) -> list[str]:
    parts = acfg.parts
    if isinstance(parts, str):
        return available_parts(list(acfg.widths)) if parts == "all" else [parts]
    return [str(p) for p in parts]


def model_paths(acfg: DictConfig) -> list[Path]:
    """The model files an analysis reads: ``model.resolved`` (pinned by the landscape app), else
    ``model.path`` (one file), else ``model_<part>.npz`` for each of ``parts`` from ``model.dir``
    (null: the newest fit of ``model.scenario`` under ``model.fit_root``, per part)."""
    mcfg = acfg.model
    if mcfg.get("resolved"):
        return [Path(p) for p in mcfg.resolved]
    if mcfg.get("path"):
        return [Path(mcfg.path)]
    if mcfg.get("dir"):
        return [Path(mcfg.dir) / f"model_{part}.npz" for part in _parts(acfg)]
    return [latest_model(mcfg.fit_root, str(mcfg.scenario), part, mcfg.get("method")) for part in _parts(acfg)]


def load_models(acfg: DictConfig) -> list[FittedModel]:
    """The fitted models of :func:`model_paths`, with a warning when they mix fit methods."""
    out = [load_model(p) for p in model_paths(acfg)]
    for m in out:
        log.info("part %s: %s model %s (delta_bp %.4f, delta_mc %.4f)", m.part, m.method, m.path,
                 m.delta_bp, m.delta_mc)
    methods = sorted({m.method for m in out})
    if len(methods) > 1:
        log.warning("the parts use models of different methods (%s): the newest fit of each part was taken; "
                    "set model.method (e.g. analysis.entropy.model.method=bethe) to compare like with like",
                    ", ".join(methods))
    return out


def models_and_references(acfg: DictConfig) -> tuple[list[FittedModel], np.ndarray, dict[str, Any]]:
    models = load_models(acfg)
    refs, info = choose_references(models, acfg.references)
    return models, refs, info


def part_refs(refs: np.ndarray, model: FittedModel) -> np.ndarray:
    """The references restricted to the model's spins (float ±1)."""
    return refs[:, model.start : model.stop].astype(float)


def xp_of(acfg: DictConfig) -> Any:
    return get_xp(str(acfg.get("backend", "auto")))
