"""Learning-curve figures (paper Fig. 2(a))."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from weightspace.plots import save_figure

LOSS_NAMES = {"ce": "cross-entropy", "hinge": "multi-class hinge loss"}


def plot_learning_curves(curves: dict[str, np.ndarray], path: str | Path, title: str = "", loss: str = "ce") -> Path:
    """Mean +- std over networks of the training loss (``loss``: ce | hinge) and test accuracies;
    ``curves[k]`` is ``[epochs, E]``."""
    fig, (ax_ce, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.8))
    epochs = np.arange(1, len(curves["train_loss"]) + 1)
    n = curves["train_loss"].shape[1]
    series = [
        ("train_loss", ax_ce, f"training {LOSS_NAMES[loss]}", "C0"),
        ("test_acc_sampled_best", ax_acc, "binary net, best of K samples", "C1"),
        ("test_acc_sampled_mean", ax_acc, "binary net, mean over samples", "C2"),
        ("test_acc_meanfield", ax_acc, "mean-field", "C3"),
    ]
    for key, ax, label, color in series:
        if key not in curves:
            continue
        mean, std = curves[key].mean(1), curves[key].std(1)
        ax.plot(epochs, mean, color=color, label=label)
        ax.fill_between(epochs, mean - std, mean + std, color=color, alpha=0.25)
    ax_ce.set(xlabel="epoch", ylabel=LOSS_NAMES[loss], title=f"training loss (mean ± std, {n} runs)")
    ax_acc.set(xlabel="epoch", ylabel="test accuracy", title="test accuracy")
    for ax in (ax_ce, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)
