"""Figures of the function-space analysis (Li & Saad 2018, Fig. 2) and of its checks."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .maxent import MaxEntCurve  # noqa: E402
from .trained import Sensitivity  # noqa: E402


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_maxent(continuous: MaxEntCurve, binary: MaxEntCurve, path: Path) -> Path:
    """Fig. 2(a)(b): eta*_l and p*_l versus eps, insets S_0(eps)."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, curve, name, label in (
        (axes[0], continuous, "continuous", r"$\eta^*_l$"),
        (axes[1], binary, "binary", r"$p^*_l$"),
    ):
        for layer in range(curve.profiles.shape[1]):
            ax.plot(curve.eps, curve.profiles[:, layer], label=f"l = {layer + 1}")
        ax.set_xlabel(r"output error $\varepsilon$")
        ax.set_ylabel(label)
        ax.set_title(f"max-entropy perturbation, {name} weights (L = {curve.profiles.shape[1]})")
        ax.legend(loc="center left", fontsize=8)
        inset = ax.inset_axes([0.1, 0.58, 0.32, 0.32])
        inset.plot(curve.eps, curve.entropy, color="k")
        inset.set_xlabel(r"$\varepsilon$", fontsize=7)
        inset.set_ylabel(r"$S_0$", fontsize=7)
        inset.tick_params(labelsize=6)
        if curve.n_unconverged:
            ax.text(
                0.02,
                0.02,
                f"{curve.n_unconverged} unconverged searches",
                color="red",
                transform=ax.transAxes,
                fontsize=8,
            )
    return _save(fig, path)


def plot_generalization(alphas: np.ndarray, eps_star: np.ndarray, path: Path) -> Path:
    """Fig. 2(c): annealed eps*(alpha); inset alpha eps*(alpha) -> const (eps* ~ 1/alpha)."""
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.semilogx(alphas, eps_star, "o-", ms=3)
    ax.set_xlabel(r"$\alpha$")
    ax.set_ylabel(r"$\varepsilon^*(\alpha)$")
    ax.set_title("annealed generalisation, continuous weights")
    inset = ax.inset_axes([0.5, 0.5, 0.45, 0.4])
    inset.loglog(alphas, eps_star, "o", ms=2)
    inset.loglog(alphas, alphas * eps_star, "-", lw=1, label=r"$\alpha\varepsilon^*$")
    inset.legend(fontsize=6)
    inset.tick_params(labelsize=6)
    return _save(fig, path)


def plot_majk(
    p: np.ndarray,
    m_inf: np.ndarray,
    eps: np.ndarray,
    p_c: float,
    traj_p: np.ndarray,
    traj_m: np.ndarray,
    traj_q: np.ndarray,
    k: int,
    path: Path,
) -> Path:
    """Fig. 2(d)-(f): stationary m and eps vs p; m^l and delta(l) = (1 - q^l)/2 over layers."""
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    axes[0].plot(p, m_inf, label=r"$m^\infty$")
    axes[0].plot(p, eps, label=r"$\varepsilon$")
    axes[0].axvline(p_c, color="gray", ls="--", label=rf"$p_c$ = {p_c:.4f}")
    axes[0].set_xlabel("flip probability p")
    axes[0].set_title(f"sparse MAJ-{k}: stationary state")
    axes[0].legend(fontsize=8)
    layers = np.arange(traj_m.shape[-1])
    for i, pv in enumerate(traj_p):
        axes[1].plot(layers, traj_m[i], label=f"p = {pv:g}")
        axes[2].plot(layers, 0.5 * (1.0 - traj_q[i]), label=f"p = {pv:g}")
    axes[1].set_ylabel(r"$m^l$")
    axes[2].set_ylabel(r"$\delta(l)$")
    for ax in axes[1:]:
        ax.set_xlabel("layer l")
        ax.legend(fontsize=8)
    return _save(fig, path)


def plot_simulation(rows: Sequence[dict], path: Path) -> Path:
    """Simulated q^l (points, s.e.m. bars) against theory (lines), one panel per family."""
    families = sorted({r["family"] for r in rows})
    fig, axes = plt.subplots(1, len(families), figsize=(5 * len(families), 4), squeeze=False)
    for ax, fam in zip(axes[0], families, strict=True):
        for r in (r for r in rows if r["family"] == fam):
            layers = np.arange(len(r["theory"]))
            line = ax.plot(layers, r["theory"], "-", lw=1)[0]
            ax.errorbar(layers, r["sim"], yerr=r["sem"], fmt="o", ms=3, color=line.get_color(), label=r["label"])
        ax.set_xlabel("layer l")
        ax.set_ylabel(r"overlap $q^l$")
        dev = max(float(np.max(np.abs(r["sim"] - r["theory"]))) for r in rows if r["family"] == fam)
        ax.set_title(f"{fam}: max |sim - theory| = {dev:.4f}")
        ax.legend(fontsize=7)
    return _save(fig, path)


def plot_sensitivity(sens: Sensitivity, path: Path) -> Path:
    """Trained nets: output disagreement eps and accuracy drop versus flip fraction, per layer."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for i, target in enumerate(sens.targets):
        axes[0].errorbar(sens.p, sens.eps[i], yerr=sens.eps_sem[i], marker="o", ms=3, label=target)
        axes[1].errorbar(sens.p, sens.acc_drop[i], yerr=sens.acc_drop_sem[i], marker="o", ms=3, label=target)
    axes[0].set_ylabel(r"output disagreement $\varepsilon$")
    axes[1].set_ylabel("test-accuracy drop")
    for ax in axes:
        ax.set_xlabel("fraction of flipped weights p")
        ax.legend(fontsize=8)
    axes[0].set_title(f"{len(sens.acc_ref)} trained nets, mean ref. acc {sens.acc_ref.mean():.3f}")
    return _save(fig, path)
