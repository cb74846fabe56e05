"""The apps with ``backend=cupy`` on the CuPy stand-in: every CuPy code path of fit_ising and the
landscape analyses runs in CPU CI. The same smoke functions run on a real GPU in tests/test_gpu.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import compose_cfg
from omegaconf import OmegaConf

from weightspace.ensemble.store import open_store
from weightspace.ising.sampler import sample
from weightspace.nets.spins import n_spins, part_slice

FIT_WIDTHS = [3, 2, 2, 2]  # 14 spins
LAND_WIDTHS = [20, 3, 3, 10]  # 99 spins, MNIST-PCA20 inputs for the accuracy observer


def _planted(n: int, std: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    J = np.triu(rng.normal(0, std, (n, n)), 1)
    return J + J.T, rng.normal(0, 0.2, n)


def smoke_fit(tmp_path: Path, backend: str) -> dict:
    """fit_ising (Boltzmann + BP, MC verification, three-spin check) on a 14-spin planted model."""
    from weightspace.apps.fit_ising import run

    n = n_spins(FIT_WIDTHS)
    J, h = _planted(n, 0.1)
    configs = sample(J, h, n_chains=100, n_sweeps=50, burn_in=100, seed=1, keep_samples=True).samples
    store = open_store(tmp_path / "store", arch=FIT_WIDTHS, scenario="over_para", dataset="mnist_pca20")
    with store.writer("t") as w:
        w.add_batch(configs.reshape(-1, n).astype(np.int8), np.full(5000, 0.8, np.float32), np.arange(5000))
    cfg = compose_cfg("fit_ising", ["scenario=over_para", "logger=none", f"backend={backend}", "part=full",
                                    f"ensemble={tmp_path / 'store'}", "verify.chains=16", "verify.sweeps=40",
                                    "verify.burn_in=10", "verify.three_spin_spins=8", f"arch.widths={FIT_WIDTHS}"],
                      tmp_path / "fit")
    metrics = run(cfg)
    assert metrics["full/delta_bp"] < 0.02 and np.isfinite(metrics["full/delta_mc"])
    return metrics


def fitted_models(root: Path) -> Path:
    """A store of 200 configurations and weakly coupled model files of every part."""
    rng = np.random.default_rng(0)
    n = n_spins(LAND_WIDTHS)
    store = open_store(root / "store", arch=LAND_WIDTHS, scenario="test", dataset="mnist_pca20")
    with store.writer("w0") as w:
        w.add_batch(np.where(rng.random((200, n)) < 0.6, 1, -1).astype(np.int8), [0.8] * 200, list(range(200)))
    for part in ("full", "lb", "itr", "rb"):
        sl = part_slice(LAND_WIDTHS, part)
        J, h = _planted(sl.stop - sl.start, 0.3 / np.sqrt(sl.stop - sl.start), seed=sl.start)
        np.savez(root / f"model_{part}.npz", J=J, h=h + 0.2, part=part, start=sl.start, stop=sl.stop,
                 widths=LAND_WIDTHS, method="boltzmann", delta_bp=0.01, delta_mc=np.nan,
                 ensemble=str(root / "store"))
    return root


def smoke_landscape(root: Path, tmp_path: Path, backend: str) -> dict:
    """Every landscape analysis of the fitted models (entropy, iso-energy, TAP, MC dynamics, MC sweep,
    heat capacity) with small grids."""
    from weightspace.apps.analyses import entropy, heat_capacity, iso_energy, mc_dynamics, mc_sweep, tap

    refs = {"references": {"count": 2, "pool": 200}}
    small_x = {"x": {"max": 1.0, "min": -1.0, "step": 0.5}}
    runs = {
        entropy: {**refs, **small_x},
        iso_energy: {"parts": "itr", **refs, **small_x},
        tap: {"parts": "rb", "n_starts": 20},
        mc_dynamics: {**refs, "trials": 2, "n_sweeps": 3},
        mc_sweep: {"parts": "rb", **refs, **small_x, "n_chains": 4, "sweeps_per_point": 4},
        heat_capacity: {"parts": "itr", "references": {"count": 1, "pool": 200}, "x_values": [1.0],
                        "mc": {"n_lam": 5, "n_chains": 4, "n_sweeps": 20, "burn_in": 5}},
    }
    metrics = {}
    for mod, extra in runs.items():
        name = mod.__name__.rsplit(".", 1)[-1]
        cfg = compose_cfg("landscape", [f"analysis=[{name}]", "logger=none", f"backend={backend}"], tmp_path)
        acfg = OmegaConf.merge(OmegaConf.create(OmegaConf.to_container(cfg.analysis[name], resolve=True)),
                               {"widths": LAND_WIDTHS, "progress": False, "model": {"dir": str(root)}}, extra)
        out = tmp_path / name
        out.mkdir(parents=True)
        metrics.update(mod.run(acfg, out, []))
    assert metrics["full/loop_fraction"] == 0.0 and metrics["rb/converged_fraction"] == 1.0
    assert 0.0 <= metrics["full/accuracy_end"] <= 1.0
    return metrics


def smoke_layer_overlap(tmp_path: Path, backend: str) -> dict:
    from weightspace.apps.analyses import layer_overlap

    base = OmegaConf.load(Path(__file__).parents[1] / "conf" / "analysis" / "layer_overlap.yaml")
    acfg = OmegaConf.merge(base, dict(L=2, N=4, alphas=[0.5], replicas=2, samples=2, anneal_sweeps=5,
                                      max_sweeps=20, sample_sweeps=2, snapshots=2, progress=False,
                                      backend=backend, seed=0))
    out = layer_overlap.run(acfg, tmp_path / "lo", [])
    assert 0.0 <= out["layer_overlap/alpha0.5/solved_frac"] <= 1.0
    return out


def smoke_function_space(backend: str) -> dict:
    from weightspace.function_space.simulate import simulate_dense, simulate_majk

    dense = simulate_dense("binary", [0.05] * 3, n=101, n_inputs=40, n_samples=2, seed=0, backend=backend)
    majk = simulate_majk(0.1, 3, n=99, n_layers=3, m0=0.3, n_inputs=40, n_samples=2, seed=0, backend=backend)
    return {"dense": dense, "majk": majk}


def test_standin_fit_app(standin, tmp_path):
    smoke_fit(tmp_path, "cupy")
    assert standin.counters.launches > 1000  # the kernels did run on the stand-in


def test_standin_landscape_apps(standin, tmp_path):
    smoke_landscape(fitted_models(tmp_path / "models"), tmp_path / "out", "cupy")
    assert standin.counters.launches > 1000


def test_standin_layer_overlap_app(standin, tmp_path):
    smoke_layer_overlap(tmp_path, "cupy")
    assert standin.counters.launches > 1000


@pytest.mark.parametrize("kind", ["dense", "majk"])
def test_standin_function_space_simulation(standin, kind):
    out = smoke_function_space("cupy")[kind]
    assert all(isinstance(v, np.ndarray) and np.isfinite(v).all() for v in out.values())
    assert standin.counters.launches > 10
