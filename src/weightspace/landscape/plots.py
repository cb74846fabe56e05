"""Figures of the landscape analyses (paper Figs. 5–10, 13, 14, 16); PNG files, Agg backend.

Unconverged BP points are drawn as red crosses, never silently averaged in.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from weightspace.landscape.entropy import Landscape, s_upper_bound  # noqa: E402
from weightspace.landscape.iso_energy import converged_mean  # noqa: E402

COLORS = {"full": "k", "lb": "tab:blue", "itr": "tab:red", "rb": "tab:green"}
LABELS = {"full": "full", "lb": "LB", "itr": "ITR", "rb": "RB"}


def _color(part: str, i: int) -> str:
    return COLORS.get(part, f"C{i}")


def entropy_figure(
    lands: dict[str, Landscape], path: Path, title: str = "", branch: int = 0
) -> Path:
    """Fig. 5 style: s(d) per part (mean over references along the sweep ``branch``, shaded ± std),
    the upper bound s_ub(d), and an inset of d(x) for both sweep directions."""
    fig, ax = plt.subplots(figsize=(6.0, 4.5))
    dd = np.linspace(0.0, 1.0, 201)
    ax.plot(dd, s_upper_bound(dd), "k--", lw=1, label=r"$s_{ub}(d)$")
    inset = ax.inset_axes([0.36, 0.08, 0.3, 0.3])
    for i, (part, land) in enumerate(lands.items()):
        c = _color(part, i)
        d, s = land.d[:, branch], land.s[:, branch]
        dm, sm, ss = d.mean(0), s.mean(0), s.std(0)
        ax.plot(dm, sm, "-", color=c, lw=1.5, label=LABELS.get(part, part))
        ax.fill_between(dm, sm - ss, sm + ss, color=c, alpha=0.2, lw=0)
        bad = ~land.converged[:, branch].all(0)
        if bad.any():
            ax.plot(dm[bad], sm[bad], "x", color="red", ms=5)
        inset.plot(land.x, land.d[:, 0].mean(0), "-", color=c, lw=1)
        inset.plot(land.x, land.d[:, 1].mean(0), "--", color=c, lw=1)
    inset.set_xlabel("x", fontsize=7)
    inset.set_ylabel("d", fontsize=7)
    inset.tick_params(labelsize=6)
    ax.set_xlabel("d")
    ax.set_ylabel("s(d)")
    ax.set_xlim(0, 1)
    ax.set_ylim(bottom=0)
    ax.set_title(title + ("" if branch == 0 else " (sweep up)"), fontsize=9)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def hysteresis_figure(lands: dict[str, Landscape], path: Path) -> Path:
    """d(x) of every reference, sweep down (solid) and up (dashed), one panel per part."""
    fig, axes = plt.subplots(1, len(lands), figsize=(3.2 * len(lands), 3.0), squeeze=False)
    for i, (ax, (part, land)) in enumerate(zip(axes[0], lands.items())):
        c = _color(part, i)
        for k in range(land.d.shape[0]):
            ax.plot(land.x, land.d[k, 0], "-", color=c, lw=0.7, alpha=0.6)
            ax.plot(land.x, land.d[k, 1], "--", color="gray", lw=0.7, alpha=0.6)
        bad = ~land.converged
        if bad.any():
            kk, rr, tt = np.nonzero(bad)
            ax.plot(land.x[tt], land.d[kk, rr, tt], "x", color="red", ms=4)
        ax.set_title(LABELS.get(part, part))
        ax.set_xlabel("x")
        ax.set_ylabel("d")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def iso_energy_figure(
    normal: Landscape,
    iso_d: np.ndarray,
    iso_s: np.ndarray,
    iso_ok: np.ndarray,
    x: np.ndarray,
    beta: np.ndarray,
    path: Path,
) -> Path:
    """Fig. 7: (a) s(d) with and without the iso-energy constraint, (b) β(x) found by the secant."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.8))
    dd = np.linspace(0, 1, 201)
    a.plot(dd, s_upper_bound(dd), "k--", lw=1, label=r"$s_{ub}$")
    a.plot(normal.d[:, 0].mean(0), normal.s[:, 0].mean(0), "-", label=r"normal ($\beta=1$)")
    a.plot(converged_mean(iso_d[:, 0], iso_ok[:, 0]), converged_mean(iso_s[:, 0], iso_ok[:, 0]), "-",
           label="iso-energy (converged points)")
    bad = ~iso_ok[:, 0]
    if bad.any():  # left out of the means: each unconverged point where it stopped
        a.plot(iso_d[:, 0][bad], iso_s[:, 0][bad], "x", color="red", label="not converged")
    a.set_xlabel("d")
    a.set_ylabel("s")
    a.legend(fontsize=8)
    for r, ls in ((0, "-"), (1, "--")):
        b.plot(x, beta[:, r].mean(0), ls, label=["sweep down", "sweep up"][r])
    b.set_xlabel("x")
    b.set_ylabel(r"$\beta$")
    b.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def tap_figure(free: np.ndarray, converged: np.ndarray, path: Path, title: str = "") -> Path:
    """Fig. 8: histogram of TAP free energies per spin of the converged runs."""
    fig, ax = plt.subplots(figsize=(5, 3.5))
    f = free[converged]
    if f.size:
        span = None if np.ptp(f) > 1e-6 else (f.min() - 5e-4, f.max() + 5e-4)  # one fixed point
        ax.hist(f, bins=50, range=span, density=True, color="tab:blue")
    ax.set_xlabel(r"$f_{TAP}$ (per spin)")
    ax.set_ylabel("density")
    ax.set_title(f"{title} converged {converged.sum()}/{converged.size}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def dynamics_figure(
    flips: np.ndarray, energy: np.ndarray, acc: np.ndarray, path: Path, chance: float
) -> Path:
    """Fig. 9: Ising energy per spin and test accuracy along Metropolis dynamics, mean ± std over
    trials
    (arrays (T, R))."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.5))
    for ax, y, lab in ((a, energy, "Ising energy per spin"), (b, acc, "test accuracy")):
        m, s = y.mean(1), y.std(1)
        ax.plot(flips, m, "-")
        ax.fill_between(flips, m - s, m + s, alpha=0.3, lw=0)
        ax.set_xscale("symlog", linthresh=max(flips[1] if flips.size > 1 else 1, 1))
        ax.set_xlabel("proposed spin flips")
        ax.set_ylabel(lab)
    b.axhline(chance, color="gray", ls=":", label="chance")
    b.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def permutation_figure(curves: dict[str, dict[float, Landscape]], path: Path) -> Path:
    """Fig. 10: s(d) (mean over references, sweep down) per part for each r_ps."""
    fig, axes = plt.subplots(1, len(curves), figsize=(3.4 * len(curves), 3.2), squeeze=False)
    dd = np.linspace(0, 1, 201)
    for ax, (part, by_r) in zip(axes[0], curves.items()):
        ax.plot(dd, s_upper_bound(dd), "k--", lw=1)
        for r, land in by_r.items():
            ax.plot(land.d[:, 0].mean(0), land.s[:, 0].mean(0), "-", label=f"$r_{{ps}}$={r:g}")
        ax.set_title(LABELS.get(part, part))
        ax.set_xlabel("d")
        ax.set_ylabel("s")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
