"""Shared fixtures: Hydra configs composed into a temporary output dir."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
SHARED_DATA = ROOT.parent / "shared" / "data"

os.environ.setdefault("WANDB_SILENT", "true")


def compose_cfg(config_name: str, overrides: list[str], out: Path) -> DictConfig:
    """Compose ``config_name`` like the app would, with the run dir set to ``out``."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(CONF), version_base="1.3"):
        cfg = compose(config_name, overrides=overrides, return_hydra_config=True)
    HydraConfig().set_config(cfg)
    with open_dict(cfg):
        cfg.paths.output_dir = str(out)
        cfg.paths.root_dir = str(ROOT)
        cfg.paths.cache_dir = str(out / "cache")
    GlobalHydra.instance().clear()
    return cfg


@pytest.fixture
def make_cfg(tmp_path: Path) -> Callable[..., DictConfig]:
    def _make(config_name: str = "train", overrides: list[str] | None = None) -> DictConfig:
        return compose_cfg(config_name, overrides or [], tmp_path)

    return _make


@pytest.fixture
def one_thread():
    """torch on one thread for the test (tiny tensors: thread hand-offs dominate on a busy machine)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def hydra_logging():
    """In-process Hydra runs (``launch``, a script run with runpy) reconfigure the root logger, its
    handlers writing to the test's captured streams: restore it afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    GlobalHydra.instance().clear()
    yield
    for h in root.handlers:
        if h not in handlers:
            h.close()
    root.handlers[:], root.level = handlers, level
    GlobalHydra.instance().clear()


@pytest.fixture
def standin(monkeypatch):
    """The strict CuPy stand-in (tests/cupy_standin) installed as ``cupy``, counters reset. CUDA source
    cannot run on it, so fused kernels use their array twins (the ``gpu`` tests compare the two)."""
    import cupy_standin

    from weightspace.ising import sampler

    monkeypatch.setattr(sampler, "FUSED_BLOCKS", False)
    return cupy_standin.install(monkeypatch)


@pytest.fixture(params=["numpy", "standin"])
def xp(request):
    """Run a kernel test on NumPy and on the CuPy stand-in (``pytest -k standin`` selects the latter)."""
    if request.param == "numpy":
        return np
    return request.getfixturevalue("standin")
