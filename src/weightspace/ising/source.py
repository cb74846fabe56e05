"""Where the effective model's data come from: an ensemble store or an external moments file."""

from __future__ import annotations

import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..ensemble.store import EnsembleStore
from ..errors import InputFileError, StoreError
from .moments import Moments, accumulate_moments


@dataclass
class DataSource:
    """Moments of the full configuration; ``store`` when configurations are available."""

    moments: Moments
    widths: list[int] | None
    label: str
    store: EnsembleStore | None = None
    limit: int | None = None
    digest: str | None = None  # of the store content the moments came from (EnsembleStore.digest)

    def configs(self, start: int, stop: int, limit: int | None) -> np.ndarray:
        """±1 int8 configurations restricted to spins [start, stop) (at most ``limit``)."""
        if self.store is None:
            raise ValueError(f"{self.label}: holds only moments; this method needs configurations (use ensemble=)")
        caps = [x for x in (limit, self.limit) if x is not None]
        return self.store.load(spins=(start, stop), limit=min(caps) if caps else None).spins


def store_widths(store: EnsembleStore) -> list[int]:
    """Layer widths recorded in the store's metadata."""
    arch = store.meta["arch"]
    widths = arch if isinstance(arch, list) else store.meta.get("config", {}).get("arch", {}).get("widths")
    if not widths:
        raise ValueError(f"{store.path}: store metadata names no layer widths; recollect with this version")
    return [int(w) for w in widths]


def latest_store(root: Path, scenario: str, widths: list[int]) -> Path:
    """The most recently written store under ``root`` whose scenario and widths match.

    A candidate whose store.json cannot be read raises StoreError naming it: it might be the
    newest store of this scenario, and falling back to an older one silently would be wrong."""
    found = []
    for meta_path in sorted(Path(root).glob("**/store.json")):
        try:
            store = EnsembleStore(meta_path.parent)
            widths_here = store_widths(store)
        except (StoreError, ValueError) as e:
            raise StoreError(
                f"{e} (found while looking for the newest store of scenario={scenario} under {root}: "
                "it may be that store; or pass ensemble=PATH to choose one)"
            ) from None
        if store.meta["scenario"] != scenario or widths_here != list(widths):
            continue
        times = [meta_path.stat().st_mtime]
        for p in store.shard_paths():
            try:
                times.append(p.stat().st_mtime)
            except FileNotFoundError:  # moved by a concurrent collection
                pass
        found.append((max(times), meta_path.parent))
    if not found:
        raise StoreError(
            f"no ensemble store for scenario={scenario} arch widths {widths} under {root}: "
            f"collect one with `python train.py task=collect scenario={scenario}` or pass ensemble=PATH"
        )
    return max(found)[1]


def from_store(path: Path, limit: int | None = None) -> DataSource:
    """Stream the store's configurations once into exact moments."""
    store = EnsembleStore(path)
    shards = store.shard_infos()  # one snapshot: the moments and the digest cover the same shards
    count = store.count(shards)
    if count == 0:
        raise ValueError(f"{path}: the ensemble store is empty; collect configurations first")
    n_used = count if limit is None else min(limit, count)
    chunks = _limited(store.iter_chunks(shards=shards), n_used)
    moments = accumulate_moments(chunks)
    if n_used < 10 * store.n_spins:
        warnings.warn(
            f"{path}: only {n_used} configurations for {store.n_spins} spins; moment errors ~ "
            f"{1 / np.sqrt(n_used):.3f} will limit the fit", stacklevel=2,
        )
    return DataSource(moments, store_widths(store), str(path), store, n_used, store.digest(shards))


def _limited(chunks, n: int):
    left = n
    for c in chunks:
        if left <= 0:
            return
        yield c.spins[:left]
        left -= len(c.spins)


def _read_moments(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Arrays ``m`` and ``C`` of an .npz; InputFileError naming the file and the fix otherwise."""
    key, fix = f"moments={path}", "write m (N,) and raw C (N, N) with np.savez(path, m=m, C=C)"
    try:
        with open(path, "rb") as f:
            head = f.read(6)
    except OSError as e:
        raise InputFileError(f"{key}: {e.strerror}; check the path") from None
    if not head:
        raise InputFileError(f"{key}: the file is empty; {fix}")
    if head.startswith(b"\x93NUMPY"):
        raise InputFileError(f"{key}: a .npy file holds a single array; {fix}")
    if not head.startswith(b"PK"):
        raise InputFileError(f"{key}: not an .npz archive (it starts with {head!r}); {fix}")
    try:
        with np.load(path, allow_pickle=False) as z:
            if "m" not in z.files or "C" not in z.files:
                raise InputFileError(f"{key}: holds arrays {z.files}, not 'm' and 'C'; {fix}")
            return np.asarray(z["m"], dtype=np.float64), np.asarray(z["C"], dtype=np.float64)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        if isinstance(exc, InputFileError):
            raise
        raise InputFileError(f"{key}: damaged .npz ({type(exc).__name__}: {exc}); {fix}") from None


def from_moments_file(path: Path) -> DataSource:
    """Load ``m`` (N,) and raw ``C`` (N,N) from an .npz, with one-line errors for malformed files."""
    m, C = _read_moments(path)
    n = m.shape[0] if m.ndim == 1 else -1
    if n < 2 or C.shape != (n, n):
        raise InputFileError(
            f"moments={path}: need m of shape (N,) and C of shape (N, N); got {m.shape} and {C.shape}"
        )
    if not (np.isfinite(m).all() and np.isfinite(C).all()) or np.abs(m).max() > 1 or np.abs(C).max() > 1 + 1e-9:
        raise InputFileError(f"moments={path}: entries must be finite and within [-1, 1]")
    if not np.allclose(C, C.T, atol=1e-9) or not np.allclose(np.diag(C), 1, atol=1e-9):
        raise InputFileError(f"moments={path}: C must be the symmetric raw second moment with unit diagonal")
    return DataSource(Moments(m, C, None), None, str(path))
