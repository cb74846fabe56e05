"""Figures (matplotlib, Agg backend): every function writes one PNG and returns its path."""

import matplotlib

matplotlib.use("Agg")

from pathlib import Path  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402


def save_figure(fig: "plt.Figure", path: str | Path, dpi: int = 120) -> Path:
    """Lay out ``fig``, write it as PNG to ``path``, close it and return the path."""
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path
