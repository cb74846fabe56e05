"""Datasets used by the apps: embedded MNIST-PCA20, MNIST/Fashion (raw or PCA-K), teacher-student.

``load_dataset(dcfg, n_train, subset, subset_seed, cache_dir)`` is the one entry point; it
returns float32 inputs and int64 labels as NumPy arrays. Training-set size ``n_train`` (P)
takes the *first* P training examples by default (``subset=first``) or a seeded random
subset (``subset=random``); the test set is always complete.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from ..nets.forward import fixed_forward
from .pca import fit_pca, images_to_unit, project
from .raw import load_raw

EMBEDDED = "mnist_pca20.npz"


@dataclass
class Dataset:
    name: str
    x_train: np.ndarray  # float32 [P, D]
    y_train: np.ndarray  # int64 [P]
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def n_inputs(self) -> int:
        return int(self.x_train.shape[1])


def embedded_path() -> Path:
    """Path of the PCA-20 MNIST projection shipped inside the package."""
    return Path(str(resources.files("weightspace.data") / "embedded" / EMBEDDED))


def load_embedded() -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Arrays and provenance of the embedded MNIST-PCA20 data."""
    path = embedded_path()
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: embedded MNIST-PCA20 missing from the package; regenerate it with "
            "`python scripts/make_embedded_pca.py` or reinstall weightspace"
        )
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(path.with_suffix(".json").read_text())
    return arrays, meta


def _pca_arrays(images: str, k: int | None, root: str, download: bool, cache_dir: str | None):
    cache = Path(cache_dir) / f"{images}_pca{k}.npz" if (cache_dir and k) else None
    if cache is not None and cache.is_file():
        with np.load(cache) as z:
            return {n: z[n] for n in z.files}
    tr_x, tr_y, te_x, te_y = load_raw(images, root, download=download)
    xtr, xte = images_to_unit(tr_x), images_to_unit(te_x)
    out = {"y_train": tr_y.astype(np.int64), "y_test": te_y.astype(np.int64)}
    if k:
        pca = fit_pca(xtr, k)
        out |= {
            "x_train": project(pca, xtr).astype(np.float32),
            "x_test": project(pca, xte).astype(np.float32),
            "explained_variance_ratio": np.float64(pca.explained_variance_ratio),
        }
    else:
        out |= {"x_train": xtr.astype(np.float32), "x_test": xte.astype(np.float32)}
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp.npz")
        np.savez(tmp, **out)
        tmp.replace(cache)
    return out


def teacher_student(
    n_inputs: int, teacher_widths: list[int], n_train: int, n_test: int, seed: int
) -> dict[str, np.ndarray]:
    """Gaussian inputs labelled by a random +-1 teacher net of widths ``teacher_widths`` (argmax output)."""
    if teacher_widths[0] != n_inputs:
        raise ValueError(f"dataset.teacher_widths[0]={teacher_widths[0]} must equal dataset.n_inputs={n_inputs}")
    rng = np.random.default_rng(seed)
    weights = [
        rng.choice([-1.0, 1.0], size=(o, i)) for i, o in zip(teacher_widths[:-1], teacher_widths[1:], strict=True)
    ]
    x = rng.standard_normal((n_train + n_test, n_inputs))
    y = fixed_forward(weights, x).argmax(-1)
    return {
        "x_train": x[:n_train].astype(np.float32),
        "y_train": y[:n_train].astype(np.int64),
        "x_test": x[n_train:].astype(np.float32),
        "y_test": y[n_train:].astype(np.int64),
    }


def _select(arrays: dict[str, np.ndarray], n_train: int | None, subset: str, seed: int) -> None:
    total = len(arrays["x_train"])
    if n_train is None or n_train == total:
        return
    if not 1 <= n_train <= total:
        raise ValueError(f"scenario.n_train={n_train}: must be between 1 and the {total} training examples")
    if subset == "first":
        idx = np.arange(n_train)
    elif subset == "random":
        idx = np.sort(np.random.default_rng(seed).choice(total, n_train, replace=False))
    else:
        raise ValueError(f"dataset.subset={subset!r}: choose 'first' or 'random'")
    arrays["x_train"], arrays["y_train"] = arrays["x_train"][idx], arrays["y_train"][idx]


def load_dataset(
    dcfg: Any,
    n_train: int | None = None,
    subset: str = "first",
    subset_seed: int = 0,
    cache_dir: str | None = None,
) -> Dataset:
    """Build the dataset described by the ``dataset`` config node (see ``conf/dataset/``)."""
    source = dcfg.source
    info: dict[str, Any] = {}
    if source == "embedded":
        arrays, meta = load_embedded()
        arrays = {k: arrays[k] for k in ("x_train", "y_train", "x_test", "y_test")}
        info["explained_variance_ratio"] = meta["explained_variance_ratio"]
    elif source == "idx":
        arrays = _pca_arrays(dcfg.images, dcfg.pca, str(dcfg.root), bool(dcfg.download), cache_dir)
        if "explained_variance_ratio" in arrays:
            info["explained_variance_ratio"] = float(arrays.pop("explained_variance_ratio"))
    elif source == "teacher_student":
        arrays = teacher_student(
            int(dcfg.n_inputs), list(dcfg.teacher_widths), int(dcfg.n_train), int(dcfg.n_test), int(dcfg.seed)
        )
    else:
        raise ValueError(f"dataset.source={source!r}: choose embedded, idx or teacher_student")
    arrays = {
        "x_train": np.asarray(arrays["x_train"], dtype=np.float32),
        "y_train": np.asarray(arrays["y_train"], dtype=np.int64),
        "x_test": np.asarray(arrays["x_test"], dtype=np.float32),
        "y_test": np.asarray(arrays["y_test"], dtype=np.int64),
    }
    _select(arrays, n_train, subset, subset_seed)
    n_classes = int(max(arrays["y_train"].max(), arrays["y_test"].max()) + 1)
    return Dataset(name=str(dcfg.name), n_classes=n_classes, info=info, **arrays)


def to_parity(data: Dataset) -> Dataset:
    """Two classes, the digits' parity y mod 2 (even -> 0, odd -> 1; paper App. F binary task)."""
    return replace(data, name=f"{data.name}_parity", y_train=data.y_train % 2, y_test=data.y_test % 2, n_classes=2)
