"""Smoke tests of every landscape analysis app on a small synthetic fitted model and ensemble."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import compose_cfg
from omegaconf import OmegaConf

from weightspace.apps.analyses import (
    entropy,
    heat_capacity,
    iso_energy,
    mc_dynamics,
    mc_sweep,
    permutation,
    tap,
)
from weightspace.apps.analyses.common import load_models
from weightspace.ensemble.store import open_store
from weightspace.ising.sampler import ising_energy
from weightspace.landscape.inputs import LEVELS, pick_by_level
from weightspace.nets.spins import n_spins, part_slice

WIDTHS = [20, 3, 3, 10]  # N = 60 + 9 + 30 = 99; matches MNIST-PCA20 for the accuracy observer


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Store of 400 configurations and weakly coupled 'fitted' models of every part."""
    root = tmp_path_factory.mktemp("fit")
    rng = np.random.default_rng(0)
    n = n_spins(WIDTHS)
    store = open_store(root / "store", arch=WIDTHS, scenario="test", dataset="mnist_pca20")
    configs = np.where(rng.random((400, n)) < 0.6, 1, -1).astype(np.int8)
    with store.writer("w0") as w:
        w.add_batch(configs, [0.8] * 400, list(range(400)))
    for part in ("full", "lb", "itr", "rb"):
        sl = part_slice(WIDTHS, part)
        k = sl.stop - sl.start
        J = np.triu(rng.normal(0, 0.3 / np.sqrt(k), (k, k)), 1)
        np.savez(
            root / f"model_{part}.npz",
            J=J + J.T,
            h=rng.normal(0.2, 0.2, k),
            part=part,
            start=sl.start,
            stop=sl.stop,
            widths=WIDTHS,
            method="boltzmann",
            delta_bp=0.01,
            delta_mc=np.nan,
            ensemble=str(root / "store"),
        )
    return root


def _acfg(name: str, fitted: Path, tmp_path: Path, extra: dict) -> OmegaConf:
    cfg = compose_cfg("landscape", [f"analysis=[{name}]", "logger=none", "backend=numpy"], tmp_path)
    acfg = OmegaConf.create(OmegaConf.to_container(cfg.analysis[name], resolve=True))
    acfg.widths = WIDTHS
    acfg.progress = False
    acfg.model.dir = str(fitted)
    return OmegaConf.merge(acfg, OmegaConf.create(extra))


def test_reference_levels_pick_energy_quantiles() -> None:
    e = np.arange(1000.0)[::-1]
    for level, (lo, hi) in LEVELS.items():
        idx = pick_by_level(e, level, 20, 0)
        assert np.all(e[idx] >= np.quantile(e, lo) - 1) and np.all(e[idx] <= np.quantile(e, hi) + 1)
    with pytest.raises(ValueError, match="references.level"):
        pick_by_level(e, "lowest", 3, 0)


def test_entropy_app_writes_interface(fitted: Path, tmp_path: Path) -> None:
    acfg = _acfg(
        "entropy", fitted, tmp_path, {"references": {"count": 3, "pool": 400}, "x": {"step": 0.25}}
    )
    metrics = entropy.run(acfg, tmp_path, [])
    with np.load(tmp_path / "itr" / "landscape.npz") as z:
        assert z["x"].shape == (25,) and z["x"][0] == 3.0
        for key in ("d", "s", "energy", "free_energy", "q", "converged"):
            assert z[key].shape == (3, 2, 25)
        assert float(z["hysteresis_size"]) < 0.05
        refs = z["references"]
    full = np.load(tmp_path / "references.npy")
    sl = part_slice(WIDTHS, "itr")
    np.testing.assert_array_equal(refs, full[:, sl])
    with np.load(fitted / "model_full.npz") as m:  # low level: lowest decile under the full model
        e_all = ising_energy(
            np.where(np.random.default_rng(0).random((400, 99)) < 0.6, 1.0, -1.0), m["J"], m["h"]
        )
        e_ref = ising_energy(full.astype(float), m["J"], m["h"])
    assert np.all(e_ref <= np.quantile(e_all, 0.10) + 1e-9)
    assert metrics["full/loop_fraction"] == 0.0 and metrics["lb/unconverged_points"] == 0.0
    assert (tmp_path / "entropy_landscape.png").stat().st_size > 0


def test_other_apps_run(fitted: Path, tmp_path: Path) -> None:
    refs = {"references": {"count": 2, "pool": 400}}
    small_x = {"x": {"max": 1.0, "min": -1.0, "step": 0.5}}
    m = tap.run(_acfg("tap", fitted, tmp_path, {"parts": "rb", "n_starts": 50}), tmp_path, [])
    assert m["rb/converged_fraction"] == 1.0 and m["rb/distinct_fixed_points"] == 1.0
    m = iso_energy.run(
        _acfg("iso_energy", fitted, tmp_path, {"parts": "itr", **refs, **small_x}), tmp_path, []
    )
    assert (tmp_path / "iso_energy_itr.npz").exists()
    m = mc_dynamics.run(
        _acfg("mc_dynamics", fitted, tmp_path, {**refs, "trials": 3, "n_sweeps": 4}), tmp_path, []
    )
    assert 0.0 <= m["full/accuracy_end"] <= 1.0 and m["full/acceptance"] > 0
    m = heat_capacity.run(
        _acfg(
            "heat_capacity",
            fitted,
            tmp_path,
            {
                "parts": "itr",
                "references": {"count": 1, "pool": 400},
                "x_values": [1.0],
                "mc": {"n_lam": 5, "n_chains": 8, "n_sweeps": 200, "burn_in": 50},
            },
        ),
        tmp_path,
        [],
    )
    assert m["itr/max_abs_s_mc_minus_bp"] < 0.05  # weak couplings: BP ≈ exact; MC error ~0.01
    m = permutation.run(
        _acfg(
            "permutation",
            fitted,
            tmp_path,
            {
                "parts": "itr",
                **refs,
                **small_x,
                "r_ps": [0.0, 0.6],
                "ensemble_size": 400,
                "fit": {"max_steps": 20},
            },
        ),
        tmp_path,
        [],
    )
    assert np.isfinite(m["itr/r0.6/s_x0"]) and (tmp_path / "permutation.png").exists()
    m = mc_sweep.run(
        _acfg("mc_sweep", fitted, tmp_path, {"parts": "rb", **refs, **small_x, "n_chains": 8, "sweeps_per_point": 10}),
        tmp_path,
        [],
    )
    z = np.load(tmp_path / "mc_sweep.npz")
    assert z["d_rb"].shape == (2, 2, 5) and m["rb/loop_fraction"] == 0.0  # weak couplings: no loop
    assert (tmp_path / "mc_sweep_hysteresis.png").stat().st_size > 0


def test_parts_from_fits_of_different_methods_are_flagged(fitted: Path, tmp_path: Path, caplog) -> None:
    # newest fit per part (model.dir unset): a later pseudolikelihood fit of `full` only mixes methods
    root = tmp_path / "outputs" / "fit_ising" / "test"
    (root / "a").mkdir(parents=True)
    for part in ("full", "lb", "itr", "rb"):
        shutil.copy(fitted / f"model_{part}.npz", root / "a" / f"model_{part}.npz")
    (root / "b").mkdir()
    z = dict(np.load(fitted / "model_full.npz"))
    np.savez(root / "b" / "model_full.npz", **(z | {"method": "pseudolikelihood"}))
    os.utime(root / "b" / "model_full.npz", (2e9, 2e9))  # the newest file
    acfg = OmegaConf.create({"parts": "all", "widths": WIDTHS, "model": {"path": None, "dir": None,
                             "fit_root": str(tmp_path / "outputs" / "fit_ising"), "scenario": "test", "method": None}})
    with caplog.at_level(logging.WARNING):
        models = load_models(acfg)
    assert [m.method for m in models] == ["pseudolikelihood", "boltzmann", "boltzmann", "boltzmann"]
    assert "different methods" in caplog.text
    caplog.clear()
    acfg.model.method = "boltzmann"
    with caplog.at_level(logging.WARNING):
        assert {m.method for m in load_models(acfg)} == {"boltzmann"}
    assert "different methods" not in caplog.text


def test_newest_fit_is_found_in_single_and_multirun_dirs(tmp_path: Path) -> None:
    from weightspace.landscape.inputs import latest_model

    root = tmp_path / "fit_ising"
    h = np.zeros(3)
    for k, (sub, scenario) in enumerate([("over_para/2026-01-01_00-00-00", None), ("multirun/t/0", "over_para"),
                                          ("multirun/t/1", "shallow")]):
        (root / sub).mkdir(parents=True)
        extra = {} if scenario is None else {"scenario": scenario}  # older files: scenario from the path
        np.savez(root / sub / "model_full.npz", J=np.zeros((3, 3)), h=h, method="bethe", **extra)
        os.utime(root / sub / "model_full.npz", (1000 + k, 1000 + k))
    assert latest_model(root, "over_para", "full") == root / "multirun/t/0/model_full.npz"
    assert latest_model(root, "shallow", "full") == root / "multirun/t/1/model_full.npz"
    os.utime(root / "over_para/2026-01-01_00-00-00/model_full.npz", (2000, 2000))
    assert latest_model(root, "over_para", "full").parent.name == "2026-01-01_00-00-00"
    with pytest.raises(ValueError, match="no model_full.npz of scenario under_para"):
        latest_model(root, "under_para", "full")


def test_permutation_refit_learns_as_fit_ising(tmp_path: Path) -> None:
    """Fig. 10's refits use fit_ising's method=bethe: the same settings by default, and at r_ps = 0
    the same model as fit_ising's learner on the same moments."""
    from weightspace.apps.fit_ising import learn_bethe

    fit_cfg = compose_cfg("fit_ising", ["logger=none"], tmp_path)
    land = compose_cfg("landscape", ["analysis=[permutation]", "logger=none"], tmp_path)
    fit = OmegaConf.to_container(land.analysis.permutation.fit, resolve=True)
    assert fit.pop("seed") == land.seed
    assert fit == OmegaConf.to_container(fit_cfg.bethe, resolve=True)
    rng = np.random.default_rng(0)
    s = np.sign(rng.normal(size=(300, 12)) + 0.4 * rng.normal(size=(300, 1)))
    m, C = s.mean(0), s.T @ s / len(s)
    J, h, info = permutation.refit(m, C, land.analysis.permutation.fit)
    ref = learn_bethe(OmegaConf.merge(fit_cfg, {"seed": land.seed}), m, C)
    np.testing.assert_array_equal(J, np.asarray(ref.J))
    np.testing.assert_array_equal(h, np.asarray(ref.h))
    assert info["delta"] == pytest.approx(float(ref.delta_bp))
