"""Raw MNIST / Fashion-MNIST images and labels: local IDX files first, torchvision download second.

Files are looked for (``.gz`` or plain) in ``root``, ``root/<Name>/raw`` (torchvision's layout)
and ``root/<name>``. When none are there, torchvision's downloader is tried; when that fails
too (offline), one error names the files, the folders searched and how to provide them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .idx import read_idx

FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
TORCHVISION_CLASS = {"mnist": "MNIST", "fashion": "FashionMNIST"}
FOLDER = {"mnist": "mnist", "fashion": "fashion-mnist"}


class DataNotFoundError(FileNotFoundError):
    """Raised when neither local IDX files nor a download provide the dataset."""


def _candidates(root: Path, name: str) -> list[Path]:
    tv = TORCHVISION_CLASS[name]
    return [root, root / tv / "raw", root / FOLDER[name]]


def _find(root: Path, name: str, stem: str) -> Path | None:
    for folder in _candidates(root, name):
        for suffix in ("", ".gz"):
            p = folder / f"{stem}{suffix}"
            if p.is_file():
                return p
    return None


def _local(root: Path, name: str) -> dict[str, np.ndarray] | None:
    stems = [s for pair in FILES.values() for s in pair]
    paths = {s: _find(root, name, s) for s in stems}
    if any(p is None for p in paths.values()):
        return None
    return {s: read_idx(p) for s, p in paths.items()}


def _download(root: Path, name: str) -> None:
    import torchvision.datasets as tvd

    cls = getattr(tvd, TORCHVISION_CLASS[name])
    for train in (True, False):
        cls(str(root), train=train, download=True)


def load_raw(name: str, root: str | Path, download: bool = True) -> tuple[np.ndarray, ...]:
    """Return ``(x_train, y_train, x_test, y_test)``: uint8 images ``[n, 28, 28]`` and labels.

    ``name`` is ``mnist`` or ``fashion``.
    """
    if name not in TORCHVISION_CLASS:
        raise ValueError(f"dataset name {name!r}: choose one of {sorted(TORCHVISION_CLASS)}")
    root = Path(root).expanduser()
    arrays = _local(root, name)
    error = ""
    if arrays is None and download:
        try:
            _download(root, name)
            arrays = _local(root, name)
        except Exception as exc:  # offline, mirror down, read-only root ...
            error = f" (download failed: {type(exc).__name__}: {str(exc).splitlines()[0][:120]})"
    if arrays is None:
        names = ", ".join(f"{s}[.gz]" for pair in FILES.values() for s in pair)
        raise DataNotFoundError(
            f"{name}: IDX files not found under {root} (looked in "
            f"{', '.join(str(p) for p in _candidates(root, name))}){error}. Put {names} there, or set "
            f"dataset.root=<folder holding them>, or run once with internet access."
        )
    tr_x, tr_y = (arrays[s] for s in FILES["train"])
    te_x, te_y = (arrays[s] for s in FILES["test"])
    if len(tr_x) != len(tr_y) or len(te_x) != len(te_y):
        raise ValueError(f"{name} under {root}: image and label files disagree in length; re-download them")
    return tr_x, tr_y, te_x, te_y
