"""Double descent (paper App. F, Fig. 17): train/test error of K-h-h-x nets vs alpha = N/P.

The interpolation point is the smallest alpha from which the training error stays at or below
``tol``; a double-descent peak is an interior local maximum of the test error that stands
above the lowest test error on *both* sides (its prominence is the smaller of the two rises).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from weightspace.plots import save_figure

MODEL_NAMES = {"train": "binary (mean-field)", "train_real": "real-valued"}


def interpolation_alpha(alpha: np.ndarray, train_error: np.ndarray, tol: float = 1e-3) -> float:
    """Smallest alpha with train_error <= tol there and at every larger alpha (nan: never)."""
    order = np.argsort(alpha)
    a, e = np.asarray(alpha, float)[order], np.asarray(train_error, float)[order]
    above = np.flatnonzero(e > tol)
    k = 0 if len(above) == 0 else above[-1] + 1
    return float(a[k]) if k < len(a) else float("nan")


def find_error_peak(alpha: np.ndarray, test_error: np.ndarray) -> tuple[float, float]:
    """``(alpha_peak, prominence)`` of the most prominent interior maximum of the test error,
    prominence = min(peak - min(left of it), peak - min(right of it)); ``(nan, 0)`` if none."""
    order = np.argsort(alpha)
    a, e = np.asarray(alpha, float)[order], np.asarray(test_error, float)[order]
    best, where = 0.0, float("nan")
    for k in range(1, len(e) - 1):
        prom = min(e[k] - e[:k].min(), e[k] - e[k + 1 :].min())
        if prom > best:
            best, where = float(prom), float(a[k])
    return where, best


def plot_double_descent(
    curves: dict[str, dict[str, dict[str, np.ndarray]]], path: str | Path, title: str = ""
) -> Path:
    """Train (left) and test (right) error vs alpha, one line per model; ``curves[model][split]``
    holds ``x`` (alpha), ``y`` (mean error), ``std``. Dashed: each model's interpolation point."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharex=True)
    for k, (model, c) in enumerate(curves.items()):
        color = f"C{k}"
        for ax, split in zip(axes, ("train", "test")):
            d = c[split]
            ax.errorbar(
                d["x"],
                d["y"],
                yerr=d["std"],
                color=color,
                marker="o",
                ms=3,
                capsize=2,
                label=MODEL_NAMES.get(model, model),
            )
        a_star = interpolation_alpha(c["train"]["x"], c["train"]["y"])
        if np.isfinite(a_star):
            for ax in axes:
                ax.axvline(a_star, color=color, ls="--", lw=0.8)
    for ax, split in zip(axes, ("training", "test")):
        ax.set(
            xscale="log", xlabel=r"$\alpha = N/P$", ylabel=f"{split} error", title=f"{split} error"
        )
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)
