"""t-SNE of random initial configurations vs learned solutions (paper Fig. 2(b)).

Initial configuration of trial s: fields theta_0 ~ N(0, init_std^2) drawn exactly as training
draws them (:func:`weightspace.nets.module.init_fields` with seed s), then one binary sample
w = +1 with probability sigmoid(theta_0). The paper embeds 20 000 of each with t-SNE
(van der Maaten & Hinton 2008); we reduce to ``pca_dims`` components first (standard practice)
and embed both sets together. Quantitative companions: the test accuracy of every configuration
(same test subset for both sets), mean pairwise overlaps q = sigma.sigma'/N within each set,
and the 2-D k-nearest-neighbour purity (fraction of a point's neighbours from its own set;
0.5 = fully mixed for equal set sizes, 1 = separated).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch

from weightspace.plots import save_figure

from ..nets.meanfield import sample_weights
from ..nets.module import init_fields
from ..nets.realnet import ensemble_accuracy
from ..nets.spins import config_to_layers, layers_to_config


def initial_configs(
    widths: Sequence[int], seeds: Sequence[int], init_std: float, sample_seed: int
) -> np.ndarray:
    """``[M, N]`` int8: one binary draw from the initial fields of each trial seed."""
    out = []
    g = torch.Generator().manual_seed(int(sample_seed))
    for k in range(0, len(seeds), 4096):
        thetas = init_fields(widths, seeds[k : k + 4096], init_std)
        out.append(
            layers_to_config([w[0] for w in sample_weights(thetas, 1, g)]).to(torch.int8).numpy()
        )
    return np.concatenate(out)


def configs_accuracy(
    configs: np.ndarray, widths: Sequence[int], x: np.ndarray, y: np.ndarray, chunk: int = 1024
) -> np.ndarray:
    """Test accuracy ``[M]`` of the binary nets ``configs [M, N]`` on ``x``, ``y``."""
    xt, yt = torch.from_numpy(np.asarray(x, np.float32)), torch.from_numpy(np.asarray(y))
    acc = [
        ensemble_accuracy(
            config_to_layers(
                torch.from_numpy(np.array(configs[k : k + chunk], np.float32)), widths
            ),
            xt,
            yt,
        )
        for k in range(0, len(configs), chunk)
    ]
    return torch.cat(acc).numpy()


def mean_overlap(configs: np.ndarray, max_pairs_rows: int = 2000) -> float:
    """Mean overlap sigma.sigma'/N over distinct pairs of the first ``max_pairs_rows`` rows:
    (|sum_a sigma_a|^2 - M N) / (M (M - 1) N)."""
    c = np.asarray(configs[:max_pairs_rows], np.float64)
    m, n = c.shape
    s = c.sum(0)
    return float((s @ s - m * n) / (m * (m - 1) * n))


def embed(configs: np.ndarray, pca_dims: int, perplexity: float, seed: int) -> np.ndarray:
    """2-D t-SNE of ``configs [M, N]`` (after PCA to ``pca_dims`` components)."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    z = np.asarray(configs, np.float32)
    if pca_dims and pca_dims < min(z.shape):
        z = PCA(n_components=pca_dims, random_state=seed).fit_transform(z)
    perplexity = min(float(perplexity), (len(z) - 1) / 3)
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(
        z
    )


def knn_purity(points: np.ndarray, labels: np.ndarray, k: int = 10) -> float:
    """Mean fraction of each point's k nearest neighbours (not itself) that share its label."""
    from sklearn.neighbors import NearestNeighbors

    idx = (
        NearestNeighbors(n_neighbors=k + 1)
        .fit(points)
        .kneighbors(points, return_distance=False)[:, 1:]
    )
    return float((labels[idx] == labels[:, None]).mean())


def plot_tsne(
    emb: np.ndarray, is_solution: np.ndarray, acc: np.ndarray, path: str | Path, title: str = ""
) -> Path:
    """Initial configurations in green, solutions coloured by test accuracy (paper Fig. 2(b))."""
    fig, ax = plt.subplots(figsize=(6, 5))
    init = ~is_solution
    ax.scatter(*emb[init].T, s=2, c="tab:green", alpha=0.5, label=f"random initial ({init.sum()})")
    sc = ax.scatter(
        *emb[is_solution].T,
        s=2,
        c=acc[is_solution],
        cmap="Blues",
        label=f"solutions ({is_solution.sum()})",
    )
    fig.colorbar(sc, ax=ax, label="test accuracy (solutions)")
    ax.set(xticks=[], yticks=[], title=title or "t-SNE of weight configurations")
    ax.legend(fontsize=8, markerscale=5, loc="best")
    return save_figure(fig, path)
