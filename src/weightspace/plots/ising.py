"""Figures of the fitted effective model (paper Figs. 3, 4, 12)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from . import save_figure


def _upper(a: np.ndarray) -> np.ndarray:
    return a[np.triu_indices_from(a, 1)]


def fit_figures(fitted: dict[str, tuple[dict, slice]], src: Any, out: Path, method: str) -> list[Path]:
    """Fig. 3(a)/4: J and h histograms of the main part; 3(b): model vs data moments; 3(d): J per part."""
    tag = "fig3" if method != "pseudolikelihood" else "fig4"
    main = "full" if "full" in fitted else next(iter(fitted))
    r, sl = fitted[main]
    paths = []
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.5))
    a.hist(_upper(r["J"]), bins=100, color="C0")
    a.set(xlabel="$J_{ij}$", ylabel="count", yscale="log", title=f"couplings ({main}, {method})")
    b.hist(r["h"], bins=50, color="C1")
    b.set(xlabel="$h_i$", ylabel="count", title="fields")
    paths.append(save_figure(fig, out / f"{tag}a_parameters_{main}.png"))

    m_d, C_d = src.moments.m[sl], src.moments.C[sl, sl]
    cols = [("BP (fresh start)", r["m_bp"], r["C_bp"])]
    if "m_mc" in r:
        cols.append(("Monte Carlo", r["m_mc"], r["C_mc"]))
    fig, axes = plt.subplots(2, len(cols), figsize=(4.2 * len(cols), 7.5), squeeze=False)
    for k, (label, m_m, C_m) in enumerate(cols):
        for row, (d, mm, name) in enumerate([(m_d, m_m, "m_i"), (_upper(C_d), _upper(C_m), "C_{ij}")]):
            ax = axes[row, k]
            ax.plot(d, mm, ".", ms=1.5, alpha=0.4)
            lim = [min(d.min(), mm.min()), max(d.max(), mm.max())]
            ax.plot(lim, lim, "k--", lw=0.8)
            ax.set(xlabel=f"${name}$ data", ylabel=f"${name}$ model", title=f"{label} ({main})")
    paths.append(save_figure(fig, out / f"{tag}b_moments_{main}.png"))

    if len(fitted) > 1:
        fig, ax = plt.subplots(figsize=(5.5, 3.8))
        for name, (rp, _) in fitted.items():
            ax.hist(_upper(rp["J"]), bins=100, histtype="step", density=True, label=name)
        ax.set(xlabel="$J_{ij}$", ylabel="density", yscale="log", title=f"couplings per part ({method})")
        ax.legend()
        paths.append(save_figure(fig, out / f"{tag}d_couplings_per_part.png"))
    return paths


def energy_vs_accuracy(energy: np.ndarray, acc: np.ndarray, path: Path) -> Path:
    """Fig. 3(c): Ising energy density of ensemble configurations vs their test accuracy."""
    fig, ax = plt.subplots(figsize=(5, 3.8))
    hb = ax.hexbin(acc, energy, gridsize=40, mincnt=1, cmap="viridis")
    fig.colorbar(hb, ax=ax, label="configurations")
    ax.set(xlabel="test accuracy", ylabel="energy density $E/N$", title="ensemble under the fitted model")
    return save_figure(fig, path)


def three_spin_figure(cmp: Any, path: Path) -> Path:
    """Fig. 12: fraction of three-spin correlations predicted within eps of the data."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.6))
    for kind, frac in cmp.fractions.items():
        a.plot(cmp.eps, frac, label=kind)
    a.axvline(0.015, color="k", ls=":", lw=0.8)
    a.plot([0.015], [0.82], "k*", label="paper (raw)")
    a.legend()
    a.set(xlabel=r"$\epsilon$", ylabel="fraction within $\\epsilon$", title="three-spin correlations")
    d, m = np.asarray(cmp.data), np.asarray(cmp.model)
    b.plot(d, m, ".", ms=1, alpha=0.3)
    lim = [min(d.min(), m.min()), max(d.max(), m.max())]
    b.plot(lim, lim, "k--", lw=0.8)
    b.set(xlabel="data", ylabel="model (MC)", title=f"{cmp.kind}, {len(cmp.spins)} random spins")
    return save_figure(fig, path)


def fit_trace(results: dict[str, dict], path: Path) -> Path:
    """Learning trace per part: (left) Δ of the moments learning used (warm BP, then MC for
    method=mc) and the best fresh-start delta_bp so far, against the step; (right) that best
    delta_bp relative to the start's (parts whose start is not already exact)."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    for k, (name, r) in enumerate(results.items()):
        a.plot(np.arange(1, len(r["trace"]) + 1), r["trace"], color=f"C{k}", lw=0.8, alpha=0.5,
               label=f"{name}: Δ of learning's moments")
        if "trace_bp" in r:
            bp = np.asarray(r["trace_bp"])
            steps = np.arange(1, len(bp) + 1)
            a.plot(steps, bp, color=f"C{k}", lw=1.8, label=f"{name}: best delta_bp")
            start = r.get("delta_bp_start", bp[0])
            if start > 1e-4:
                b.plot(np.r_[0, steps], np.r_[1.0, bp / start], color=f"C{k}", lw=1.8,
                       label=f"{name} (start {start:.4f})")
    a.axhline(0.01, color="k", ls=":", lw=0.8)
    a.set(xlabel="learning step", ylabel=r"$\Delta$", yscale="log", title="Boltzmann learning (Eq. 5)")
    a.legend(fontsize=7)
    b.set(xlabel="learning step", ylabel="best delta_bp / start", title="progress on the start")
    if b.lines:
        b.legend(fontsize=7)
    return save_figure(fig, path)


def sparsity_path_figure(paths: list, path: Path, paper: float = 0.735) -> Path:
    """Pseudolikelihood sparsity vs lambda (all configurations) and vs M (at the fit's lambda), one
    line per penalty (plain / standardised as l1_logreg -s); the paper's 73.5% (lambda 0.05, M 1e5)."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.6))
    for p in paths:
        label = "standardised (-s)" if p.standardize else "plain"
        a.plot(p.lams, p.by_lam, "o-", label=label)
        b.plot(p.sizes, p.by_m, "o-", label=f"{label}, $\\lambda$ = {p.lam:g}")
    for ax in (a, b):
        ax.axhline(paper, color="k", ls=":", lw=0.8, label="paper (M = 1e5)")
        ax.set_ylabel("zero couplings")
        ax.legend(fontsize=7)
    a.set(xlabel=r"$\lambda$ (fraction of $\lambda_{max}$)", xscale="log", title="lambda path")
    b.set(xlabel="configurations M", xscale="log", title="sparsity vs M")
    return save_figure(fig, path)
