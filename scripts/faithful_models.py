"""The paper's landscape claims on faithful models (issue 18): three routes side by side, per part.

For each part of ``--parts`` of one store, with the same references for every route:

  (a) BP on the ``bethe`` fit (the paper's route):  fit_ising.py method=bethe, landscape.py analysis=entropy
  (b) BP on the ``method=mc`` fit (maximum-entropy model, delta_mc < 0.01): landscape.py analysis=entropy
  (c) Monte Carlo on the ``method=mc`` fit: analysis=mc_sweep (tilt sweep down and up, heat-bath chains,
      one run per value of ``--sweeps``) and analysis=heat_capacity (tempered thermodynamic-integration
      entropy at ``--hc-x``)

Steps run the documented commands as subprocesses into ``<out>/<part>/...`` and are skipped when their
output exists (a rerun resumes). The references are the ``--refs`` low-energy configurations that route
(a) draws (energy under the bethe fit); routes (b) and (c) read them from its ``references.npy`` (the
first ``--mc-refs`` / ``--hc-refs`` of them for the MC analyses). Then per part: a table (s(x=0) on the
down branch, d at x = 0 and -1, hysteresis max/mean over references, loop fraction; mean ± std over
references, MC errors alongside; d_jump_max: the largest step of d between neighbouring x on a branch,
the paper's entropy gap shows as a jump) in ``<out>/faithful.csv`` / ``faithful.md`` and a figure
``<out>/faithful_<scenario>_<part>.png`` (d(x) of every route, both branches; s(d) of the BP routes
with the heat-capacity points). s(x=0) does not depend on the reference (no tilt), so its error bar
comes from ``--halves``: the same fits on each half of the store, s(x=0) by BP on each (and, for ``mc``,
by thermodynamic integration on each).

    PYTHONPATH=src .venv/bin/python scripts/faithful_models.py outputs/ensembles/under_para_deep_20_15_15_10 \
        --scenario under_para --parts lb itr rb --out outputs/faithful/under_para
    ... --compile-only    # only the tables and figures from what is there
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from weightspace.ensemble.configs import load_configs
from weightspace.ising.moments import spin_moments
from weightspace.landscape.entropy import s_upper_bound, sweep_paths
from weightspace.landscape.hysteresis import detect_hysteresis, s_at_x0, summarize
from weightspace.nets.spins import part_slice
from weightspace.plots import plt, save_figure

ROOT = Path(__file__).resolve().parents[1]
LN2 = np.log(2.0)
ROUTES = {"a": "BP on bethe fit", "b": "BP on mc fit", "c": "MC on mc fit"}


def app(script: str, run_dir: Path, overrides: list[str], done: Path) -> None:
    """``python <script> <overrides>`` into ``run_dir`` unless ``done`` exists (resume)."""
    if done.exists():
        print(f"  [skip] {done} exists")
        return
    cmd = [sys.executable, str(ROOT / script), "logger=none", f"hydra.run.dir={run_dir}", *overrides]
    print("  $ " + " ".join(cmd[1:]), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)


def run_halves(args: argparse.Namespace, part: str, base: Path, common: list[str]) -> None:
    """Fits of each method of ``--halves`` on the moments of the store's two halves (rows [0, M/2) and
    [M/2, M) of the first ``--max-configs``): their spread is the sampling error of s(x=0). With ``mc``
    among them, also route (c)'s thermodynamic-integration entropy at x = 0 on each half's ``mc`` fit."""
    configs, widths = load_configs(args.store, limit=args.max_configs)
    sl = part_slice(widths, part)
    half = configs.shape[0] // 2
    extra = {"bethe": args.fit_bethe, "mc": args.fit_mc}
    refs = base / "references_hc_part.npy"  # the halves' fits cover the part's spins only
    if "mc" in args.halves:
        np.save(refs, np.load(base / "references_hc.npy")[:, sl])
    for k in (0, 1):
        path = base / f"half{k}_moments.npz"
        if not path.exists():
            mom = spin_moments(configs[k * half : (k + 1) * half], sl.start, sl.stop)
            np.savez(path, m=mom.m, C=mom.C, n_configs=half)
        for method in args.halves:
            run_dir = base / f"half{k}_fit_{method}"
            app("fit_ising.py", run_dir, [f"seed={args.seed}", f"moments={path}", "part=full", f"method={method}",
                                          *extra[method], "verify.mc=false"], run_dir / "model_full.npz")
        if "mc" in args.halves:
            run_dir = base / f"half{k}_heat_capacity"
            app("landscape.py", run_dir,
                [*common, "analysis=heat_capacity", f"model={base / f'half{k}_fit_mc' / 'model_full.npz'}",
                 f"references.path={refs}", "analysis.heat_capacity.x_values=[0.0]",
                 *args.heat_capacity], run_dir / "heat_capacity.csv")


def run_part(args: argparse.Namespace, part: str) -> None:
    """Fits and landscapes of one part (module docstring)."""
    base = Path(args.out) / part
    common = [f"scenario={args.scenario}", f"seed={args.seed}"]
    fit = [*common, f"ensemble={args.store}", f"part={part}"] + ([f"max_configs={args.max_configs}"]
                                                                  if args.max_configs else [])
    for method, extra in (("bethe", args.fit_bethe), ("mc", args.fit_mc)):
        app("fit_ising.py", base / f"fit_{method}", [*fit, f"method={method}", *extra],
            base / f"fit_{method}" / f"model_{part}.npz")
    land = [*common, "analysis=entropy", f"references.count={args.refs}", *args.landscape]
    app("landscape.py", base / "a_bp_bethe", [*land, f"model={base / 'fit_bethe' / f'model_{part}.npz'}"],
        base / "a_bp_bethe" / part / "landscape.npz")
    refs = np.load(base / "a_bp_bethe" / "references.npy")
    for name, k in (("mc", args.mc_refs), ("hc", args.hc_refs)):
        np.save(base / f"references_{name}.npy", refs[:k])
    mc_model = f"model={base / 'fit_mc' / f'model_{part}.npz'}"
    app("landscape.py", base / "b_bp_mc",
        [*land, mc_model, f"references.path={base / 'a_bp_bethe' / 'references.npy'}"],
        base / "b_bp_mc" / part / "landscape.npz")
    for sweeps in args.sweeps:
        app("landscape.py", base / f"c_mc_sweep_{sweeps}",
            [*common, "analysis=mc_sweep", mc_model, f"references.path={base / 'references_mc.npy'}",
             f"analysis.mc_sweep.sweeps_per_point={sweeps}", f"analysis.mc_sweep.n_chains={args.chains}",
             *args.mc_sweep], base / f"c_mc_sweep_{sweeps}" / "mc_sweep.npz")
    hc_x = "[" + ",".join(str(x) for x in args.hc_x) + "]"
    app("landscape.py", base / "c_heat_capacity",
        [*common, "analysis=heat_capacity", mc_model, f"references.path={base / 'references_hc.npy'}",
         f"analysis.heat_capacity.x_values={hc_x}", *args.heat_capacity],
        base / "c_heat_capacity" / "heat_capacity.csv")
    if args.halves:
        run_halves(args, part, base, common)


def bp_entropy(path: Path) -> tuple[float, bool]:
    """s/ln 2 of a model file by BP at x = 0 (s = ln Z/N + ε, paper Eq. 8 without tilt), converged?"""
    z = np.load(path)
    J, h = z["J"], z["h"]
    r = sweep_paths(J, h, np.ones((1, h.size)), np.zeros((1, 1)), dtype="float64", tol=1e-8, max_iter=2000)
    return float((r.log_z[0, 0] + r.energy[0, 0]) / LN2), bool(r.converged[0, 0])


def _mean_std(v: np.ndarray) -> tuple[float, float]:
    v = np.asarray(v, dtype=float)
    return float(np.mean(v)), float(np.std(v)) if v.size > 1 else float("nan")


def at_x(x: np.ndarray, arr: np.ndarray, value: float) -> np.ndarray:
    """arr[..., t] at the grid point nearest to x = value."""
    return arr[..., int(np.argmin(np.abs(x - value)))]


def bp_route(path: Path, threshold: float) -> dict[str, Any]:
    """Numbers of one BP landscape (landscape.npz): s(x=0) on the low-d branch (paper, inside a loop),
    d at x = 0 / −1 (down branch), hysteresis and entropy gap (d-range jumped) over references."""
    z = np.load(path)
    x, d, s, conv = z["x"], z["d"], z["s"], z["converged"]
    hs = summarize([detect_hysteresis(x, d[k], s[k], conv[k], threshold) for k in range(d.shape[0])])
    return {
        "x": x, "d": d, "s": s, "converged": conv,
        "s0": _mean_std(s_at_x0(x, d, s) / LN2), "d0": _mean_std(at_x(x, d[:, 0], 0.0)),
        "d_m1": _mean_std(at_x(x, d[:, 0], -1.0)), "unconverged": float(1 - conv.mean()),
        "d_jump": float(np.abs(np.diff(d, axis=-1)).max()), "refs": d.shape[0], **hs,
    }


def mc_route(path: Path, part: str, threshold: float) -> dict[str, Any]:
    """Numbers of one MC tilt sweep (mc_sweep.npz), loops counted as the app does (apart by the
    threshold and by 4 standard errors of the branches' difference)."""
    z = np.load(path)
    x, d, err = z["x"], z[f"d_{part}"], z[f"d_err_{part}"]
    thr = np.maximum(threshold, 4.0 * np.sqrt((err**2).sum(axis=1)))
    nan_s, ok = np.full((2, x.size), np.nan), np.ones((2, x.size), dtype=bool)
    hs = summarize([detect_hysteresis(x, d[k], nan_s, ok, thr[k]) for k in range(d.shape[0])])
    return {"x": x, "d": d, "d0": _mean_std(at_x(x, d[:, 0], 0.0)), "d_m1": _mean_std(at_x(x, d[:, 0], -1.0)),
            "d_jump": float(np.abs(np.diff(d, axis=-1)).max()), "refs": d.shape[0], **hs}


def hc_route(path: Path, part: str) -> list[dict[str, float]]:
    """Per x of heat_capacity.csv: s/ln 2 and d, mean ± std over references, and the largest MC error."""
    with open(path, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["part"] == part]
    out = []
    for xv in sorted({float(r["x"]) for r in rows}, reverse=True):
        rs = [r for r in rows if float(r["x"]) == xv]
        s = np.array([float(r["s_mc"]) for r in rs]) / LN2
        out.append({"x": xv, "s": _mean_std(s), "d": _mean_std([float(r["d_mc"]) for r in rs]),
                    "s_err_max": float(max(float(r["s_mc_err"]) + float(r["s_quad_err"]) for r in rs)) / LN2,
                    "s_bp": _mean_std(np.array([float(r["s_bp"]) for r in rs]) / LN2),
                    "bp_converged": float(np.mean([r["bp_converged"] == "True" for r in rs])), "refs": len(rs)})
    return out


def model_info(path: Path) -> dict[str, float]:
    z = np.load(path)
    return {k: float(z[k]) for k in ("delta_bp", "delta_mc", "delta_mc_noise", "n_configs") if k in z.files}


def pm(v: tuple[float, float], fmt: str = ".3f") -> str:
    return f"{v[0]:{fmt}} ± {v[1]:{fmt}}" if np.isfinite(v[1]) else f"{v[0]:{fmt}}"


def compile_part(args: argparse.Namespace, part: str) -> list[dict[str, Any]]:
    """Table rows and figure of one part from whatever outputs exist."""
    base = Path(args.out) / part
    thr = args.threshold
    rows: list[dict[str, Any]] = []
    fig, (ax_d, ax_s) = plt.subplots(1, 2, figsize=(10, 4))
    fits = {m: model_info(base / f"fit_{m}" / f"model_{part}.npz") for m in ("bethe", "mc")
            if (base / f"fit_{m}" / f"model_{part}.npz").exists()}
    for key, sub, method, color in (("a", "a_bp_bethe", "bethe", "C0"), ("b", "b_bp_mc", "mc", "C1")):
        p = base / sub / part / "landscape.npz"
        if not p.exists():
            continue
        r = bp_route(p, thr)
        f = fits.get(method, {})
        halves = [bp_entropy(q) for q in (base / f"half{k}_fit_{method}" / "model_full.npz" for k in (0, 1))
                  if q.exists()]
        split = (f"; halves {halves[0][0]:.3f}, {halves[1][0]:.3f}" + ("" if all(c for _, c in halves)
                 else " (BP unconverged)")) if len(halves) == 2 else ""
        rows.append({"part": part, "route": f"({key}) {ROUTES[key]}", "M": f.get("n_configs", np.nan),
                     "delta_bp": f.get("delta_bp", np.nan), "delta_mc": f.get("delta_mc", np.nan),
                     "refs": r["refs"], "s0_ln2": pm(r["s0"]) + split, "d0": pm(r["d0"]), "d_m1": pm(r["d_m1"]),
                     "loop_max": r["hysteresis_size_max"], "loop_mean": r["hysteresis_size_mean"],
                     "loop_fraction": r["loop_fraction"], "d_jump_max": r["d_jump"],
                     "entropy_gap_max": r["entropy_gap_max"], "gap_fraction": r["entropy_gap_fraction"],
                     "unconverged": r["unconverged"]})
        for b, ls in ((0, "-"), (1, "--")):
            ax_d.plot(r["x"], r["d"][:, b].mean(axis=0), ls, color=color,
                      label=f"({key}) {ROUTES[key]}" if b == 0 else None)
        ax_s.plot(r["d"][:, 0].mean(axis=0), r["s"][:, 0].mean(axis=0) / LN2, color=color, label=f"({key})")
        ax_s.fill_between(r["d"][:, 0].mean(axis=0), (r["s"][:, 0].mean(0) - r["s"][:, 0].std(0)) / LN2,
                          (r["s"][:, 0].mean(0) + r["s"][:, 0].std(0)) / LN2, color=color, alpha=0.2, lw=0)
    hc_path = base / "c_heat_capacity" / "heat_capacity.csv"
    hc = hc_route(hc_path, part) if hc_path.exists() else []
    hc0 = next((h for h in hc if h["x"] == 0.0), None)
    for sweeps, color in zip(args.sweeps, ("C2", "C4", "C5")):
        p = base / f"c_mc_sweep_{sweeps}" / "mc_sweep.npz"
        if not p.exists():
            continue
        r = mc_route(p, part, thr)
        f = fits.get("mc", {})
        rows.append({"part": part, "route": f"(c) MC tilt sweep, {sweeps} sweeps/x; TI entropy",
                     "M": f.get("n_configs", np.nan), "delta_bp": f.get("delta_bp", np.nan),
                     "delta_mc": f.get("delta_mc", np.nan), "refs": r["refs"],
                     "s0_ln2": (pm(hc0["s"]) + f" (MC err {hc0['s_err_max']:.3f}, {hc0['refs']} refs)") if hc0 else "",
                     "d0": pm(r["d0"]), "d_m1": pm(r["d_m1"]), "loop_max": r["hysteresis_size_max"],
                     "loop_mean": r["hysteresis_size_mean"], "loop_fraction": r["loop_fraction"],
                     "d_jump_max": r["d_jump"], "entropy_gap_max": r["entropy_gap_max"],
                     "gap_fraction": r["entropy_gap_fraction"], "unconverged": 0.0})
        for b, ls in ((0, "-"), (1, "--")):
            ax_d.plot(r["x"], r["d"][:, b].mean(axis=0), ls, color=color,
                      label=f"(c) MC sweep {sweeps}/x" if b == 0 else None)
    if hc:
        ax_s.errorbar([h["d"][0] for h in hc], [h["s"][0] for h in hc],
                      yerr=[np.hypot(h["s"][1] if np.isfinite(h["s"][1]) else 0, h["s_err_max"]) for h in hc],
                      xerr=[h["d"][1] if np.isfinite(h["d"][1]) else 0 for h in hc], fmt="s", color="C3",
                      capsize=3, label="(c) TI entropy, x = " + ", ".join(f"{h['x']:g}" for h in hc))
    dd = np.linspace(0, 1, 201)
    ax_s.plot(dd, s_upper_bound(dd) / LN2, "k:", lw=1, label="upper bound")
    ax_d.set(xlabel="x", ylabel="d (solid: down, dashed: up)", title=f"{args.scenario} {part}: d(x)")
    ax_s.set(xlabel="d", ylabel="s / ln 2 (down branch)", title=f"{args.scenario} {part}: s(d)", xlim=(0, 1))
    for ax in (ax_d, ax_s):
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    save_figure(fig, Path(args.out) / f"faithful_{args.scenario}_{part}.png", dpi=90)
    hc_halves = [hc_route(q, "full")[0] for q in (base / f"half{k}_heat_capacity" / "heat_capacity.csv"
                                                  for k in (0, 1)) if q.exists()]
    for h in hc:
        split = (f"; halves {hc_halves[0]['s'][0]:.3f}, {hc_halves[1]['s'][0]:.3f}"
                 if h["x"] == 0.0 and len(hc_halves) == 2 else "")
        rows.append({"part": part, "route": f"(c) TI entropy at x = {h['x']:g}", "M": fits.get("mc", {}).get(
            "n_configs", np.nan), "refs": h["refs"], "s0_ln2": pm(h["s"]) + f" (MC err {h['s_err_max']:.3f})"
                     + split, "d0": pm(h["d"]), "s_bp_same_x": pm(h["s_bp"]), "bp_converged": h["bp_converged"]})
    return rows


def write_tables(rows: list[dict[str, Any]], out: Path, name: str) -> None:
    keys = list(dict.fromkeys(k for r in rows for k in r))
    with open(out / f"{name}.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)

    def cell(v: Any) -> str:
        return f"{v:.3g}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(keys) + " |", "|" + " --- |" * len(keys)]
    lines += ["| " + " | ".join(cell(r.get(k, "")) for k in keys) + " |" for r in rows]
    (out / f"{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("store")
    ap.add_argument("--scenario", required=True)
    ap.add_argument("--parts", nargs="+", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--max-configs", type=int, default=None, help="the store's first rows only (pins a growing store)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--refs", type=int, default=20, help="references of the BP routes (a), (b)")
    ap.add_argument("--mc-refs", type=int, default=5, help="the first of them for the MC tilt sweep")
    ap.add_argument("--hc-refs", type=int, default=3, help="the first of them for the heat-capacity entropy")
    ap.add_argument("--hc-x", type=float, nargs="+", default=[0.0, -0.5, -1.0])
    ap.add_argument("--sweeps", type=int, nargs="+", default=[20], help="MC sweeps per x (one tilt sweep each)")
    ap.add_argument("--chains", type=int, default=32, help="MC chains per reference of the tilt sweep")
    ap.add_argument("--threshold", type=float, default=0.05, help="hysteresis threshold on |d_down - d_up|")
    ap.add_argument("--fit-bethe", nargs="*", default=[], help="extra fit_ising.py overrides, method=bethe")
    ap.add_argument("--fit-mc", nargs="*", default=[], help="extra fit_ising.py overrides, method=mc")
    ap.add_argument("--landscape", nargs="*", default=[], help="extra landscape.py overrides of the BP routes")
    ap.add_argument("--mc-sweep", nargs="*", default=[], help="extra landscape.py overrides of analysis=mc_sweep")
    ap.add_argument("--heat-capacity", nargs="*", default=[], help="extra overrides of analysis=heat_capacity")
    ap.add_argument("--halves", nargs="*", default=[], choices=("bethe", "mc"),
                    help="also fit these methods on each half of the store (sampling error of s(x=0))")
    ap.add_argument("--compile-only", action="store_true")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for part in args.parts:
        if not args.compile_only:
            print(f"part {part}:", flush=True)
            run_part(args, part)
        rows += compile_part(args, part)
    write_tables(rows, out, f"faithful_{args.scenario}")


if __name__ == "__main__":
    main()
