"""Deep vs shallow (paper App. G, Fig. 18): test accuracy of 20-h-h-10 nets vs h against 20-10."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from weightspace.plots import save_figure


def crossover_width(hidden: np.ndarray, deep_acc: np.ndarray, shallow_acc: float) -> float:
    """Smallest h from which the deep nets' mean accuracy stays above the shallow one's
    (nan: never)."""
    order = np.argsort(hidden)
    h, acc = np.asarray(hidden, float)[order], np.asarray(deep_acc, float)[order]
    below = np.flatnonzero(acc <= shallow_acc)
    k = 0 if len(below) == 0 else below[-1] + 1
    return float(h[k]) if k < len(h) else float("nan")


def plot_depth(
    deep: dict[str, np.ndarray], shallow: dict[str, float], path: str | Path, title: str = ""
) -> Path:
    """Mean ± std test accuracy of the deep nets vs h (``deep``: x, y, std) and the shallow net's
    band (``shallow``: y, std)."""
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    ax.errorbar(
        deep["x"], deep["y"], yerr=deep["std"], marker="o", ms=3, capsize=2, label="20-h-h-10"
    )
    if shallow:
        lo, hi = shallow["y"] - shallow["std"], shallow["y"] + shallow["std"]
        ax.axhline(shallow["y"], color="C1", label="20-10 (shallow)")
        ax.axhspan(lo, hi, color="C1", alpha=0.2)
    ax.set(
        xlabel="hidden width h",
        ylabel="test accuracy (binary net)",
        title=title or "deep vs shallow",
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, path)
