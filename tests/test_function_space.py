"""Function-space landscape (Li & Saad 2018): recursions, max-entropy profiles, MAJ-k, simulations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from omegaconf import OmegaConf
from scipy import integrate

from weightspace.function_space import maxent
from weightspace.function_space.majk import (
    critical_flip_probability,
    majk_phase_diagram,
    stationary_magnetization,
)
from weightspace.function_space.recursions import (
    binary_overlaps,
    continuous_overlaps,
    majk_step,
    majk_trajectory,
    tanh_overlap,
)
from weightspace.function_space.simulate import simulate_dense, simulate_majk
from weightspace.function_space.trained import check_configs, layer_sensitivity
from weightspace.nets.forward import fixed_forward
from weightspace.nets.spins import layers_to_config

# ---------------------------------------------------------------- recursions


def test_dense_recursions_closed_form():
    """Eq. 8 with eta and Eq. 11 with p agree when sqrt(1-eta^2) = 1-2p, and match hand values."""
    p = np.array([0.1, 0.0, 0.25])
    eta = np.sqrt(1.0 - (1.0 - 2.0 * p) ** 2)
    qb, qc = binary_overlaps(p), continuous_overlaps(eta)
    np.testing.assert_allclose(qb, qc, atol=1e-14)
    q1 = 2 / math.pi * math.asin(0.8)
    q2 = 2 / math.pi * math.asin(q1)
    q3 = 2 / math.pi * math.asin(0.5 * q2)
    np.testing.assert_allclose(qb, [1.0, q1, q2, q3], atol=1e-14)


@pytest.mark.parametrize("c", [0.6, -0.35, 1.0])
def test_finite_beta_overlap_matches_quadrature(c):
    """Eq. 6 at beta = 3 against scipy 2-D adaptive quadrature (independent integration)."""
    beta = 3.0
    s = math.sqrt(1 - c * c)

    def f(z2, z1):
        return np.tanh(beta * z1) * np.tanh(beta * (c * z1 + s * z2)) * np.exp(-(z1**2 + z2**2) / 2) / (2 * np.pi)

    ref = integrate.dblquad(f, -10, 10, -10, 10, epsabs=1e-11)[0]
    assert abs(float(tanh_overlap(np.array(c), beta)) - ref) < 1e-8


def test_finite_beta_approaches_sign_limit():
    c = np.array([0.2, 0.7])
    gaps = [np.abs(tanh_overlap(c, b) - tanh_overlap(c)).max() for b in (2.0, 8.0, 32.0)]
    assert gaps[0] > gaps[1] > gaps[2] and gaps[2] < 0.02


def test_majk_step_matches_enumeration():
    """Eqs. 13-14 via the convolution of pair laws vs brute-force sum over all (s_hat, s) configurations."""
    rng = np.random.default_rng(1)
    for k in (3, 5):
        m_hat, m, q, p = 0.3, 0.2, 0.5, 0.1
        rho = 1 - 2 * p
        ref = np.zeros(3)
        for a in np.ndindex(*(2,) * (2 * k)):
            s_hat = 1 - 2 * np.array(a[:k])
            s = 1 - 2 * np.array(a[k:])
            w = np.prod(0.25 * (1 + s_hat * m_hat + s * m * rho + s_hat * s * q * rho))
            ref += w * np.array([np.sign(s_hat.sum()), np.sign(s.sum()), np.sign(s_hat.sum()) * np.sign(s.sum())])
        np.testing.assert_allclose(majk_step(m_hat, m, q, p, k), ref, atol=1e-13)
    # batched call equals elementwise calls
    ps = rng.uniform(0, 0.5, 4)
    batched = majk_step(np.full(4, 0.3), np.full(4, 0.2), np.full(4, 0.5), ps, 3)
    single = [majk_step(0.3, 0.2, 0.5, float(pv), 3) for pv in ps]
    np.testing.assert_allclose(np.stack(batched, axis=1), np.array(single), atol=1e-14)


# ---------------------------------------------------------------- MAJ-k transition


def test_majk3_critical_point_and_ordered_branch():
    """k = 3: p_c = 1/6 and m^inf = q^inf = sqrt((1-6p)/(1-2p)^3) below it (paper, Mozeika et al. 2009)."""
    assert abs(critical_flip_probability(3) - 1 / 6) < 0.005
    p = np.array([0.0, 0.03, 0.08, 0.12, 0.15, 0.2, 0.3])
    phase = majk_phase_diagram(p, 3)
    closed = np.sqrt(np.clip(1 - 6 * p, 0, None) / (1 - 2 * p) ** 3)
    np.testing.assert_allclose(phase.m_inf, closed, atol=1e-3)
    np.testing.assert_allclose(phase.q_inf, closed, atol=1e-3)
    assert phase.n_unconverged == 0
    # the same stationary state reached by iterating the full (m_hat, m, q) recursion in depth
    traj = majk_trajectory(p[1:5], 3, 400, m0=0.1)
    np.testing.assert_allclose(traj["m"][:, -1], closed[1:5], atol=1e-3)
    np.testing.assert_allclose(traj["q"][:, -1], closed[1:5], atol=1e-3)
    np.testing.assert_allclose(traj["m_hat"][:, -1], 1.0, atol=1e-12)


def test_majk5_critical_point_from_linearisation():
    """k = 5: slope of the MAJ-5 map at m = 0 is 15/8 (1-2p), so p_c = (1 - 8/15)/2 = 7/30."""
    assert abs(critical_flip_probability(5) - 7 / 30) < 1e-6
    assert stationary_magnetization(7 / 30 + 1e-3, 5) == 0.0


def test_majk_error_rises_then_falls_below_pc():
    """Fig. 2(f): delta(l) = (1 - q^l)/2 first grows, then decays, for p < p_c from a weakly biased input."""
    traj = majk_trajectory(np.array(0.05), 3, 60, m0=0.1)
    delta = 0.5 * (1 - traj["q"])
    peak = int(np.argmax(delta))
    assert 0 < peak < 59 and delta[peak] > delta[-1] + 0.05 and delta[peak] > delta[0] + 0.05


# ---------------------------------------------------------------- max-entropy profiles


def test_chain_reparametrisation_is_exact():
    """Every box point encodes a profile whose Eq. 8/11 forward recursion lands on q^L = 1 - 2 eps."""
    rng = np.random.default_rng(0)
    t = rng.random((50, 3))
    for eps in (0.1, 0.3, 0.45, 0.49):
        omr = maxent.one_minus_rho(maxent.chain_from_box(t, eps, 4))
        qc = continuous_overlaps(maxent.profile_from_omr(omr, "continuous"))
        qb = binary_overlaps(maxent.profile_from_omr(omr, "binary"))
        # Eq. 8/11 written in q lose digits near q = 1 (asin has infinite slope there), so tiny
        # early-layer perturbations (small eps) are checked at 1e-6, large eps at 1e-10
        tol = 1e-10 if eps > 0.48 else 1e-6
        np.testing.assert_allclose(qc[:, -1], 1 - 2 * eps, atol=tol, rtol=0)
        np.testing.assert_allclose(qb[:, -1], 1 - 2 * eps, atol=tol, rtol=0)


def _brute_force_binary_l3(eps: float, n: int = 1201) -> float:
    """Max S_bin for L = 3 on a (p_1, p_2) grid with p_3 solved from the constraint (Eq. 11)."""
    p1, p2 = np.meshgrid(np.linspace(0, 0.5, n), np.linspace(0, 0.5, n), indexing="ij")
    q2 = binary_overlaps(np.stack([p1, p2], axis=-1))[..., -1]
    with np.errstate(divide="ignore", invalid="ignore"):
        rho3 = np.sin(math.pi * (1 - 2 * eps) / 2) / q2
    ok = (rho3 >= 0) & (rho3 <= 1)
    p = np.stack([p1, p2, np.where(ok, (1 - rho3) / 2, 0.25)], axis=-1)
    ent = maxent.entropy_of_omr(2 * p.reshape(-1, 3), "binary").reshape(p1.shape)
    return float(np.where(ok, ent, -np.inf).max())


@pytest.mark.parametrize("eps", [0.05, 0.3, 0.42, 0.48])
def test_binary_maxent_is_global_optimum(eps):
    """The box search beats (up to grid resolution) an independent brute-force scan, never loses."""
    res = maxent.max_entropy_profile(eps, "binary", n_layers=3)
    brute = _brute_force_binary_l3(eps)
    assert res.entropy >= brute - 1e-9
    assert res.entropy <= brute + 2e-3
    assert res.n_unconverged == 0
    assert abs(binary_overlaps(res.profile)[-1] - (1 - 2 * eps)) < 1e-9


def test_continuous_maxent_is_stationary():
    """No feasible perturbation of the optimum (moving along the constraint surface) raises the entropy."""
    eps = 0.2
    res = maxent.max_entropy_profile(eps, "continuous")
    rng = np.random.default_rng(3)
    t = rng.random((20000, 3))
    assert maxent.box_entropy(t, eps, 4, "continuous").max() <= res.entropy + 1e-12
    np.testing.assert_allclose(continuous_overlaps(res.profile)[-1], 1 - 2 * eps, atol=1e-10)


def test_maxent_ordering_early_layers_align_first():
    """Fig. 2(a,b): eta*_1 < eta*_2 < ... at every eps; binary p*_1 reaches 0 first, then p*_2, p*_3."""
    grid = np.linspace(0.02, 0.49, 48)
    cont = maxent.max_entropy_curve(grid, "continuous")
    assert np.all(np.diff(cont.profiles, axis=1) > 0)
    binr = maxent.max_entropy_curve(grid, "binary")
    thr = maxent.alignment_thresholds(binr)
    assert thr[0] > thr[1] > thr[2] > 0.0 and np.isnan(thr[3])
    # below its threshold a layer stays aligned; at small eps only the last layer is perturbed
    for layer in range(3):
        assert np.all(binr.profiles[grid <= thr[layer], layer] < 1e-12)
    assert np.all(binr.profiles[grid < 0.25, :3] < 1e-12) and np.all(binr.profiles[:, 3] > 0)
    # the constrained entropy grows with eps (insets of Fig. 2a,b)
    assert np.all(np.diff(cont.entropy) > 0) and np.all(np.diff(binr.entropy) > 0)


def test_generalization_curve_asymptote():
    """Fig. 2(c): alpha eps*(alpha) -> constant at large alpha (eps* ~ 1/alpha)."""
    grid = np.geomspace(1e-7, 0.45, 70)
    cont = maxent.max_entropy_curve(grid, "continuous")
    alphas = np.array([1e2, 1e3, 1e4, 1e5])
    eps_star = maxent.generalization_curve(cont, alphas)
    prod = alphas * eps_star
    assert np.all(np.isfinite(prod))
    assert np.all(np.diff(eps_star) < 0)
    assert abs(prod[-1] / prod[-2] - 1) < 0.01 and abs(prod[-2] / prod[-3] - 1) < 0.02
    # the direct maximisation at one alpha agrees with the spline-based curve
    alpha = 1e3
    vals = cont.entropy + alpha * np.log1p(-cont.eps)
    j = int(np.argmax(vals))
    assert cont.eps[j - 1] <= eps_star[1] <= cont.eps[j + 1]


def test_maxent_bad_input():
    with pytest.raises(ValueError, match="eps"):
        maxent.max_entropy_profile(0.5, "binary")
    with pytest.raises(ValueError, match="kind"):
        maxent.max_entropy_profile(0.1, "ternary")


# ---------------------------------------------------------------- simulations vs theory


@pytest.mark.parametrize(
    ("kind", "profile", "theory"),
    [
        ("gaussian", [0.3, 0.5, 0.2, 0.6], continuous_overlaps),
        ("binary", [0.05, 0.1, 0.02, 0.2], binary_overlaps),
    ],
)
def test_dense_simulation_matches_theory(kind, profile, theory):
    sim = simulate_dense(kind, profile, n=301, n_inputs=100, n_samples=3, seed=0, backend="numpy")
    assert np.abs(sim["q"] - theory(np.array(profile))).max() < 0.02


def test_dense_simulation_finite_beta():
    profile = [0.2, 0.3, 0.2, 0.3]
    sim = simulate_dense("gaussian", profile, n=301, n_inputs=100, n_samples=3, seed=2, beta=2.0, backend="numpy")
    theory = continuous_overlaps(np.array(profile), beta=2.0)
    assert np.abs(sim["q"] - theory).max() < 0.02
    assert np.abs(theory - continuous_overlaps(np.array(profile))).max() > 0.1  # beta matters


def test_majk_simulation_matches_theory():
    sim = simulate_majk(0.1, 3, n=999, n_layers=4, m0=0.3, n_inputs=500, n_samples=3, seed=0, backend="numpy")
    theory = majk_trajectory(np.float64(0.1), 3, 4, 0.3)
    for key in ("m_hat", "m", "q"):
        assert np.abs(sim[key] - theory[key]).max() < 0.02


# ---------------------------------------------------------------- trained nets


@pytest.fixture(scope="module")
def teacher():
    rng = np.random.default_rng(0)
    widths = [12, 9, 10]
    weights = [rng.choice([-1.0, 1.0], size=(3, o, i)) for i, o in zip(widths[:-1], widths[1:], strict=True)]
    x = rng.standard_normal((3000, widths[0])).astype(np.float32)
    y = fixed_forward([w[0] for w in weights], x).argmax(-1)
    return widths, layers_to_config(weights).astype(np.int8), x, y


def test_trained_sensitivity_exact_limits(teacher):
    widths, configs, x, y = teacher
    sens = layer_sensitivity(configs[:1], widths, x, y, [0.0, 0.5, 1.0], n_draws=40, backend="numpy")
    assert sens.targets == ["layer1", "layer2", "all"]
    assert sens.acc_ref[0] == 1.0  # the teacher labels its own data
    np.testing.assert_array_equal(sens.eps[:, 0], 0.0)
    np.testing.assert_array_equal(sens.acc_drop[:, 0], 0.0)
    # flipping every weight of the last layer negates the logits: argmax -> argmin, eps = 1
    assert sens.eps[1, 2] == 1.0 and sens.acc_drop[1, 2] == 1.0
    # half the weights flipped: a random net, so agreement ~ 1/10 for 10 classes
    assert abs(sens.eps[2, 1] - 0.9) < 0.05
    assert np.all(sens.eps[:, 1] > 0.6)


def test_trained_sensitivity_averages_over_nets(teacher):
    widths, configs, x, y = teacher
    sens = layer_sensitivity(configs, widths, x, y, [0.1], n_draws=5, chunk=2, backend="numpy")
    one = [layer_sensitivity(configs[i : i + 1], widths, x, y, [0.1], n_draws=5, backend="numpy") for i in range(3)]
    assert sens.acc_ref.shape == (3,)
    assert np.all(sens.eps > 0) and np.all(sens.eps < 1)
    assert 0 < sens.eps_sem.max() < 0.1
    # different random flips, so compare nets' accuracies exactly and eps loosely
    np.testing.assert_array_equal(sens.acc_ref, np.concatenate([o.acc_ref for o in one]))
    assert abs(sens.eps.mean() - np.mean([o.eps.mean() for o in one])) < 0.1


def test_check_configs_errors(teacher):
    widths, configs, _, _ = teacher
    with pytest.raises(ValueError, match="spins"):
        check_configs(configs[:, :-1], widths, "c.npy")
    with pytest.raises(ValueError, match=r"\+-1"):
        check_configs(np.zeros_like(configs), widths, "c.npy")


# ---------------------------------------------------------------- app


def test_app_run_smoke(tmp_path, teacher):
    from weightspace.apps.analyses.function_space import run

    widths, configs, _, _ = teacher
    cfg = OmegaConf.load("conf/analysis/function_space.yaml")
    cfg.seed, cfg.backend = 0, "numpy"  # top-level keys in landscape.yaml, interpolated
    cfg.epsilons = {"min": 1e-4, "max": 0.49, "n_log": 12, "lin_min": 0.05, "n_lin": 6}
    cfg.search.n_grid = 9
    cfg.alphas = {"min": 10.0, "max": 1e3, "n": 5}
    cfg.majk.p.n = 21
    cfg.majk.layers = 20
    cfg.simulate = {
        **cfg.simulate,
        "N": 101,
        "inputs": 20,
        "samples": 2,
        "eta": [[0.2, 0.2, 0.2, 0.2]],
        "p": [[0.05, 0.05, 0.05, 0.05]],
        "maxent_eps": [0.45],
        "majk_p": [0.1],
        "majk_inputs": 50,
        "majk_samples": 2,
    }
    cfg.backend = "numpy"
    np.save(tmp_path / "configs.npy", configs)
    cfg.configs = str(tmp_path / "configs.npy")
    cfg.widths = widths
    cfg.dataset = {
        "name": "teacher",
        "source": "teacher_student",
        "n_inputs": 12,
        "teacher_widths": widths,
        "n_train": 10,
        "n_test": 300,
        "seed": 0,
    }
    cfg.trained.p = [0.0, 0.1]
    cfg.trained.p_report = 0.1
    cfg.trained.draws = 2
    metrics = run(cfg, tmp_path / "out", [])
    out = tmp_path / "out"
    for name in (
        "fig2ab_maxent.png",
        "fig2c_generalization.png",
        "fig2def_majk.png",
        "simulation_vs_theory.png",
        "trained_sensitivity.png",
        "function_space.npz",
        "function_space_maxent.csv",
        "function_space_simulation.csv",
        "function_space_trained.csv",
    ):
        assert (out / name).is_file(), name
    assert abs(metrics["majk_p_c"] - 1 / 6) < 1e-6
    assert metrics["maxent_continuous_eta_increasing_with_layer"] == 1.0
    assert "trained_eps_all_p0.1" in metrics
    with np.load(out / "function_space.npz") as z:
        assert z["p_star"].shape == (len(z["eps"]), 4)
    cfg.configs = None
    cfg.sections = ["trained"]
    assert run(cfg, tmp_path / "skip", []) == {}
    cfg.sections = ["nope"]
    with pytest.raises(ValueError, match="sections"):
        run(cfg, tmp_path / "bad", [])
