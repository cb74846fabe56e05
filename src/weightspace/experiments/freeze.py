"""Frozen-layer comparison (paper Sec. IV F, Fig. 11): test accuracy per epoch of nets trained with
some layers frozen at random signs vs fully trained ones, mean ± std over independent runs."""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from weightspace.plots import save_figure


def write_history(path: Path, curves: dict[str, np.ndarray]) -> None:
    """``history.csv``: per epoch, the mean and std over networks of each curve ``[epochs, E]``."""
    keys = list(curves)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["epoch"] + [f"{k}_{s}" for k in keys for s in ("mean", "std")])
        for t in range(len(curves[keys[0]])):
            w.writerow([t + 1] + [f"{v:.6f}" for k in keys for v in (curves[k][t].mean(), curves[k][t].std())])


def read_history(path: str | Path) -> dict[str, np.ndarray]:
    """Columns of a ``history.csv`` of ``task=train``: ``epoch``, ``<key>_mean``, ``<key>_std``."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(
            f"{path}: missing; the variant's training did not finish (rerun the experiment)"
        )
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise ValueError(
            f"{path}: empty; the variant's training did not finish (rerun the experiment)"
        )
    return {k: np.array([float(r[k]) for r in rows]) for k in rows[0]}


def gap_to_reference(
    histories: dict[str, dict[str, np.ndarray]], reference: str, key: str
) -> dict[str, float]:
    """Final-epoch ``<key>_mean`` of every variant minus the reference variant's."""
    ref = histories[reference][f"{key}_mean"][-1]
    return {name: float(h[f"{key}_mean"][-1] - ref) for name, h in histories.items()}


def plot_mean_std(
    series: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
    path: str | Path,
    ylabel: str,
    title: str = "",
    xlabel: str = "epoch",
) -> Path:
    """One line with a ± std band per ``series[label] = (x, mean, std)``."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for k, (label, (x, mean, std)) in enumerate(series.items()):
        ax.plot(x, mean, color=f"C{k}", label=label)
        ax.fill_between(x, mean - std, mean + std, color=f"C{k}", alpha=0.25)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, path)
