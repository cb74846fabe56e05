"""``landscape.py analysis=layer_overlap``: Yoshino's layer-wise order (docs/design.md §3.8).

Runs the solution-space MC for every alpha of the chosen scenario (random I/O or
teacher-student, optionally with a bond-masked teacher-student run for comparison with
matching), measures q_J(l), q_S(l) (replica-replica and student-teacher, raw and matched), and
optionally the same layer-wise overlap on a collected ensemble (``configs`` + ``widths``).
Writes PNG, npz and CSV into out_dir, logs them, returns headline numbers.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from ...backend import get_xp
from ...ensemble.configs import load_configs
from ...overlaps.gardner import gardner_capacity, gardner_q
from ...overlaps.order import ensemble_layer_overlap, replica_overlaps, teacher_overlaps
from ...overlaps.plots import plot_profiles, plot_relaxation, plot_vs_alpha
from ...overlaps.scenarios import bond_mask, n_patterns, random_patterns, random_teacher, teacher_patterns
from ...overlaps.solution_mc import MCResult, check_options, run_solution_mc
from ..tracking import log_figure, log_metrics, log_table

log = logging.getLogger(__name__)
SCENARIOS = ("random", "teacher", "none")


def late_profile(q: np.ndarray, times: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Average q [T, S, K] over snapshots in the second half of the sampling window, then
    mean and std over the samples that have a value; returns (mean [K], std [K], n_samples)."""
    late = q[times >= times[-1] / 2].mean(0)  # [S, K]
    ok = ~np.isnan(late).any(axis=1)
    if not ok.any():
        return np.full(q.shape[-1], np.nan), np.full(q.shape[-1], np.nan), 0
    return late[ok].mean(0), late[ok].std(0), int(ok.sum())


def _check(acfg: DictConfig) -> None:
    if acfg.scenario not in SCENARIOS:
        raise ValueError(f"layer_overlap.scenario={acfg.scenario!r}: choose one of {SCENARIOS}")
    check_options(acfg.weights, acfg.energy, float(acfg.delta))
    if acfg.scenario != "none" and (int(acfg.L) < 1 or int(acfg.N) < 2 or not acfg.alphas):
        raise ValueError("layer_overlap: need L >= 1, N >= 2 and a non-empty alphas list")
    if acfg.scenario == "none" and not acfg.configs:
        raise ValueError("layer_overlap.scenario=none needs configs=<path to ensemble .npy>")


def _mc(acfg: DictConfig, xp: Any, x: np.ndarray, y: np.ndarray, seed: int,
        mask: np.ndarray | None = None) -> MCResult:
    return run_solution_mc(
        xp.asarray(x), xp.asarray(y), int(acfg.L), n_replicas=int(acfg.replicas),
        weights=acfg.weights, delta=float(acfg.delta), energy=acfg.energy,
        protocol=acfg.protocol, mask=mask, beta_start=float(acfg.beta_start),
        beta_end=float(acfg.beta_end), anneal_sweeps=int(acfg.anneal_sweeps),
        max_sweeps=int(acfg.max_sweeps), sample_sweeps=int(acfg.sample_sweeps),
        n_snapshots=int(acfg.snapshots), angle=float(acfg.angle), seed=seed,
        progress=bool(acfg.progress))


def _measure(res: MCResult, match: bool, teacher: tuple[np.ndarray, np.ndarray] | None
             ) -> dict[str, dict[str, np.ndarray]]:
    """Overlap sets {kind: {q_J, q_S}} of one MC run: replica raw/matched, teacher raw/matched."""
    out = {"replica_raw": replica_overlaps(res.J, res.reps, res.solved, match=False)}
    if match:
        out["replica_matched"] = replica_overlaps(res.J, res.reps, res.solved, match=True)
    if teacher is not None:
        out["teacher_raw"] = teacher_overlaps(res.J, res.reps, res.solved, *teacher, match=False)
        if match:
            out["teacher_matched"] = teacher_overlaps(res.J, res.reps, res.solved, *teacher,
                                                      match=True)
    return out


def _run_alpha(acfg: DictConfig, xp: Any, alpha: float, k: int) -> dict[str, Any]:
    """MC + overlaps at one alpha; returns {"runs": {name: (MCResult, overlaps)}}."""
    L, N, S = int(acfg.L), int(acfg.N), int(acfg.samples)
    M = n_patterns(alpha, N)
    seed = int(acfg.seed) + 1000 * k
    runs = {}
    if acfg.scenario == "random":
        x, y = random_patterns(S, M, N, seed)
        res = _mc(acfg, xp, x, y, seed)
        runs["plain"] = (res, _measure(res, bool(acfg.match), None))
    else:
        Jt = random_teacher(S, L, N, acfg.weights, seed)
        x, St = teacher_patterns(Jt, M, seed + 1)
        res = _mc(acfg, xp, x, St[:, L], seed)
        runs["plain"] = (res, _measure(res, bool(acfg.match), (Jt, St[:, 1:L])))
        if float(acfg.mask_fraction) > 0:
            mask = bond_mask(S, L, N, float(acfg.mask_fraction), seed + 2)
            Jm = random_teacher(S, L, N, acfg.weights, seed + 3, mask=mask)
            xm, Sm = teacher_patterns(Jm, M, seed + 4)
            resm = _mc(acfg, xp, xm, Sm[:, L], seed + 5, mask=mask)
            runs["masked"] = (resm, _measure(resm, bool(acfg.match), (Jm, Sm[:, 1:L])))
    return runs


def run(acfg: DictConfig, out_dir: Path, loggers: list) -> dict[str, float]:
    """Run the layer-overlap analysis described by ``acfg``; returns headline numbers."""
    _check(acfg)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    xp = get_xp(acfg.backend)
    rows: list[dict[str, Any]] = []
    headline: dict[str, float] = {}
    profiles: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
    notes: list[str] = []
    l1_curve: list[tuple[float, float, float]] = []
    t0 = time.perf_counter()
    alphas = [float(a) for a in acfg.alphas] if acfg.scenario != "none" else []
    for k, alpha in enumerate(alphas):
        for run_name, (res, ovs) in _run_alpha(acfg, xp, alpha, k).items():
            tag = f"alpha{alpha:g}" + ("" if run_name == "plain" else f"_{run_name}")
            frac = float(res.solved.mean())
            headline[f"layer_overlap/{tag}/solved_frac"] = frac
            headline[f"layer_overlap/{tag}/runtime_s"] = res.stats["runtime_s"]
            notes.append(f"{tag}: solved {res.solved.sum()}/{res.solved.size}, "
                         f"lost {int(res.stats['n_lost'])}")
            log.info("layer_overlap %s: solved %.2f in %.1f s (%s)", tag, frac,
                     res.stats["runtime_s"], res.stats)
            arrays = {"times": res.times, "solved": res.solved,
                      "sweeps_to_solve": res.sweeps_to_solve,
                      "final_violations": res.final_violations}
            for kind, ov in ovs.items():
                for qname in ("q_J", "q_S"):
                    arrays[f"{kind}_{qname}"] = ov[qname]
                    mean, std, n_ok = late_profile(ov[qname], res.times)
                    profiles.setdefault(f"{kind}_{qname}", {})[tag] = (mean, std)
                    for l, (m, s) in enumerate(zip(mean, std, strict=True)):
                        rows.append({"scenario": acfg.scenario, "alpha": alpha, "run": run_name,
                                     "kind": kind, "quantity": qname, "layer": l + 1,
                                     "mean": m, "std": s, "n_samples": n_ok,
                                     "solved_frac": frac})
                        if qname == "q_J":
                            headline[f"layer_overlap/{tag}/{kind}/q_J_l{l + 1}"] = float(m)
                    if qname == "q_J" and kind.startswith("replica") and int(acfg.L) == 1:
                        l1_curve.append((alpha, float(mean[0]), float(std[0])))
            np.savez(out_dir / f"layer_overlap_{tag}.npz", **arrays)
            main = "replica_matched" if bool(acfg.match) and int(acfg.L) > 1 else "replica_raw"
            q_t = np.nanmean(ovs[main]["q_J"], axis=1)
            fig = plot_relaxation(res.times, q_t, out_dir / f"relaxation_{tag}.png",
                                  title=f"{acfg.scenario} {acfg.protocol} {tag}: {main}")
            log_figure(loggers, f"layer_overlap/relaxation_{tag}", fig)
    for name, prof in profiles.items():
        if not prof or not len(next(iter(prof.values()))[0]):
            continue
        fig = plot_profiles(prof, out_dir / f"profile_{name}.png", ylabel=name.split("_", 2)[-1],
                            title=f"{acfg.scenario} L={acfg.L} N={acfg.N} {acfg.weights}: {name}",
                            note="\n".join(notes))
        log_figure(loggers, f"layer_overlap/profile_{name}", fig)
    if l1_curve and acfg.weights == "continuous":
        a, m, s = (np.array(v) for v in zip(*l1_curve, strict=True))
        kappa = float(acfg.delta)
        th = np.array([gardner_q(x, kappa) if x < gardner_capacity(kappa) else np.nan for x in a])
        fig = plot_vs_alpha(a, m, s, th, out_dir / "perceptron_q_vs_alpha.png",
                            title=f"L=1 N={acfg.N} Delta={kappa:g}")
        log_figure(loggers, "layer_overlap/perceptron_q_vs_alpha", fig)
    if acfg.configs:
        headline.update(_ensemble(acfg, out_dir, loggers, rows))
    headline["layer_overlap/runtime_s"] = time.perf_counter() - t0
    log_table(loggers, "layer_overlap/profiles", rows, out_dir / "layer_overlap.csv")
    log_metrics(loggers, headline)
    return headline


def _ensemble(acfg: DictConfig, out_dir: Path, loggers: list, rows: list) -> dict[str, float]:
    """Layer-wise overlap of pairs of collected configurations, raw and matched."""
    configs, widths = load_configs(str(acfg.configs), list(acfg.widths or []), option="layer_overlap.configs")
    res = ensemble_layer_overlap(configs, widths, n_pairs=int(acfg.ensemble_pairs),
                                 signed=bool(acfg.ensemble_signed), seed=int(acfg.seed))
    np.savez(out_dir / "ensemble_layer_overlap.npz", **res)
    prof = {"raw": (res["raw_mean"], res["raw_std"]),
            "matched": (res["matched_mean"], res["matched_std"])}
    fig = plot_profiles(prof, out_dir / "profile_ensemble.png", ylabel="q(l)",
                        title=f"ensemble {widths}: {int(res['n_pairs'])} pairs (mean +- std)")
    log_figure(loggers, "layer_overlap/profile_ensemble", fig)
    out = {}
    for kind in ("raw", "matched"):
        for l, (m, s) in enumerate(zip(res[f"{kind}_mean"], res[f"{kind}_std"], strict=True)):
            rows.append({"scenario": "ensemble", "alpha": float("nan"), "run": "ensemble",
                         "kind": kind, "quantity": "q_W", "layer": l + 1, "mean": m, "std": s,
                         "n_samples": int(res["n_pairs"]), "solved_frac": float("nan")})
            out[f"layer_overlap/ensemble/{kind}/q_l{l + 1}"] = float(m)
    return out
