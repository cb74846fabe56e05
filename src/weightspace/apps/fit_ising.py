"""``python fit_ising.py``: fit the effective Ising model of an ensemble (paper Sec. III, App. B, C, E).

Per part (``full``, ``lb``, ``itr``, ``rb``, ``layer<k>``; ``all`` = each on its own moments) the
run dir gets ``model_<part>.npz`` (J, h, delta_bp, delta_mc, method, part, start, stop, widths,
ensemble), ``trace_<part>.csv`` and figures; ``fit_summary.csv`` has one row per part.
``delta_bp`` is the fit error of BP started from fresh N(0, 0.01^2) messages, ``bp_jacobian_radius``
the spectral radius of the BP update's Jacobian at that fixed point (< 1: linearly stable;
ising.stability), ``delta_mc`` that
of the model's Monte-Carlo moments (its true moments, up to sampling error), ``delta_mc_noise``
that sampling error: the verification runs two independent halves of its chains, and the pooled
moments are off by Δ(half a, half b) / 2 (each half by √2 times that); it adds in quadrature,
delta_mc² ≈ Δ_true² + delta_mc_noise².
"""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig
from threadpoolctl import threadpool_limits

from ..backend import get_xp, to_numpy
from ..errors import ConfigError
from ..ising.boltzmann import INITS, BoltzmannResult, boltzmann_learn
from ..ising.bp import bp
from ..ising.moments import fit_delta
from ..ising.pseudolikelihood import fit_pseudolikelihood, sparsity_path
from ..ising.sampler import geometric_ladder, ising_energy, mc_moments_fn, temper
from ..ising.source import DataSource, from_moments_file, from_store, latest_store
from ..ising.stability import bp_jacobian_radius
from ..ising.threespin import compare_three_spin
from ..nets.spins import available_parts, layer_names, part_slice
from ..plots import ising as figs
from . import lineage, tracking
from .cli import BACKENDS, Choices
from .common import output_dir, write_json

METHODS = ("bethe", "pseudolikelihood", "mc")
CHOICES: Choices = {
    "method": METHODS,
    "part": lambda cfg: ("all", *available_parts(cfg.arch.widths), *layer_names(cfg.arch.widths)),
    "backend": BACKENDS,
    "bethe.init": INITS,
}


def load_source(cfg: DictConfig) -> DataSource:
    """The ensemble store or moments file named by the config (default: latest matching store)."""
    if cfg.moments:
        return from_moments_file(Path(cfg.moments))
    path = Path(cfg.ensemble) if cfg.ensemble else latest_store(
        Path(cfg.paths.outputs), cfg.scenario.name, list(cfg.arch.widths)
    )
    return from_store(path, cfg.max_configs)


def parts_to_fit(cfg: DictConfig, src: DataSource) -> list[tuple[str, slice]]:
    n = src.moments.m.shape[0]
    if src.widths is None:
        if cfg.part not in ("full", "all"):
            raise ConfigError(f"part={cfg.part}: a moments file carries no architecture; use part=full")
        return [("full", slice(0, n))]
    names = available_parts(src.widths) if cfg.part == "all" else [str(cfg.part)]
    return [(p, part_slice(src.widths, p)) for p in names]


def learn_bethe(cfg: DictConfig, m: Any, C: Any) -> BoltzmannResult:
    """Boltzmann learning with BP moments, settings ``cfg.bethe`` (``method=bethe``, and the start of ``mc``)."""
    b = cfg.bethe
    return boltzmann_learn(
        m, C, init=b.init, optimizer=b.optimizer, lr_J=b.lr_J, lr_h=b.lr_h, l2=b.l2, tol=b.tol,
        max_steps=b.max_steps, check_every=b.check_every, max_radius=b.max_radius, seed=cfg.seed,
    )


def delta_bp_curve(res: BoltzmannResult) -> np.ndarray:
    """Best fresh-start delta_bp so far at each learning step (from the checks; step 0 = start)."""
    steps = np.arange(1, res.steps + 1)
    if res.checks.size == 0:
        return np.full(res.steps, res.delta_bp)
    idx = np.searchsorted(res.checks[:, 0], steps, side="right") - 1
    return np.minimum.accumulate(res.checks[:, 1])[np.maximum(idx, 0)]


MC_STEP_KEYS = ("optimizer", "lr_J", "lr_h", "center", "window", "tol", "max_steps")


def learn_mc(cfg: DictConfig, m: Any, C: Any, J0: Any, h0: Any, **step: Any) -> BoltzmannResult:
    """Boltzmann learning with persistent-chain MC moments from (J0, h0): sampler ``cfg.mc``, step rule
    ``cfg.mc`` (``MC_STEP_KEYS``) unless overridden by ``step``."""
    mc = cfg.mc
    opts = {k: mc[k] for k in MC_STEP_KEYS} | step
    moments_fn = mc_moments_fn(mc.chains, mc.sweeps_per_step, seed=cfg.seed, dtype=mc.dtype, temps=mc.temps,
                               beta_min=mc.beta_min)
    with threadpool_limits(limits=mc.blas_threads):
        return boltzmann_learn(m, C, J0=J0, h0=h0, moments_fn=moments_fn, check_every=None, seed=cfg.seed, **opts)


def fit_part(cfg: DictConfig, src: DataSource, part: str, sl: slice, xp: Any) -> dict[str, Any]:
    """Fit one part with ``cfg.method``; returns J, h, delta_bp and diagnostics (host arrays)."""
    m = xp.asarray(src.moments.m[sl])
    C = xp.asarray(src.moments.C[sl, sl])
    method = cfg.method
    out: dict[str, Any] = {}
    if method in ("bethe", "mc"):
        res = learn_bethe(cfg, m, C)
        J, h = res.J, res.h
        out |= {"trace": np.asarray(res.delta), "trace_bp": delta_bp_curve(res), "converged": res.converged,
                "steps": res.steps, "stopped": res.stopped, "fresh_disagrees": res.fresh_disagrees,
                "n_backtracks": res.n_backtracks,
                "rho": res.rho, "delta_bp_start": res.delta_bp_start}
        if method == "mc":
            J0, h0 = (J, h) if cfg.mc.init_from_bethe else (xp.zeros_like(J), xp.zeros_like(h))
            res = learn_mc(cfg, m, C, J0, h0)
            J, h = res.J, res.h
            out |= {"trace": np.concatenate([out["trace"], np.asarray(res.delta)]), "converged": res.converged,
                    "steps": out["steps"] + res.steps, "delta_window": res.delta_window}
    elif method == "pseudolikelihood":
        p = cfg.pseudolikelihood
        configs = xp.asarray(src.configs(sl.start, sl.stop, p.max_configs))
        res = fit_pseudolikelihood(configs, lam=p.lam, tol=p.tol, max_iter=p.max_iter, progress=True,
                                   standardize=p.standardize)
        J, h = res.J, res.h
        out |= {"trace": np.asarray(res.kkt_history), "converged": res.converged, "steps": res.n_iter,
                "sparsity": res.sparsity, "n_configs": int(configs.shape[0])}
    else:
        raise ConfigError(f"method={method!r}: choose one of {', '.join(METHODS)}")
    fresh = bp(J, h, seed=cfg.seed)  # paper's start: messages ~ N(0, 0.01^2)
    out |= {
        "J": to_numpy(J), "h": to_numpy(h),
        "delta_bp": fit_delta(m, C, fresh.m[0], fresh.C[0]),
        "bp_converged": bool(to_numpy(fresh.converged)[0]),
        "bp_jacobian_radius": bp_jacobian_radius(J, fresh.messages, seed=cfg.seed),
        "m_bp": to_numpy(fresh.m[0]), "C_bp": to_numpy(fresh.C[0]),
    }
    if cfg.verify.mc:
        out |= verify_mc(cfg, J, h, m, C, keep_samples=part == "full" and cfg.verify.three_spin)
    return out


def pl_paths(cfg: DictConfig, src: DataSource, parts: list[tuple[str, slice]], xp: Any, out: Path) -> Path:
    """Sparsity vs lambda and vs M (``pseudolikelihood.lam_path``, ``m_path``) of the first part fitted
    (full when fitted), with plain and standardised penalties; figure pl_sparsity_path.png."""
    p = cfg.pseudolikelihood
    name, sl = next(((n, s) for n, s in parts if n == "full"), parts[0])
    configs = xp.asarray(src.configs(sl.start, sl.stop, p.max_configs))
    paths = []
    for standardize in (False, True):
        sp = sparsity_path(configs, list(p.lam_path), list(p.m_path), p.lam, standardize=standardize,
                           seed=cfg.seed, tol=p.tol, max_iter=p.max_iter)
        paths.append(sp)
        print(f"  {name} sparsity ({'standardised' if standardize else 'plain'} penalty): "
              + ", ".join(f"lam {a:g}: {z:.1%}" for a, z in zip(sp.lams, sp.by_lam, strict=True)) + "; "
              + ", ".join(f"M {k}: {z:.1%}" for k, z in zip(sp.sizes, sp.by_m, strict=True)) + f" (lam {p.lam:g})")
    write_json(out / "pl_sparsity_path.json", {("standardised" if q.standardize else "plain"): vars(q) for q in paths})
    return figs.sparsity_path_figure(paths, out / "pl_sparsity_path.png")


def verify_mc(cfg: DictConfig, J: Any, h: Any, m: Any, C: Any, keep_samples: bool) -> dict[str, Any]:
    """delta_mc and its sampling error delta_mc_noise (module docstring) from two independent halves
    of ``verify.chains`` chains; with ``keep_samples`` also about ``verify.three_spin_samples``
    configurations of the first half (every k-th sweep) for the three-spin check."""
    v = cfg.verify
    Jv, hv = J.astype(v.dtype), h.astype(v.dtype)
    betas = geometric_ladder(v.beta_min, v.temps)
    with threadpool_limits(limits=v.blas_threads):
        a, b = (temper(Jv, hv, betas, v.chains // 2, v.sweeps, burn_in=v.burn_in, seed=cfg.seed + k,
                       keep_samples=keep_samples and k == 0) for k in (0, 1))
    m_mc, C_mc = 0.5 * (a.m + b.m), 0.5 * (a.C + b.C)
    out = {
        "delta_mc": fit_delta(m, C, m_mc, C_mc), "delta_mc_noise": 0.5 * fit_delta(a.m, a.C, b.m, b.C),
        "m_mc": to_numpy(m_mc), "C_mc": to_numpy(C_mc), "mc_tau": float(a.tau_energy[-1]),
        "mc_tau_reliable": a.tau_reliable,
    }
    if v.temps > 1:
        out |= {"mc_swap_acceptance": float(np.min(np.concatenate([a.swap_acceptance, b.swap_acceptance]))),
                "mc_passages": a.passages + b.passages}
    if keep_samples:
        stride = max(1, a.samples.shape[0] * a.samples.shape[1] // v.three_spin_samples)
        out["mc_samples"] = to_numpy(a.samples[::stride].reshape(-1, a.samples.shape[-1]))
    return out


def _num(v: Any) -> float:
    return float("nan") if v is None else float(v)


def _write_trace(path: Path, trace: np.ndarray, trace_bp: np.ndarray | None) -> None:
    """step, value (Δ of the moments learning used; KKT residual for pseudolikelihood) and, for BP
    learning, delta_bp (best fresh-start Δ so far)."""
    bp_col = [] if trace_bp is None else list(trace_bp)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["step", "value", "delta_bp"])
        w.writerows([t, f"{v:.6g}", f"{bp_col[t]:.6g}" if t < len(bp_col) else ""] for t, v in enumerate(trace))


def fit(cfg: DictConfig, out: Path, loggers: list) -> dict[str, float]:
    xp = get_xp(cfg.backend)
    src = load_source(cfg)
    parts = parts_to_fit(cfg, src)
    print(f"fit_ising: {src.label}: {src.limit or 'exact'} configurations, N={src.moments.m.shape[0]}, "
          f"parts {[p for p, _ in parts]}, method={cfg.method}")
    if src.store is not None:
        tracking.declare_inputs(loggers, {"ensemble": lineage.ensemble_input(src.store.path, src.digest)})
    rows, metrics, fitted = [], {}, {}
    for name, sl in parts:
        t0 = time.perf_counter()
        r = fit_part(cfg, src, name, sl, xp)
        seconds = time.perf_counter() - t0
        artifact = lineage.model_name(cfg.scenario.name, cfg.arch.name, cfg.method, name)
        model_path = out / f"model_{name}.npz"
        np.savez(
            model_path, J=r["J"], h=r["h"], delta_bp=r["delta_bp"], delta_mc=r.get("delta_mc", np.nan),
            delta_mc_noise=r.get("delta_mc_noise", np.nan), delta_window=r.get("delta_window", np.zeros(0)),
            bp_jacobian_radius=r["bp_jacobian_radius"],
            method=cfg.method, part=name, start=sl.start, stop=sl.stop,
            widths=np.array(src.widths or [], dtype=np.int64), ensemble=src.label, n_configs=src.limit or -1,
            delta_bp_start=_num(r.get("delta_bp_start")), rho=_num(r.get("rho")),
            scenario=cfg.scenario.name, arch=cfg.arch.name, artifact=artifact, ensemble_digest=src.digest or "",
        )
        _write_trace(out / f"trace_{name}.csv", r["trace"], r.get("trace_bp"))
        fitted[name] = (r, sl)
        J = r["J"]
        off = J[np.triu_indices_from(J, 1)]
        row = {
            "part": name, "n_spins": sl.stop - sl.start, "n_configs": src.limit or -1, "method": cfg.method,
            "delta_bp": r["delta_bp"],
            "bp_converged": r["bp_converged"], "bp_jacobian_radius": r["bp_jacobian_radius"],
            "delta_mc": r.get("delta_mc", float("nan")),
            "delta_mc_noise": r.get("delta_mc_noise", float("nan")),
            "learning_converged": r["converged"], "steps": r["steps"],
            "fresh_start_disagrees": r.get("fresh_disagrees", False),
            "delta_bp_start": _num(r.get("delta_bp_start")), "stability_cap": _num(r.get("rho")),
            "zero_couplings": float(np.mean(off == 0)), "seconds": seconds,
        }
        print(f"  {name:>6}: N={row['n_spins']:4d}  delta_bp={row['delta_bp']:.4f} (start {row['delta_bp_start']:.4f}) "
              f"(BP converged: {row['bp_converged']}, Jacobian radius {row['bp_jacobian_radius']:.3f})  "
              f"delta_mc={row['delta_mc']:.4f} (MC noise {row['delta_mc_noise']:.4f})  "
              f"zero couplings {row['zero_couplings']:.1%}  "
              f"{seconds:.1f} s")
        if "mc_swap_acceptance" in r:
            row |= {"verify_swap_acceptance": r["mc_swap_acceptance"], "verify_passages": r["mc_passages"]}
            print(f"          replica exchange ({cfg.verify.temps} rungs from beta {cfg.verify.beta_min}): lowest swap "
                  f"acceptance {r['mc_swap_acceptance']:.2f}, {r['mc_passages']} hot-to-target passages"
                  + ("  WARNING: rungs barely exchange; add rungs" if r["mc_swap_acceptance"] < 0.05 else ""))
        rows.append(row)
        part_metrics = tracking.scalars(r, f"{name}/") | tracking.scalars(row, f"{name}/")
        metrics |= part_metrics
        tracking.log_metrics(loggers, part_metrics)
        trace = r["trace"]
        curves = {"delta": trace} | ({"delta_bp": r["trace_bp"]} if len(r.get("trace_bp", ())) == len(trace) else {})
        tracking.log_curves(loggers, f"{name}/trace", curves)
        tracking.log_artifact(
            loggers, artifact, lineage.MODEL, [model_path],
            tracking.scalars(row) | {"ensemble": src.label, "ensemble_digest": src.digest, "method": cfg.method},
            aliases=[lineage.alias(lineage.file_digest(model_path))],
        )
    tracking.log_table(loggers, "fit_summary", rows, out / "fit_summary.csv")
    pngs = figs.fit_figures(fitted, src, out, cfg.method)
    if cfg.method in ("bethe", "mc"):
        pngs.append(figs.fit_trace({p: r for p, (r, _) in fitted.items()}, out / "fit_trace.png"))
    if cfg.verify.three_spin and "full" in fitted and "mc_samples" in fitted["full"][0] and src.store is not None:
        data = src.configs(0, src.moments.m.shape[0], 20000)
        cmp = compare_three_spin(data, fitted["full"][0]["mc_samples"], n_spins=cfg.verify.three_spin_spins,
                                 kind="raw")
        frac = {k: float(np.interp(0.015, cmp.eps, f)) for k, f in cmp.fractions.items()}
        metrics |= {f"full/three_spin_{k}_within_0.015": v for k, v in frac.items()}
        pngs.append(figs.three_spin_figure(cmp, out / "fig12_three_spin.png"))
        print(f"  three-spin correlations of {len(cmp.spins)} spins within 0.015 of the data "
              f"({data.shape[0]} data configurations): raw {frac['raw']:.1%} (paper, raw: ~82%), "
              f"connected {frac['connected']:.1%}")
    if cfg.method == "pseudolikelihood" and (cfg.pseudolikelihood.lam_path or cfg.pseudolikelihood.m_path):
        pngs.append(pl_paths(cfg, src, parts, xp, out))
    if src.store is not None and "full" in fitted:
        r, _ = fitted["full"]
        chunk = src.store.load(limit=20000)
        energy = to_numpy(ising_energy(chunk.spins.astype(np.float64), r["J"], r["h"])) / r["J"].shape[0]
        pngs.append(figs.energy_vs_accuracy(energy, chunk.acc, out / "fig3c_energy_vs_accuracy.png"))
    for p in pngs:
        tracking.log_figure(loggers, p.stem, p)
    write_json(out / "metrics.json", metrics)
    print(f"  run dir: {out}")
    return metrics


def run(cfg: DictConfig) -> dict[str, float]:
    """Entry point of ``fit_ising.py``; returns metrics per part."""
    out = output_dir(cfg)
    with tracking.session(cfg) as loggers:
        return fit(cfg, out, loggers)
