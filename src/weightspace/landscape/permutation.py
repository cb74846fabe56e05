"""Node-permutation symmetry (paper App. J, Fig. 10; docs/design.md §3.4).

Canonical form σ_gr of a configuration: for each hidden layer l (in order) the units are sorted by
their mean pre-activation over the test digits '1' (descending), permuting the rows of W^l and the
columns of W^{l+1}; the network function is unchanged. Mixed ensemble at ratio r_ps: M_s of the M
configurations (random) are replaced by pairs (σ_gr, P σ_gr) with P a uniformly random permutation
of every hidden layer, so M_s = r M/(2 − r) and r_ps = 2M_s/(M − M_s + 2M_s).
Units with identical incoming weights tie in the sort (stable: kept in their current order), so
the canonical form of such configurations is not unique; with real widths ties are rare.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from weightspace.nets.forward import lrelu
from weightspace.nets.spins import config_to_layers, layers_to_config


def _permute(layers: list[np.ndarray], l: int, perm: np.ndarray) -> None:
    """Per-row permutations perm (M, n_l) of hidden layer l: rows of W^l, columns of W^{l+1}."""
    rows = np.arange(perm.shape[0])[:, None]
    layers[l] = layers[l][rows, perm]
    layers[l + 1] = np.take_along_axis(layers[l + 1], perm[:, None, :], axis=2)


def canonicalize(configs: np.ndarray, widths: Sequence[int], x_ones: np.ndarray) -> np.ndarray:
    """σ_gr of every row of ``configs`` (M, N) ±1: hidden units sorted by mean pre-activation
    on x_ones."""
    layers = [np.array(W, dtype=np.float32) for W in config_to_layers(np.asarray(configs), widths)]
    a = np.asarray(x_ones, np.float32)[None]  # (1, P, in)
    for l in range(len(layers) - 1):
        z = a @ layers[l].transpose(0, 2, 1)  # (M, P, n_l)
        perm = np.argsort(-z.mean(axis=1), axis=1, kind="stable")
        _permute(layers, l, perm)
        z = np.take_along_axis(z, perm[:, None, :], axis=2)
        a = lrelu(z) / math.sqrt(layers[l].shape[-1])
    return layers_to_config(layers).astype(np.int8)


def random_permutation(
    configs: np.ndarray, widths: Sequence[int], rng: np.random.Generator
) -> np.ndarray:
    """Each row with every hidden layer's units permuted uniformly at random."""
    layers = [np.array(W) for W in config_to_layers(np.asarray(configs), widths)]
    for l in range(len(layers) - 1):
        perm = np.argsort(rng.random((configs.shape[0], layers[l].shape[1])), axis=1)
        _permute(layers, l, perm)
    return layers_to_config(layers).astype(np.int8)


def mixed_ensemble(
    configs: np.ndarray, widths: Sequence[int], x_ones: np.ndarray, r_ps: float, seed: int
) -> np.ndarray:
    """The ensemble at permutation-symmetry ratio r_ps (module docstring)."""
    if not 0.0 <= r_ps < 1.0:
        raise ValueError(f"r_ps={r_ps}: must lie in [0, 1)")
    m = configs.shape[0]
    m_s = int(round(r_ps * m / (2.0 - r_ps)))
    if m_s == 0:
        return configs.copy()
    rng = np.random.default_rng(seed)
    pick = rng.permutation(m)
    chosen, rest = pick[:m_s], pick[m_s:]
    gr = canonicalize(configs[chosen], widths, x_ones)
    return np.concatenate([configs[rest], gr, random_permutation(gr, widths, rng)])
