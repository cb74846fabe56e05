"""PCA-K projection of image datasets (docs/design.md §3.1).

Pixels are scaled to [0, 1]; the PCA is fitted on the centred training images;
training and test images are centred with the *training* mean and projected on the
top-K eigenvectors of the training covariance. Sign convention: each eigenvector's
largest-magnitude entry is positive, so the projection is deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PCAResult:
    components: np.ndarray  # [K, D] orthonormal rows
    mean: np.ndarray  # [D] training mean
    explained_variance_ratio: float  # sum of the top-K eigenvalues / total variance


def fit_pca(x_train: np.ndarray, k: int) -> PCAResult:
    """Fit PCA-``k`` on ``x_train`` ``[n, D]`` (float, already scaled) via the covariance eigenproblem."""
    x = np.asarray(x_train, dtype=np.float64)
    if not 1 <= k <= x.shape[1]:
        raise ValueError(f"dataset.pca={k}: must be between 1 and the input dimension {x.shape[1]}")
    mean = x.mean(axis=0)
    xc = x - mean
    cov = xc.T @ xc / (len(x) - 1)
    evals, evecs = np.linalg.eigh(cov)
    order = np.argsort(evals)[::-1]
    evals, evecs = evals[order], evecs[:, order]
    comps = evecs[:, :k].T.copy()
    flip = np.sign(comps[np.arange(k), np.abs(comps).argmax(axis=1)])
    comps *= flip[:, None]
    return PCAResult(comps, mean, float(evals[:k].sum() / evals.sum()))


def project(pca: PCAResult, x: np.ndarray) -> np.ndarray:
    """Centre ``x`` with the training mean and project on the components: ``(x - mean) @ W^T``."""
    return (np.asarray(x, dtype=np.float64) - pca.mean) @ pca.components.T


def images_to_unit(images: np.ndarray) -> np.ndarray:
    """uint8 images ``[n, 28, 28]`` -> float64 ``[n, 784]`` in [0, 1]."""
    return images.reshape(len(images), -1).astype(np.float64) / 255.0
