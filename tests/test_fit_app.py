"""fit_ising.py end to end on a small planted model: store -> moments -> fit -> model files."""

import json

import numpy as np
import pytest
from omegaconf import OmegaConf

from weightspace.apps.fit_ising import run, verify_mc
from weightspace.ensemble.store import open_store
from weightspace.ising.exact import exact_moments
from weightspace.ising.sampler import sample
from weightspace.nets.spins import n_spins

WIDTHS = [3, 2, 2, 2]  # 6 + 4 + 4 = 14 spins: parts full, lb (0-5), itr (6-9), rb (10-13)


def _planted(n, seed=0):
    rng = np.random.default_rng(seed)
    J = np.triu(rng.normal(0, 0.1, (n, n)), 1)
    J = J + J.T
    return J, rng.normal(0, 0.2, n)


@pytest.fixture
def store_dir(tmp_path):
    n = n_spins(WIDTHS)
    J, h = _planted(n)
    res = sample(J, h, n_chains=200, n_sweeps=200, burn_in=200, seed=1, keep_samples=True)
    configs = res.samples.reshape(-1, n).astype(np.int8)
    path = tmp_path / "outputs" / "ensembles" / "tiny"
    store = open_store(path, arch=WIDTHS, scenario="over_para", dataset="mnist_pca20")
    with store.writer("t") as w:
        w.add_batch(configs, np.linspace(0.7, 0.9, len(configs)).astype(np.float32), np.arange(len(configs)))
    return path, J, h


def test_fit_all_parts_from_latest_store(make_cfg, tmp_path, store_dir):
    path, J, h = store_dir
    cfg = make_cfg(
        "fit_ising",
        [
            "scenario=over_para",
            "logger=csv",
            "verify.chains=64",
            "verify.sweeps=200",
            "verify.three_spin_spins=10",
            f"arch.widths={WIDTHS}",
        ],
    )
    cfg.paths.root_dir = str(tmp_path)  # latest store of the scenario under <root>/outputs
    metrics = run(cfg)
    for part, (a, b) in {"full": (0, 14), "lb": (0, 6), "itr": (6, 10), "rb": (10, 14)}.items():
        z = np.load(tmp_path / f"model_{part}.npz")
        assert (int(z["start"]), int(z["stop"])) == (a, b) and str(z["part"]) == part
        assert int(z["n_configs"]) == 200 * 200 == metrics[f"{part}/n_configs"]  # the store's configurations
        assert np.allclose(z["J"], z["J"].T) and np.all(np.diag(z["J"]) == 0)
        assert metrics[f"{part}/delta_bp"] < 0.02 and np.isfinite(metrics[f"{part}/delta_mc"])
        assert 0.0 < float(z["bp_jacobian_radius"]) < 1.0  # weak planted couplings: a stable fixed point
    # BP correlations are direct-pair only: on this dense model the BP fit over-couples, which the
    # Monte-Carlo check must expose (delta_mc well above the data's own sampling error ~0.008)
    assert metrics["full/delta_mc"] > 0.02
    assert (tmp_path / "fit_summary.csv").is_file() and (tmp_path / "fig3b_moments_full.png").is_file()


def test_mc_method_recovers_the_planted_model(make_cfg, tmp_path, store_dir):
    path, J, h = store_dir
    cfg = make_cfg(
        "fit_ising",
        [
            "method=mc",
            "part=full",
            f"ensemble={path}",
            "logger=none",
            "verify.chains=200",
            "verify.sweeps=400",
            "verify.three_spin=false",
            f"arch.widths={WIDTHS}",
            "mc.chains=400",
            "mc.sweeps_per_step=20",
            "mc.max_steps=200",
            "mc.tol=0.006",
        ],
    )
    metrics = run(cfg)
    z = np.load(tmp_path / "model_full.npz")
    assert metrics["full/delta_mc"] < 0.012 and float(z["delta_mc_noise"]) == metrics["full/delta_mc_noise"] > 0
    assert len(z["delta_window"]) >= 1 and z["delta_window"].min() < 0.006
    assert np.abs(z["J"] - J).max() < 0.1 and np.abs(z["h"] - h).max() < 0.1


@pytest.mark.parametrize("temps", [1, 3])
def test_verification_noise_estimate_matches_the_error_of_a_perfect_model(temps):
    """For the true model delta_mc (vs exact moments) is pure sampling error, and delta_mc_noise
    (from the two halves of the chains) estimates it: mean squares agree within ±40% over
    8 seeds, with plain heat-bath chains and with replica exchange. For a wrong model (J × 1.5)
    delta_mc is far above the noise (at J × 1.3 the ratio straddles 4 across seeds)."""
    J, h = _planted(12)
    e = exact_moments(J, h)
    d2, noise2 = [], []
    verify = {
        "chains": 64,
        "burn_in": 50,
        "sweeps": 300,
        "dtype": "float32",
        "blas_threads": 1,
        "three_spin_samples": 3000,
        "temps": temps,
        "beta_min": 0.5,
    }
    for seed in range(8):
        cfg = OmegaConf.create({"seed": seed, "verify": verify})
        r = verify_mc(cfg, J, h, e.m[0], e.C[0], keep_samples=False)
        d2.append(r["delta_mc"] ** 2)
        noise2.append(r["delta_mc_noise"] ** 2)
    assert 0.7 < np.mean(d2) / np.mean(noise2) < 1.4
    wrong = verify_mc(cfg, 1.5 * J, h, e.m[0], e.C[0], keep_samples=True)
    assert wrong["delta_mc"] > 4 * wrong["delta_mc_noise"] and wrong["mc_samples"].shape == (32 * 100, 12)
    assert ("mc_swap_acceptance" in wrong) == (temps > 1)


def test_pseudolikelihood_method(make_cfg, tmp_path, store_dir):
    path, J, _ = store_dir
    cfg = make_cfg(
        "fit_ising",
        [
            "method=pseudolikelihood",
            "part=full",
            f"ensemble={path}",
            "logger=none",
            "verify.mc=false",
            f"arch.widths={WIDTHS}",
            "pseudolikelihood.lam=0.0",
        ],
    )
    run(cfg)
    z = np.load(tmp_path / "model_full.npz")
    assert np.abs(z["J"] - J).max() < 0.12 and str(z["method"]) == "pseudolikelihood"


def test_model_file_without_stability_cap_loads_without_pickle(make_cfg, tmp_path, monkeypatch):
    # no clipping level reached by fresh BP (here: none counts) -> start J = 0, rho None -> stored as NaN
    monkeypatch.setattr("weightspace.ising.boltzmann._reached", lambda *args: False)
    n = 6
    J, h = _planted(n, seed=3)
    from weightspace.ising.exact import exact_moments

    ex = exact_moments(J, h)
    np.savez(tmp_path / "mom.npz", m=np.asarray(ex.m).reshape(n), C=np.asarray(ex.C).reshape(n, n))
    run(make_cfg("fit_ising", [f"moments={tmp_path / 'mom.npz'}", "logger=none", "verify.mc=false"]))
    z = np.load(tmp_path / "model_full.npz")  # allow_pickle=False: object arrays would raise here
    assert np.isnan(z["rho"]) and z["rho"].dtype == np.float64


def test_external_moments_and_malformed_file(make_cfg, tmp_path):
    n = 8
    J, h = _planted(n, seed=2)
    from weightspace.ising.exact import exact_moments

    ex = exact_moments(J, h)
    np.savez(tmp_path / "mom.npz", m=np.asarray(ex.m).reshape(n), C=np.asarray(ex.C).reshape(n, n))
    cfg = make_cfg("fit_ising", [f"moments={tmp_path / 'mom.npz'}", "logger=none", "verify.mc=false"])
    metrics = run(cfg)
    assert metrics["full/delta_bp"] < 0.01
    np.savez(tmp_path / "bad.npz", m=np.zeros(3), C=np.zeros((2, 2)))
    cfg = make_cfg("fit_ising", [f"moments={tmp_path / 'bad.npz'}", "logger=none"])
    with pytest.raises(ValueError, match="bad.npz"):
        run(cfg)


def test_pseudolikelihood_sparsity_paths(make_cfg, tmp_path, store_dir):
    """lambda path and M path: sparsity 1 at lambda = lambda_max (both penalties), rising with lambda."""
    path, _, _ = store_dir
    cfg = make_cfg("fit_ising", ["method=pseudolikelihood", "part=full", f"ensemble={path}", "logger=none",
                                 "verify.mc=false", f"arch.widths={WIDTHS}", "pseudolikelihood.lam=0.3",
                                 "pseudolikelihood.lam_path=[0.01,0.3,1.01]", "pseudolikelihood.m_path=[2000]",
                                 "pseudolikelihood.max_configs=5000"])
    run(cfg)
    res = json.loads((tmp_path / "pl_sparsity_path.json").read_text())
    for p in res.values():
        assert p["by_lam"][-1] == 1.0 and p["by_lam"][0] <= p["by_lam"][1] < 1.0
        assert p["sizes"] == [2000, 5000] and p["by_m"][-1] == p["by_lam"][1]
    assert (tmp_path / "pl_sparsity_path.png").is_file()
