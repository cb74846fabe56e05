"""Read weight configurations from either an ensemble store or a plain ``.npy`` file."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..nets.spins import n_spins
from .store import EnsembleStore


def load_configs(path: str | Path, widths: list[int] | None = None, limit: int | None = None, option: str = "configs"
                 ) -> tuple[np.ndarray, list[int]]:
    """``(configs [M, N] int8 ±1, widths)`` from a store directory (widths from its metadata) or an
    ``.npy`` (``widths`` required); at most ``limit`` rows. ``option`` names the config key in errors."""
    path = Path(path)
    if path.is_dir():
        store = EnsembleStore(path)
        stored = [int(w) for w in store.meta["arch"]]
        if widths and list(widths) != stored:
            raise ValueError(f"{option}={path}: store holds arch {stored}, not the requested widths {list(widths)}")
        return store.load(limit=limit).spins, stored
    if not path.is_file():
        raise ValueError(f"{option}={path}: not found; give an ensemble store directory or a .npy of ±1 configurations")
    if not widths:
        raise ValueError(f"{option}={path}: a .npy carries no architecture; also set the layer widths")
    try:
        configs = np.load(path, mmap_mode="r")
    except (ValueError, OSError) as exc:
        raise ValueError(f"{option}={path}: not a readable .npy ({exc})") from None
    widths = [int(w) for w in widths]
    if configs.ndim != 2 or configs.shape[1] != n_spins(widths):
        raise ValueError(
            f"{option}={path}: shape {configs.shape} does not match widths {widths} ({n_spins(widths)} spins)"
        )
    configs = np.asarray(configs[:limit], dtype=np.int8)
    if not np.all(np.abs(configs) == 1):
        raise ValueError(f"{option}={path}: entries must be ±1")
    return configs, widths
