"""Hysteresis-loop size of an effective model's entropy landscape vs ensemble size M (issue 18).

For each M of ``--m`` and each of ``--reps`` replicates: draw M configurations of the store without
replacement, fit the Ising model with ``fit_ising.py``'s BP Boltzmann learning (``method=bethe``,
settings composed from conf/fit_ising.yaml plus ``--fit`` overrides), draw ``references.count``
low-energy references from the subsample (energy quantiles 0-0.10 under that fit, as
``landscape.py`` does), sweep x from +3 to -3 and back by BP (conf/analysis/entropy.yaml plus
``--landscape`` overrides) and record the hysteresis summary. Then fit L(M) = a + b ln M and
L(M) = a - b/M to the loop sizes (max and mean over references), bootstrap over replicates, and
report the M at which each law crosses ``--level`` and its loop at ``--m-target`` (the paper's
500 000); see ``weightspace.experiments.loop_vs_m``.

    PYTHONPATH=src .venv/bin/python scripts/loop_vs_m.py outputs/ensembles/shallow_shallow_20_10 \
        --m 1000 2000 4000 8000 16000 --reps 3 --out outputs/loop_vs_m/shallow

Writes ``<out>/replicates.csv`` (one row per (M, replicate); a rerun skips rows already there),
``<out>/summary.json`` and ``<out>/loop_vs_m.png``. ``--max-configs`` pins the store's size (its
first rows) so that a growing store gives reproducible subsamples.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig

from weightspace.apps.analyses.entropy import part_metrics, sweep_part
from weightspace.apps.fit_ising import learn_bethe
from weightspace.backend import to_numpy
from weightspace.ensemble.configs import load_configs
from weightspace.experiments.loop_vs_m import LAWS, Extrapolation, bootstrap_law, subsample_indices
from weightspace.ising.bp import bp
from weightspace.ising.moments import fit_delta, spin_moments
from weightspace.ising.sampler import ising_energy
from weightspace.landscape.inputs import FittedModel, pick_by_level
from weightspace.nets.spins import part_slice
from weightspace.plots import plt, save_figure

ROOT = Path(__file__).resolve().parents[1]
METRICS = ("hysteresis_size_max", "hysteresis_size_mean")


def composed(config: str, overrides: list[str]) -> DictConfig:
    """conf/<config>.yaml with ``overrides``, composed as the app would (no run dir)."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config, overrides=overrides)
    GlobalHydra.instance().clear()
    return cfg


def replicate(
    configs: np.ndarray, widths: list[int], part: str, m: int, seed: int, fcfg: DictConfig, acfg: DictConfig
) -> dict[str, Any]:
    """Fit and sweep one subsample of ``m`` configurations (module docstring); one CSV row."""
    t0 = time.perf_counter()
    sl = part_slice(widths, part)
    sub = configs[subsample_indices(configs.shape[0], m, seed)]
    mom = spin_moments(sub, sl.start, sl.stop)
    res = learn_bethe(fcfg, mom.m, mom.C)
    J, h = to_numpy(res.J), to_numpy(res.h)
    fresh = bp(J, h, seed=int(fcfg.seed))
    delta_bp = fit_delta(mom.m, mom.C, to_numpy(fresh.m[0]), to_numpy(fresh.C[0]))
    t_fit = time.perf_counter() - t0
    energy = ising_energy(sub[:, sl].astype(float), J, h)
    rcfg = acfg.references
    refs = sub[pick_by_level(energy, str(rcfg.level), int(rcfg.count), seed)]
    model = FittedModel(J, h, part, sl.start, sl.stop, widths, "bethe", delta_bp, float("nan"), "", Path(""))
    land = sweep_part(model, refs, acfg)
    metrics, _ = part_metrics(part, land, float(acfg.hysteresis_threshold))
    row: dict[str, Any] = {"M": m, "seed": seed, "delta_bp": delta_bp, "fit_steps": int(res.steps),
                           "fit_seconds": t_fit, "seconds": time.perf_counter() - t0}
    return row | {k.split("/", 1)[1]: v for k, v in metrics.items()}


def read_rows(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return [{k: float(v) if k not in ("store",) else v for k, v in r.items()} for r in csv.DictReader(f)]


def write_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    keys = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)


def m_grid(rows: list[dict[str, Any]], args: argparse.Namespace) -> np.ndarray:
    return np.geomspace(min(r["M"] for r in rows) * 0.8, args.m_target * 1.2, 200)


def extrapolations(rows: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, dict[str, Extrapolation]]:
    M = np.array([r["M"] for r in rows], dtype=float)
    keep = M >= args.fit_min_m
    return {
        metric: {
            law: bootstrap_law(M[keep], np.array([r[metric] for r in rows], dtype=float)[keep], law,
                               level=args.level, m_target=args.m_target, n_boot=args.n_boot, seed=args.seed,
                               grid=m_grid(rows, args))
            for law in LAWS
        }
        for metric in METRICS
    }


def figure(rows: list[dict[str, Any]], ext: dict[str, dict[str, Extrapolation]], args: argparse.Namespace,
           title: str, path: Path) -> Path:
    """Loop size (max and mean over references) vs M, replicates, means ± std, both fitted laws
    extended to the paper's M (lines: bootstrap median; bands: 16-84%)."""
    M = np.array([r["M"] for r in rows], dtype=float)
    grid = m_grid(rows, args)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, metric in zip(axes, METRICS):
        L = np.array([r[metric] for r in rows], dtype=float)
        ax.scatter(M, L, s=10, color="0.6", label="replicates")
        ms = np.unique(M)
        ax.errorbar(ms, [L[M == m].mean() for m in ms], yerr=[L[M == m].std() for m in ms], fmt="o", color="k",
                    capsize=3, label="mean ± std")
        for c, law in zip(("C0", "C1"), LAWS):
            e = ext[metric][law]
            label = {"log": "a + b ln M", "inv": "a − b/M"}[law]
            ax.plot(grid, e.band[1], color=c, label=f"{label}: M*(L={args.level}) = {e.m_cross:.3g}")
            ax.fill_between(grid, e.band[0], e.band[2], color=c, alpha=0.2, lw=0)
        ax.axhline(args.level, color="r", ls=":", lw=1)
        ax.axvline(args.m_target, color="r", ls="--", lw=1, label=f"paper M = {args.m_target:.0f}")
        ax.set(xscale="log", xlabel="ensemble size M", ylabel=f"loop size ({metric.split('_')[-1]} over refs)")
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    return save_figure(fig, path)


def summary(rows: list[dict[str, Any]], ext: dict[str, dict[str, Extrapolation]], info: dict[str, Any]) -> dict:
    M = np.array([r["M"] for r in rows], dtype=float)
    per_m = {
        str(int(m)): {k: [float(np.mean([r[k] for r, mm in zip(rows, M) if mm == m])),
                          float(np.std([r[k] for r, mm in zip(rows, M) if mm == m]))]
                      for k in (*METRICS, "loop_fraction", "s_x0_over_ln2", "delta_bp")}
        | {"replicates": int((M == m).sum())}
        for m in np.unique(M)
    }
    fits = {metric: {law: {"a": float(e.coef[0]), "b": float(e.coef[1]), "M_cross": e.m_cross,
                           "M_cross_q16_50_84": e.m_cross_q, "L_at_target": e.l_target,
                           "L_at_target_q16_50_84": e.l_target_q, "cross_fraction": e.cross_fraction,
                           "rising_fraction": e.rising_fraction,
                           "rms_residual": e.rms_residual}
                     for law, e in d.items()}
            for metric, d in ext.items()}
    return info | {"per_M": per_m, "fits": fits}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("store")
    ap.add_argument("--m", type=int, nargs="+", required=True, help="ensemble sizes (≤ the store's size)")
    ap.add_argument("--reps", type=int, default=3, help="subsamples per M")
    ap.add_argument("--part", default="full")
    ap.add_argument("--out", required=True)
    ap.add_argument("--max-configs", type=int, default=None, help="use the store's first rows only")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--fit", nargs="*", default=[], help="overrides of conf/fit_ising.yaml (e.g. bethe.max_steps=300)")
    ap.add_argument("--landscape", nargs="*", default=[], help="overrides of conf/landscape.yaml analysis.entropy")
    ap.add_argument("--level", type=float, default=0.2, help="loop size whose crossing M is reported")
    ap.add_argument("--m-target", type=float, default=500_000, help="M at which the laws are evaluated")
    ap.add_argument("--fit-min-m", type=int, default=0, help="fit the laws to M ≥ this only")
    ap.add_argument("--n-boot", type=int, default=2000)
    args = ap.parse_args()

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    configs, widths = load_configs(args.store, limit=args.max_configs)
    fcfg = composed("fit_ising", ["method=bethe", f"seed={args.seed}", *args.fit])
    acfg = composed("landscape", ["analysis=entropy", "analysis.entropy.progress=false", *args.landscape]
                    ).analysis.entropy
    csv_path = out / "replicates.csv"
    rows = [r for r in read_rows(csv_path) if r.get("n_store") == configs.shape[0]]
    done = {(int(r["M"]), int(r["seed"])) for r in rows}
    print(f"{args.store}: {configs.shape[0]} configurations, part {args.part}; "
          f"{len(done)} replicates already in {csv_path}")
    for m in sorted(args.m):
        for k in range(args.reps):
            seed = args.seed + 1000 * k + 1  # replicate k of every M: its own subsample and references
            if (m, seed) in done:
                continue
            row = {"n_store": configs.shape[0], "rep": k} | replicate(configs, widths, args.part, m, seed, fcfg, acfg)
            rows.append(row)
            write_rows(csv_path, rows)
            print(f"  M={m:6d} rep {k}: loop max {row['hysteresis_size_max']:.3f} mean "
                  f"{row['hysteresis_size_mean']:.3f} (in {row['loop_fraction']:.0%} of refs), "
                  f"delta_bp {row['delta_bp']:.4f}, {row['seconds']:.0f} s", flush=True)
    rows = [r for r in rows if int(r["M"]) in set(args.m)]
    ext = extrapolations(rows, args)
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    info = {"store": str(args.store), "n_store": int(configs.shape[0]), "part": args.part, "M": sorted(args.m),
            "reps": args.reps, "level": args.level, "m_target": args.m_target, "fit_min_m": args.fit_min_m,
            "fit_overrides": args.fit, "landscape_overrides": args.landscape, "references": int(acfg.references.count),
            "commit": commit}
    (out / "summary.json").write_text(json.dumps(summary(rows, ext, info), indent=1))
    title = f"{Path(args.store).name} part {args.part}: n_store={configs.shape[0]}, {args.reps} subsamples per M"
    png = figure(rows, ext, args, title, out / "loop_vs_m.png")
    for metric, d in ext.items():
        for law, e in d.items():
            print(f"{metric:>20} {law}: a={e.coef[0]:.4f} b={e.coef[1]:.4g}  M*(L={args.level}) = {e.m_cross:.4g} "
                  f"[16-84%: {e.m_cross_q[0]:.3g}, {e.m_cross_q[2]:.3g}; crossed in {e.cross_fraction:.0%}, "
                  f"rising in {e.rising_fraction:.0%}]  "
                  f"L({args.m_target:.0f}) = {e.l_target:.3f} [{e.l_target_q[0]:.3f}, {e.l_target_q[2]:.3f}]")
    print(f"written: {csv_path}, {out / 'summary.json'}, {png}")


if __name__ == "__main__":
    main()
