"""Figures of layer-wise order: q(l) profiles, clone-overlap relaxation, L = 1 vs Gardner."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def plot_profiles(
    profiles: Mapping[str, tuple[np.ndarray, np.ndarray]],
    path: str | Path,
    *,
    ylabel: str,
    title: str,
    first_layer: int = 1,
    note: str = "",
) -> Path:
    """q(l) vs layer, one line (mean +- std over samples) per label; ``note`` is printed on the
    figure (e.g. solved fractions and failures)."""
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for label, (mean, std) in profiles.items():
        layers = np.arange(first_layer, first_layer + len(mean))
        ax.errorbar(layers, mean, yerr=std, marker="o", capsize=3, label=label)
    ax.set_xlabel("layer l")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.axhline(0.0, color="grey", lw=0.5)
    if note:
        ax.text(0.01, 0.01, note, transform=ax.transAxes, fontsize=7, va="bottom")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def plot_relaxation(times: np.ndarray, q_t: np.ndarray, path: str | Path, *, title: str) -> Path:
    """Overlap q(l, t) (mean over samples) vs sweeps, one line per layer."""
    fig, ax = plt.subplots(figsize=(5.5, 4))
    t = np.maximum(times, 0.5)  # sweep 0 on a log axis
    for l in range(q_t.shape[1]):
        ax.plot(t, q_t[:, l], marker=".", label=f"l={l + 1}")
    ax.set_xscale("log")
    ax.set_xlabel("MC sweeps in the solution space (0 plotted at 0.5)")
    ax.set_ylabel("q_J(l, t)")
    ax.set_title(title)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def plot_vs_alpha(
    alphas: np.ndarray, mean: np.ndarray, std: np.ndarray, theory: np.ndarray, path: str | Path,
    *, title: str,
) -> Path:
    """Single-perceptron replica overlap vs alpha with the RS Gardner curve."""
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.errorbar(alphas, mean, yerr=std, marker="o", ls="", capsize=3, label="MC")
    ax.plot(alphas, theory, "k--", label="Gardner RS (N -> inf)")
    ax.set_xlabel("alpha = M/N")
    ax.set_ylabel("q")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)
