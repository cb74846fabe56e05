"""Inputs of the landscape analyses: fitted models (``model_<part>.npz``) and references.

Reference levels (paper Sec. IV: "low, medium and high energy regions"): the ensemble's
configurations (at most ``pool`` of them) are ranked by their energy E(σ) under the fitted model
used for ranking (the full model when it is analysed, else the first part); ``low`` draws from
the lowest 10 % (energy quantiles 0–0.10), ``medium`` from 0.45–0.55, ``high`` from 0.90–1.00,
``all`` from the whole pool; ``count`` distinct configurations uniformly at random (seeded).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from weightspace.ising.sampler import ising_energy
from weightspace.nets.spins import n_spins

LEVELS = {"low": (0.0, 0.10), "medium": (0.45, 0.55), "high": (0.90, 1.0), "all": (0.0, 1.0)}
_MODEL_KEYS = ("J", "h")


@dataclass
class FittedModel:
    """A fitted part: J (N,N), h (N,), spins [start, stop) of the full configuration, widths, part,
    method, fit errors delta_bp/delta_mc, ensemble (store path), path (the file)."""

    J: np.ndarray
    h: np.ndarray
    part: str
    start: int
    stop: int
    widths: list[int]
    method: str
    delta_bp: float
    delta_mc: float
    ensemble: str
    path: Path


def load_model(path: str | Path) -> FittedModel:
    """Read ``model_<part>.npz`` (fit_ising output) and check J symmetric, zero diagonal, h (N,)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(
            f"model={path}: no such file; run fit_ising.py first or pass model=PATH.npz"
        )
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except Exception as exc:  # truncated / not an npz
        raise ValueError(
            f"model={path}: unreadable ({type(exc).__name__}); refit or pick another file"
        ) from exc
    missing = [k for k in _MODEL_KEYS if k not in data]
    if missing:
        raise ValueError(f"model={path}: missing arrays {missing}; it must come from fit_ising.py")
    J, h = np.asarray(data["J"], float), np.asarray(data["h"], float)
    n = h.shape[0] if h.ndim == 1 else -1
    if J.shape != (n, n) or not np.allclose(J, J.T) or np.any(np.diag(J) != 0):
        raise ValueError(
            f"model={path}: J {J.shape} / h {h.shape} must be (N,N) symmetric with zero "
            "diagonal, (N,)"
        )
    widths = [int(w) for w in data.get("widths", np.array([], int))]
    start = int(data.get("start", 0))
    return FittedModel(
        J=J,
        h=h,
        part=str(data.get("part", "full")),
        start=start,
        stop=int(data.get("stop", start + n)),
        widths=widths,
        method=str(data.get("method", "unknown")),
        delta_bp=float(data.get("delta_bp", np.nan)),
        delta_mc=float(data.get("delta_mc", np.nan)),
        ensemble=str(data.get("ensemble", "")),
        path=path,
    )


def model_scenario(path: Path, fit_root: Path) -> str:
    """The scenario a model file was fitted for (``scenario`` in the file; older files: the first
    directory under ``fit_root``, i.e. ``<fit_root>/<scenario>/<time>/``)."""
    with np.load(path, allow_pickle=False) as z:
        if "scenario" in z.files:
            return str(z["scenario"])
    return path.relative_to(fit_root).parts[0]


def latest_model(fit_root: str | Path, scenario: str, part: str, method: str | None = None) -> Path:
    """Newest (by mtime) ``model_<part>.npz`` of ``scenario`` (optionally of one method) anywhere
    under ``fit_root``: single runs ``<scenario>/<time>/`` and multirun jobs ``multirun/<time>/<n>/``."""
    root = Path(fit_root)
    files = sorted(root.rglob(f"model_{part}.npz"), key=lambda p: p.stat().st_mtime, reverse=True)
    files = [p for p in files if model_scenario(p, root) == scenario]
    if method is not None:
        files = [p for p in files if load_model(p).method == method]
    if not files:
        what = f"model_{part}.npz of scenario {scenario}" + (f" with method={method}" if method else "")
        raise ValueError(
            f"no {what} under {root}; run fit_ising.py scenario={scenario} or pass model=PATH.npz"
        )
    return files[0]


def pick_by_level(energy: np.ndarray, level: str, count: int, seed: int) -> np.ndarray:
    """Indices of ``count`` configurations drawn without replacement from the energy-quantile band
    of
        ``level`` (module docstring), sorted by energy."""
    if level not in LEVELS:
        raise ValueError(f"references.level={level!r}: choose one of {sorted(LEVELS)}")
    lo, hi = LEVELS[level]
    order = np.argsort(energy, kind="stable")
    band = order[int(np.floor(lo * len(order))) : max(int(np.ceil(hi * len(order))), 1)]
    if count > band.size:
        raise ValueError(
            f"references.count={count}: only {band.size} configurations in the {level} band "
            f"(quantiles {lo}-{hi} of {len(order)}); lower the count or raise references.pool"
        )
    chosen = np.random.default_rng(seed).choice(band, size=count, replace=False)
    return chosen[np.argsort(energy[chosen], kind="stable")]


def load_references(path: str | Path, n_full: int | None) -> np.ndarray:
    """A (K, N) ±1 array from ``references=PATH.npy``."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(
            f"references={path}: no such file; give a (K, N) ±1 .npy or use references.level"
        )
    refs = np.load(path, allow_pickle=False)
    refs = refs[None, :] if refs.ndim == 1 else refs
    if refs.ndim != 2 or not np.all(np.abs(refs) == 1):
        raise ValueError(f"references={path}: need a (K, N) array of ±1, got shape {refs.shape}")
    if n_full is not None and refs.shape[1] != n_full:
        raise ValueError(
            f"references={path}: {refs.shape[1]} spins per row but the model covers {n_full}"
        )
    return refs.astype(np.int8)


def ensemble_pool(store_path: str | Path, pool: int) -> np.ndarray:
    """The first ``pool`` configurations (int8 ±1, all spins) of an ensemble store."""
    from weightspace.ensemble.store import EnsembleStore

    path = Path(store_path)
    if not path.is_dir():
        raise ValueError(
            f"ensemble={path}: no such store; set references.ensemble or give references=PATH.npy"
        )
    configs = EnsembleStore(path).load(limit=pool).spins
    if configs.shape[0] == 0:
        raise ValueError(
            f"ensemble={path}: the store holds no configurations; collect some with train.py"
        )
    return configs


def _energies(configs: np.ndarray, model: FittedModel, chunk: int = 8192) -> np.ndarray:
    """E(σ) of each ±1 row under ``model`` (:func:`~weightspace.ising.sampler.ising_energy`), in
    chunks of rows to bound the float copy of a large pool."""
    parts = [
        ising_energy(configs[a : a + chunk].astype(float), model.J, model.h)
        for a in range(0, configs.shape[0], chunk)
    ]
    return np.concatenate(parts) if parts else np.zeros(0)


def choose_references(models: list[FittedModel], rcfg: Any) -> tuple[np.ndarray, dict[str, Any]]:
    """Full-length (K, N_full) references from ``rcfg.path`` or from the ensemble by level; returns
    them and provenance (level, quantile band, energies under the ranking model)."""
    rank = next((m for m in models if m.part == "full"), models[0])
    n_full = n_spins(rank.widths) if rank.widths else max(m.stop for m in models)
    if rcfg.get("path"):
        refs = load_references(rcfg.path, n_full)
        info: dict[str, Any] = {"source": str(rcfg.path)}
    else:
        store = rcfg.get("ensemble") or rank.ensemble
        configs = ensemble_pool(store, int(rcfg.pool))
        e = _energies(configs[:, rank.start : rank.stop], rank)
        idx = pick_by_level(e, str(rcfg.level), int(rcfg.count), int(rcfg.seed))
        refs = configs[idx]
        info = {
            "source": str(store),
            "level": str(rcfg.level),
            "quantiles": LEVELS[str(rcfg.level)],
            "pool": int(configs.shape[0]),
            "pool_indices": idx,
        }
    info["energy_per_spin"] = _energies(refs[:, rank.start : rank.stop], rank) / (
        rank.stop - rank.start
    )
    info["ranking_part"] = rank.part
    return refs, info
