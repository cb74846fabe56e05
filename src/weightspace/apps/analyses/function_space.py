"""Function-space landscape analysis (Li & Saad 2018; docs/design.md §3.7): ``run(acfg, out_dir, loggers)``.

Sections: maximal-entropy profiles and the annealed generalisation curve (Fig. 2a-c), the sparse
MAJ-k transition (Fig. 2d-f), finite-size simulations against the recursions, and the flip
sensitivity of trained binary nets (skipped when ``acfg.configs`` is null). All theory is in
the deterministic limit beta -> inf except the dense recursions and simulations, which use
``acfg.beta`` (null = deterministic).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig
from tqdm import tqdm

from ...ensemble.configs import load_configs
from ...function_space import plots
from ...function_space.majk import majk_phase_diagram
from ...function_space.maxent import (
    MaxEntCurve,
    alignment_thresholds,
    generalization_curve,
    max_entropy_curve,
    max_entropy_profile,
)
from ...function_space.recursions import binary_overlaps, continuous_overlaps, majk_trajectory
from ...function_space.simulate import simulate_dense, simulate_majk
from ...function_space.trained import check_configs, layer_sensitivity
from ..tracking import log_figure, log_metrics, log_table

log = logging.getLogger(__name__)


def eps_grid(ecfg: DictConfig) -> np.ndarray:
    """Output errors: ``n_log`` log-spaced in [min, max] plus ``n_lin`` linear in [lin_min, max]."""
    lo, hi = float(ecfg.min), float(ecfg.max)
    if not 0.0 < lo < hi < 0.5:
        raise ValueError(f"epsilons: need 0 < min={lo} < max={hi} < 0.5")
    grid = np.concatenate(
        [np.geomspace(lo, hi, int(ecfg.n_log)), np.linspace(float(ecfg.lin_min), hi, int(ecfg.n_lin))]
    )
    return np.unique(grid)


def _search(acfg: DictConfig) -> dict[str, Any]:
    s = acfg.search
    return {
        "n_grid": int(s.n_grid),
        "n_starts": int(s.n_starts),
        "tol": float(s.tol),
        "max_iter": int(s.max_iter),
        "seed": int(acfg.seed),
    }


def maxent_section(acfg: DictConfig, out_dir: Path, loggers: list) -> tuple[dict, dict, list]:
    """Fig. 2(a)-(c): profiles, entropies, layer alignment thresholds, eps*(alpha)."""
    n_layers, grid = int(acfg.L), eps_grid(acfg.epsilons)
    curves: dict[str, MaxEntCurve] = {}
    for kind in ("continuous", "binary"):
        start = time.time()
        curves[kind] = max_entropy_curve(grid, kind, n_layers, **_search(acfg))
        log.info("max-entropy %s profiles: %d errors in %.1f s", kind, len(grid), time.time() - start)
    cont, binr = curves["continuous"], curves["binary"]
    thresholds = alignment_thresholds(binr)
    alphas = np.geomspace(float(acfg.alphas.min), float(acfg.alphas.max), int(acfg.alphas.n))
    eps_star = generalization_curve(cont, alphas)
    ok = np.isfinite(eps_star)
    ordered = bool(np.all(np.diff(cont.profiles, axis=1) > 0.0))
    metrics = {
        "maxent_continuous_eta_increasing_with_layer": float(ordered),
        "maxent_unconverged_searches": float(cont.n_unconverged + binr.n_unconverged),
    }
    for layer, thr in enumerate(thresholds):
        metrics[f"maxent_binary_align_eps_layer{layer + 1}"] = float(thr)
    if ok.sum() >= 2:
        top = np.nonzero(ok)[0][-2:]
        metrics["gen_alpha_eps_star_max_alpha"] = float(alphas[top[1]] * eps_star[top[1]])
        metrics["gen_alpha_eps_star_ratio_last_two"] = float(
            (alphas[top[1]] * eps_star[top[1]]) / (alphas[top[0]] * eps_star[top[0]])
        )
    arrays = {
        "eps": grid,
        "eta_star": cont.profiles,
        "p_star": binr.profiles,
        "entropy_continuous": cont.entropy,
        "entropy_binary": binr.entropy,
        "q_star_continuous": cont.q,
        "q_star_binary": binr.q,
        "binary_align_eps": thresholds,
        "alphas": alphas,
        "eps_star": eps_star,
    }
    rows = [
        {
            "kind": kind,
            "eps": float(e),
            "entropy": float(c.entropy[i]),
            **{f"layer{j + 1}": float(c.profiles[i, j]) for j in range(n_layers)},
        }
        for kind, c in curves.items()
        for i, e in enumerate(c.eps)
    ]
    log_table(loggers, "function_space/maxent", rows, out_dir / "function_space_maxent.csv")
    figs = [
        ("function_space/fig2ab_maxent", plots.plot_maxent(cont, binr, out_dir / "fig2ab_maxent.png")),
        (
            "function_space/fig2c_generalization",
            plots.plot_generalization(alphas[ok], eps_star[ok], out_dir / "fig2c_generalization.png"),
        ),
    ]
    return arrays, metrics, figs


def majk_section(acfg: DictConfig, out_dir: Path) -> tuple[dict, dict, list]:
    """Fig. 2(d)-(f): stationary m^inf, eps(p), p_c; layer-wise m^l and delta(l)."""
    mc = acfg.majk
    k = int(mc.k)
    p = np.linspace(float(mc.p.min), float(mc.p.max), int(mc.p.n))
    phase = majk_phase_diagram(p, k)
    traj_p = np.asarray(list(mc.p_layers), dtype=float)
    traj = majk_trajectory(traj_p, k, int(mc.layers), float(mc.m0))
    metrics = {"majk_p_c": phase.p_c, "majk_unconverged_overlaps": float(phase.n_unconverged)}
    arrays = {
        "majk_p": p,
        "majk_m_inf": phase.m_inf,
        "majk_q_inf": phase.q_inf,
        "majk_eps": phase.eps,
        "majk_p_c": np.float64(phase.p_c),
        "majk_traj_p": traj_p,
        "majk_traj_m": traj["m"],
        "majk_traj_m_hat": traj["m_hat"],
        "majk_traj_q": traj["q"],
    }
    fig = plots.plot_majk(
        p, phase.m_inf, phase.eps, phase.p_c, traj_p, traj["m"], traj["q"], k, out_dir / "fig2def_majk.png"
    )
    return arrays, metrics, [("function_space/fig2def_majk", fig)]


def _dense_profiles(acfg: DictConfig) -> list[tuple[str, str, np.ndarray]]:
    """(family, label, per-layer strengths) to simulate: configured ones and max-entropy ones."""
    sc, n_layers = acfg.simulate, int(acfg.L)
    out = []
    for kind, fam, key in (("continuous", "dense continuous", "eta"), ("binary", "dense binary", "p")):
        for prof in sc[key]:
            prof = np.asarray(list(prof), dtype=float)
            if prof.shape != (n_layers,):
                raise ValueError(f"simulate.{key}: profile {prof.tolist()} must have L={n_layers} entries")
            out.append((fam, f"{key}={np.round(prof, 3).tolist()}", prof))
        for e in sc.maxent_eps:
            prof = max_entropy_profile(float(e), kind, n_layers, **_search(acfg)).profile
            out.append((fam, f"max-ent eps={float(e):g}", prof))
    return out


def simulation_section(acfg: DictConfig, out_dir: Path, loggers: list) -> tuple[dict, dict, list]:
    """Finite-N simulations against Eqs. 6/8/11 (dense) and 13-14 (sparse MAJ-k)."""
    sc = acfg.simulate
    beta = None if acfg.beta is None else float(acfg.beta)
    n, n_in, n_s = int(sc.N), int(sc.inputs), int(sc.samples)
    rows = []
    jobs = _dense_profiles(acfg)
    for i, (fam, label, prof) in enumerate(tqdm(jobs, desc="dense simulations")):
        kind = "gaussian" if fam == "dense continuous" else "binary"
        theory = (continuous_overlaps if kind == "gaussian" else binary_overlaps)(prof, beta=beta)
        sim = simulate_dense(kind, prof, n, n_in, n_s, seed=int(acfg.seed) + i, beta=beta, backend=str(acfg.backend))
        rows.append({"family": fam, "label": label, "theory": theory, "sim": sim["q"], "sem": sim["q_sem"]})
    majk_dev = 0.0
    for i, pv in enumerate(tqdm(list(sc.majk_p), desc="MAJ-k simulations")):
        theory = majk_trajectory(np.float64(pv), int(acfg.majk.k), int(acfg.L), float(sc.majk_m0))
        sim = simulate_majk(
            float(pv),
            int(acfg.majk.k),
            n,
            int(acfg.L),
            float(sc.majk_m0),
            int(sc.majk_inputs),
            int(sc.majk_samples),
            seed=int(acfg.seed) + 1000 + i,
            backend=str(acfg.backend),
        )
        majk_dev = max(majk_dev, *(float(np.max(np.abs(sim[key] - theory[key]))) for key in ("m_hat", "m", "q")))
        rows.append(
            {
                "family": f"sparse MAJ-{int(acfg.majk.k)}",
                "label": f"p={float(pv):g}",
                "theory": theory["q"],
                "sim": sim["q"],
                "sem": sim["q_sem"],
            }
        )
    metrics = {}
    for fam in sorted({r["family"] for r in rows}):
        key = "sim_max_dev_" + fam.replace(" ", "_").replace("-", "").lower()
        metrics[key] = max(float(np.max(np.abs(r["sim"] - r["theory"]))) for r in rows if r["family"] == fam)
    metrics["sim_max_dev_majk_all_observables"] = majk_dev
    table = [
        {
            "family": r["family"],
            "profile": r["label"],
            "layer": layer,
            "theory": float(r["theory"][layer]),
            "simulation": float(r["sim"][layer]),
            "sem": float(r["sem"][layer]),
            "N": n,
        }
        for r in rows
        for layer in range(len(r["theory"]))
    ]
    log_table(loggers, "function_space/simulation", table, out_dir / "function_space_simulation.csv")
    arrays = {
        "sim_family": np.array([r["family"] for r in rows]),
        "sim_label": np.array([r["label"] for r in rows]),
        "sim_theory": np.stack([r["theory"] for r in rows]),
        "sim_q": np.stack([r["sim"] for r in rows]),
        "sim_sem": np.stack([r["sem"] for r in rows]),
    }
    fig = plots.plot_simulation(rows, out_dir / "simulation_vs_theory.png")
    return arrays, metrics, [("function_space/simulation_vs_theory", fig)]


def load_test_data(acfg: DictConfig) -> tuple[np.ndarray, np.ndarray]:
    """Test inputs and labels of the dataset named by ``acfg.dataset`` (see ``conf/dataset/``)."""
    from ...data import load_dataset

    data = load_dataset(acfg.dataset)
    return data.x_test, data.y_test


def trained_section(acfg: DictConfig, out_dir: Path, loggers: list) -> tuple[dict, dict, list]:
    """Flip sensitivity of trained binary nets, per layer (skipped when ``acfg.configs`` is null)."""
    if acfg.configs is None:
        log.info(
            "function_space: trained-network sensitivity skipped (analysis.function_space.configs "
            "is null; point it at a .npy of +-1 configurations to run it)"
        )
        return {}, {}, []
    tc = acfg.trained
    configs, widths = load_configs(str(acfg.configs), list(acfg.widths or []), int(tc.max_nets),
                                   option="analysis.function_space.configs")
    configs = check_configs(configs, widths, str(acfg.configs))
    x, y = load_test_data(acfg)
    if x.shape[1] != widths[0]:
        raise ValueError(
            f"analysis.function_space.widths[0]={widths[0]} but the test inputs have "
            f"{x.shape[1]} features; fix widths or dataset"
        )
    sens = layer_sensitivity(
        np.asarray(configs), widths, x, y, list(tc.p), int(tc.draws), int(tc.chunk), int(acfg.seed), str(acfg.backend)
    )
    j = int(np.argmin(np.abs(sens.p - float(tc.p_report))))
    metrics = {"trained_acc_ref_mean": float(sens.acc_ref.mean())}
    for i, target in enumerate(sens.targets):
        metrics[f"trained_eps_{target}_p{sens.p[j]:g}"] = float(sens.eps[i, j])
        metrics[f"trained_acc_drop_{target}_p{sens.p[j]:g}"] = float(sens.acc_drop[i, j])
    rows = [
        {
            "target": t,
            "p": float(pv),
            "eps": float(sens.eps[i, k]),
            "eps_sem": float(sens.eps_sem[i, k]),
            "acc_drop": float(sens.acc_drop[i, k]),
            "acc_drop_sem": float(sens.acc_drop_sem[i, k]),
        }
        for i, t in enumerate(sens.targets)
        for k, pv in enumerate(sens.p)
    ]
    log_table(loggers, "function_space/trained", rows, out_dir / "function_space_trained.csv")
    arrays = {
        "trained_targets": np.array(sens.targets),
        "trained_p": sens.p,
        "trained_eps": sens.eps,
        "trained_eps_sem": sens.eps_sem,
        "trained_acc_drop": sens.acc_drop,
        "trained_acc_drop_sem": sens.acc_drop_sem,
        "trained_acc_ref": sens.acc_ref,
    }
    fig = plots.plot_sensitivity(sens, out_dir / "trained_sensitivity.png")
    return arrays, metrics, [("function_space/trained_sensitivity", fig)]


def run(acfg: DictConfig, out_dir: Path, loggers: list) -> dict[str, float]:
    """Run every section that ``acfg`` enables; write PNGs, CSVs and ``function_space.npz``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sections = {
        "maxent": lambda: maxent_section(acfg, out_dir, loggers),
        "majk": lambda: majk_section(acfg, out_dir),
        "simulate": lambda: simulation_section(acfg, out_dir, loggers),
        "trained": lambda: trained_section(acfg, out_dir, loggers),
    }
    unknown = set(acfg.sections) - set(sections)
    if unknown:
        raise ValueError(f"analysis.function_space.sections: unknown {sorted(unknown)}; choose from {list(sections)}")
    arrays: dict[str, Any] = {}
    metrics: dict[str, float] = {}
    for name in acfg.sections:
        start = time.time()
        a, m, figs = sections[name]()
        arrays |= a
        metrics |= m
        for key, path in figs:
            log_figure(loggers, key, path)
        log.info("function_space section %s done in %.1f s", name, time.time() - start)
    np.savez(out_dir / "function_space.npz", **arrays)
    log_metrics(loggers, metrics)
    return metrics
