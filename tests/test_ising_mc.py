"""Monte-Carlo sampler, l1 pseudolikelihood and three-spin check against independent references.

References: exact enumeration (``weightspace.ising.exact``) for small N, the closed-form
autocorrelation time of an AR(1) series, scipy's L-BFGS-B on the split (w = u - v) form of
one l1 logistic regression, and Gaussian sampling statistics.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.special import erf

from weightspace.ising.exact import enumerate_states, exact_moments
from weightspace.ising.pseudolikelihood import fit_pseudolikelihood
from weightspace.ising.sampler import (
    geometric_ladder,
    integrated_autocorr_time,
    ising_energy,
    mc_moments_fn,
    metropolis_trace,
    sample,
    temper,
    tilt_sweep,
)
from weightspace.ising.threespin import compare_three_spin, fraction_within, triple_correlations


def random_model(n: int, j_std: float, h_std: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    J = np.triu(rng.normal(0.0, j_std, (n, n)), 1)
    return J + J.T, rng.normal(0.0, h_std, n)


def exact_distribution(J: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All 2^N states (rows) and their Boltzmann probabilities."""
    states = enumerate_states(J.shape[0], 0, 1 << J.shape[0], np)
    logw = -ising_energy(states, J, h)
    p = np.exp(logw - logw.max())
    return states, p / p.sum()


def iid_samples(J: np.ndarray, h: np.ndarray, m: int, seed: int) -> np.ndarray:
    states, p = exact_distribution(J, h)
    return states[np.random.default_rng(seed).choice(len(p), size=m, p=p)]


def exact_connected_triples(J: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact c_ijk (i<j<k, lexicographic) and M x the asymptotic variance of its estimate from
    M i.i.d. samples: E[phi^2] with the influence function
    phi = x_i x_j x_k - c_ijk - G_jk x_i - G_ik x_j - G_ij x_k (x = s - m, G = <x x>)."""
    states, p = exact_distribution(J, h)
    x = states - p @ states
    G = (x * p[:, None]).T @ x
    n = J.shape[0]
    i, j, k = np.array([(a, b, c) for a in range(n) for b in range(a + 1, n) for c in range(b + 1, n)]).T
    prod = x[:, i] * x[:, j] * x[:, k]
    c3 = p @ prod
    phi = prod - c3 - G[j, k] * x[:, i] - G[i, k] * x[:, j] - G[i, j] * x[:, k]
    return c3, p @ phi**2


# ---------------------------------------------------------------- sampler


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("rule", ["heatbath", "metropolis"])
def test_sampler_reproduces_enumerated_moments(rule, dtype):
    """m_i and raw C_ij of the tilted model at beta = 0.8 agree with enumeration within 5 s.e.,
    in double and single precision (moments are summed in float64 either way)."""
    n, beta, x = 12, 0.8, 0.5
    J, h = random_model(n, 0.35, 0.3, seed=1)
    star = np.where(np.random.default_rng(2).random(n) < 0.5, 1.0, -1.0)
    res = sample(
        J.astype(dtype),
        h.astype(dtype),
        n_chains=48,
        n_sweeps=1200,
        burn_in=100,
        beta=beta,
        x=x,
        sigma_star=star,
        rule=rule,
        seed=3,
        keep_samples=True,
    )
    ex = exact_moments(beta * J, beta * h + x * star)
    S = res.samples.astype(float)  # (T, R, N)
    iu = np.triu_indices(n, 1)
    per_chain = np.concatenate(
        [S.mean(axis=0), np.einsum("tri,trj->rij", S, S)[:, iu[0], iu[1]] / S.shape[0]], axis=1
    )  # (R, N + pairs)
    se = per_chain.std(axis=0, ddof=1) / np.sqrt(S.shape[1])
    mc = np.concatenate([res.m, res.C[iu]])
    exact = np.concatenate([ex.m[0], ex.C[0][iu]])
    z = (mc - exact) / se
    assert np.abs(z).max() < 5.0
    assert np.mean(z**2) < 2.0  # chi^2 per degree of freedom ~ 1 for an unbiased sampler
    assert res.m.dtype == res.C.dtype == np.float64
    atol = 1e-9 if dtype == "float64" else 1e-4
    np.testing.assert_allclose(res.energies.ravel(), ising_energy(S.reshape(-1, n), J, h), atol=atol)
    np.testing.assert_allclose(res.overlaps.ravel(), S.reshape(-1, n) @ star, atol=atol)
    assert 0.0 < res.acceptance < 1.0 and res.tau_reliable and res.tau_energy > 0


def test_integrated_autocorr_time_of_ar1():
    """AR(1) with coefficient rho has tau_int = (1 + rho) / (1 - rho) = 9 for rho = 0.8."""
    rng = np.random.default_rng(0)
    T, R, rho = 20000, 8, 0.8
    noise = rng.normal(size=(T, R))
    x = np.empty((T, R))
    x[0] = noise[0] / np.sqrt(1 - rho**2)
    for t in range(1, T):
        x[t] = rho * x[t - 1] + noise[t]
    tau, reliable = integrated_autocorr_time(x)
    assert abs(tau - 9.0) < 1.0 and reliable
    tau_white, _ = integrated_autocorr_time(noise)
    assert abs(tau_white - 1.0) < 0.1


def test_metropolis_trace_energies_and_equilibrium():
    """The trace starts at E(sigma*)/N, matches an independent observer, relaxes to <E>/N."""
    n = 12
    J, h = random_model(n, 0.35, 0.3, seed=4)
    star = np.where(np.random.default_rng(5).random(n) < 0.5, 1.0, -1.0)
    init = np.repeat(star[None], 64, axis=0)
    tr = metropolis_trace(
        J, h, init, n_sweeps=600, observe_every=2, observer=lambda S: ising_energy(S, J, h) / n, seed=6
    )
    e = np.asarray(tr.energy_per_spin)
    np.testing.assert_allclose(e, np.stack(tr.observed), atol=1e-9)
    np.testing.assert_allclose(e[0], ising_energy(star[None], J, h)[0] / n)
    assert tr.sweeps[-1] == 600 and len(tr.sweeps) == 301
    late = e[100:]  # after 200 sweeps
    chain_means = late.mean(axis=0)
    se = chain_means.std(ddof=1) / np.sqrt(late.shape[1])
    exact = float(exact_moments(J, h).energy[0]) / n
    assert abs(late.mean() - exact) < 5 * se


def test_persistent_mc_moments_for_boltzmann_learning():
    """mc_moments_fn keeps its chains and returns the model's m, raw C; with a single rung it is plain heat-bath
    sampling (the same random stream as ``sample``), with a ladder the target rung's moments."""
    n = 10
    J, h = random_model(n, 0.3, 0.3, seed=7)
    ex = exact_moments(J, h)
    fn = mc_moments_fn(n_chains=100, n_sweeps=150, seed=0, burn_in=50)
    m, C, state = fn(J, h, None)
    m, C, state2 = fn(J, h, state)
    assert state2.shape == (100, n) and not np.array_equal(state, state2)
    assert np.abs(m - ex.m[0]).max() < 0.04 and np.abs(C - ex.C[0]).max() < 0.04
    seed = int(np.random.default_rng(0).integers(2**31 - 1))  # the first draw of mc_moments_fn's seed stream
    ref = sample(J, h, 100, 150, burn_in=50, seed=seed)
    m1, C1, _ = mc_moments_fn(n_chains=100, n_sweeps=150, seed=0, burn_in=50)(J, h, None)
    np.testing.assert_array_equal(m1, ref.m)
    np.testing.assert_array_equal(C1, ref.C)
    fn = mc_moments_fn(n_chains=50, n_sweeps=150, seed=1, burn_in=50, temps=3, beta_min=0.5)
    m2, C2, state = fn(J, h, None)
    m2, C2, state = fn(J, h, state)
    assert state.shape == (150, n)
    assert np.abs(m2 - ex.m[0]).max() < 0.05 and np.abs(C2 - ex.C[0]).max() < 0.05


def test_tempering_target_moments_match_enumeration_on_a_tilted_model():
    """Replica exchange leaves every rung in equilibrium: the target's m, raw C and the mean tilted
    energy of each rung agree with enumeration of exp(-beta_k (E - x Q)) within 5 s.e."""
    n, x = 12, 0.4
    J, h = random_model(n, 0.35, 0.3, seed=11)
    star = np.where(np.random.default_rng(12).random(n) < 0.5, 1.0, -1.0)
    betas = geometric_ladder(0.3, 4)
    res = temper(J, h, betas, n_sets=32, n_sweeps=1500, burn_in=100, x=x, sigma_star=star, seed=13,
                 keep_samples=True)
    S = res.samples.astype(float)  # (T, sets, N)
    iu = np.triu_indices(n, 1)
    per_set = np.concatenate([S.mean(axis=0), np.einsum("tri,trj->rij", S, S)[:, iu[0], iu[1]] / S.shape[0]], axis=1)
    se = per_set.std(axis=0, ddof=1) / np.sqrt(S.shape[1])
    ex = exact_moments(J, h + x * star)
    z = (np.concatenate([res.m, res.C[iu]]) - np.concatenate([ex.m[0], ex.C[0][iu]])) / se
    assert np.abs(z).max() < 5.0 and np.mean(z**2) < 2.0
    K = np.asarray(res.energies) - x * np.asarray(res.overlaps)  # (n_kept, T, sets)
    for k, b in enumerate(betas):
        exact_k = float(exact_moments(b * J, b * (h + x * star)).energy[0]) / b  # <E - xQ> at beta_k
        means = K[:, k].mean(axis=0)
        assert abs(means.mean() - exact_k) < 5 * means.std(ddof=1) / np.sqrt(means.size)
    assert np.all(res.swap_acceptance > 0.2) and res.passages > 0
    np.testing.assert_allclose(S[:, 0] @ star, np.asarray(res.overlaps)[:, -1, 0])


def test_tempering_crosses_a_barrier_that_traps_single_spin_moves():
    """Curie-Weiss ferromagnet, N = 12, J_ij = 0.6, h_i = 0.02: the two ordered states are separated by
    a barrier of ~43 at beta = 1. Heat-bath chains started all up stay up (m ≈ 1); tempering from
    beta = 0.02 finds the exact mixture of the two states (m ≈ 0.24)."""
    n = 12
    J = 0.6 * (np.ones((n, n)) - np.eye(n))
    h = np.full(n, 0.02)
    exact_m = float(exact_moments(J, h).m[0].mean())
    up = np.ones(n)
    plain = sample(J, h, n_chains=32, n_sweeps=2000, burn_in=0, init=up, seed=0)
    assert float(plain.m.mean()) > 0.99 > exact_m + 0.5
    res = temper(J, h, geometric_ladder(0.02, 16), n_sets=32, n_sweeps=2000, burn_in=200, init=up, seed=1)
    assert abs(float(res.m.mean()) - exact_m) < 0.1
    assert res.passages > 50 and res.swap_acceptance.min() > 0.1


def test_tempering_rejects_bad_ladders():
    J, h = random_model(5, 0.3, 0.3, seed=0)
    with pytest.raises(ValueError, match="increasing"):
        temper(J, h, [1.0, 0.5], 2, 2)
    with pytest.raises(ValueError, match="beta_min"):
        geometric_ladder(0.0, 4)


def test_tilt_sweep_closed_form_and_first_order_loop():
    """MC tilt sweep: J = 0 gives d(x) = mean_i (1 - s*_i tanh(h_i + x s*_i))/2 on both branches (within
    5 s.e.); a Curie-Weiss ferromagnet (N = 64, beta J N = 1.5) tilted away from its all-up state keeps
    that state far past x = 0 and the branches form a loop around x = 0; at beta J N = 0.3 (paramagnet)
    they agree within 0.05."""
    xs = np.round(np.arange(3.0, -3.0 - 1e-9, -0.1), 10)
    n = 64
    rng = np.random.default_rng(0)
    h = rng.normal(0.0, 0.5, n)
    star = np.where(rng.random(n) < 0.5, 1.0, -1.0)
    res = tilt_sweep(np.zeros((n, n)), h, star[None], xs, n_chains=32, sweeps_per_point=6, seed=1)
    exact = np.array([np.mean((1 - star * np.tanh(h + x * star)) / 2) for x in xs])
    assert np.abs((res.d[0] - exact) / res.d_err[0]).max() < 5.0
    up = np.ones((1, n))
    gaps = {}
    for bjn in (1.5, 0.3):
        J = bjn / n * (np.ones((n, n)) - np.eye(n))
        r = tilt_sweep(J, np.zeros(n), up, xs, n_chains=16, sweeps_per_point=6, seed=0)
        gaps[bjn] = np.abs(r.d[0, 0] - r.d[0, 1])
    assert gaps[1.5].max() > 0.5 and abs(xs[gaps[1.5].argmax()]) < 0.5
    assert gaps[0.3].max() < 0.05


def test_sampler_rejects_bad_input():
    J, h = random_model(5, 0.3, 0.3, seed=0)
    with pytest.raises(ValueError, match="symmetric"):
        sample(J + np.eye(5), h, 2, 2)
    with pytest.raises(ValueError, match="rule"):
        sample(J, h, 2, 2, rule="glauber")
    with pytest.raises(ValueError, match="sigma_star"):
        sample(J, h, 2, 2, x=1.0)


# ---------------------------------------------------------------- pseudolikelihood


@pytest.fixture(scope="module")
def planted():
    """Sparse N = 20 model with couplings ±0.5 and 20 000 MC samples of it."""
    n = 20
    rng = np.random.default_rng(2)
    mask = np.triu(rng.random((n, n)) < 0.15, 1)
    J = np.where(mask, rng.choice([-0.5, 0.5], (n, n)), 0.0)
    J = J + J.T
    h = rng.normal(0.0, 0.1, n)
    res = sample(J, h, 200, 300, burn_in=100, thin=3, keep_samples=True, seed=1, accumulate_moments=False)
    return J, h, res.samples.reshape(-1, n)


def test_pseudolikelihood_recovers_planted_support_and_signs(planted):
    J0, h0, X = planted
    res = fit_pseudolikelihood(X, lam=0.05, tol=1e-4)
    iu = np.triu_indices(J0.shape[0], 1)
    true, est = J0[iu], res.J[iu]
    on = true != 0
    assert res.converged and res.kkt <= 1e-4
    assert np.all(np.sign(est[on]) == np.sign(true[on]))
    assert np.abs(est[on]).min() > 0.2
    assert np.mean(est[~on] == 0) > 0.8 and np.abs(est[~on]).max() < 0.05
    assert res.sparsity == pytest.approx(np.mean(est == 0))
    free = fit_pseudolikelihood(X, lam=0.0, tol=1e-4)  # unpenalised: consistent estimates
    assert free.sparsity == 0.0
    assert np.abs(free.J - J0).max() < 0.1 and np.abs(free.h - h0).max() < 0.1


def test_pseudolikelihood_lambda_max(planted):
    """lam_max_i = max_j |C_ij - m_i m_j|: at lam = 1 every coupling vanishes, below it none
    of the regressions is empty."""
    _, _, X = planted
    x = X.astype(float)
    conn = np.cov(x.T, bias=True)
    np.fill_diagonal(conn, 0.0)
    at = fit_pseudolikelihood(X, lam=1.0)
    np.testing.assert_allclose(at.lambda_max, np.abs(conn).max(axis=1), rtol=1e-5)
    assert at.sparsity == 1.0 and at.converged
    np.testing.assert_allclose(at.h, np.arctanh(x.mean(axis=0)), atol=1e-6)
    below = fit_pseudolikelihood(X, lam=0.9)
    assert np.all((below.W != 0).sum(axis=1) >= 1)


def test_pseudolikelihood_matches_scipy_on_one_regression(planted):
    """Regression i from the batched solver equals L-BFGS-B on w = u - v, u, v >= 0."""
    _, _, X = planted
    X = X[:5000].astype(float)
    lam, i = 0.1, 3
    res = fit_pseudolikelihood(X, lam=lam, tol=1e-6, max_iter=300)
    y, Z = X[:, i], np.delete(X, i, axis=1)
    pen = lam * res.lambda_max[i]
    k = Z.shape[1]

    def objective(p):
        u, v, b = p[:k], p[k : 2 * k], p[-1]
        H = b + Z @ (u - v)
        loss = np.mean(np.logaddexp(0.0, -2.0 * y * H))
        r = (np.tanh(H) - y) / len(y)  # dL/dH
        g = Z.T @ r
        return loss + pen * (u.sum() + v.sum()), np.concatenate([g + pen, -g + pen, [r.sum()]])

    bounds = [(0, None)] * (2 * k) + [(None, None)]
    opt = minimize(
        objective,
        np.zeros(2 * k + 1),
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options={"ftol": 1e-14, "gtol": 1e-10, "maxiter": 5000},
    )
    w_ref = opt.x[:k] - opt.x[k : 2 * k]
    np.testing.assert_allclose(np.delete(res.W[i], i), w_ref, atol=2e-3)
    assert res.h[i] == pytest.approx(opt.x[-1], abs=2e-3)
    w = np.delete(res.W[i], i)
    f_ours = objective(np.concatenate([np.maximum(w, 0), np.maximum(-w, 0), [res.h[i]]]))[0]
    assert f_ours <= opt.fun + 1e-7


def test_pseudolikelihood_rejects_non_spin_data():
    with pytest.raises(ValueError, match="±1"):
        fit_pseudolikelihood(np.zeros((10, 4)))


# ---------------------------------------------------------------- three-spin correlations


def test_triple_correlations_match_direct_sums():
    rng = np.random.default_rng(0)
    X = np.where(rng.random((300, 6)) < 0.6, 1.0, -1.0)
    triples = [(a, b, c) for a in range(6) for b in range(a + 1, 6) for c in range(b + 1, 6)]
    xc = X - X.mean(axis=0)
    raw = [np.mean(X[:, a] * X[:, b] * X[:, c]) for a, b, c in triples]
    conn = [np.mean(xc[:, a] * xc[:, b] * xc[:, c]) for a, b, c in triples]
    np.testing.assert_allclose(triple_correlations(X, "raw", chunk=70), raw, atol=1e-12)
    np.testing.assert_allclose(triple_correlations(X, "connected"), conn, atol=1e-12)


@pytest.fixture(scope="module")
def three_spin_models():
    J_a, h_a = random_model(12, 0.4, 0.6, seed=11)
    J_b, h_b = random_model(12, 0.4, 0.6, seed=12)
    return (J_a, h_a), (J_b, h_b)


def test_three_spin_fraction_follows_sampling_statistics(three_spin_models):
    """Data and 'model' both i.i.d. from the same model: the fraction within eps is
    mean_t erf(eps / sqrt(2 (v_t/M_d + v_t/M_m))) (v_t/M the estimator's variance), and -> 1."""
    (J, h), _ = three_spin_models
    _, v = exact_connected_triples(J, h)
    eps = np.array([0.005, 0.01, 0.02])
    data = iid_samples(J, h, 4000, seed=1)
    small = compare_three_spin(data, iid_samples(J, h, 4000, seed=2), n_spins=200, eps=eps)
    predicted = erf(eps[:, None] / np.sqrt(2 * (v / 4000 + v / 4000))).mean(axis=1)
    np.testing.assert_allclose(small.fraction, predicted, atol=0.06)
    big_data = iid_samples(J, h, 200_000, seed=3)
    big = compare_three_spin(big_data, iid_samples(J, h, 200_000, seed=4), eps=[0.015])
    assert small.fraction[1] < 0.8 and big.fraction[0] > 0.99


def test_three_spin_mc_model_vs_independent_model(three_spin_models):
    """MC samples of the data's own model match ~all triples at eps = 0.015; samples of an
    independent model match the share predicted by their exact correlations (low)."""
    (J_a, h_a), (J_b, h_b) = three_spin_models
    data = iid_samples(J_a, h_a, 200_000, seed=5)
    mc = sample(J_a, h_a, 100, 1000, burn_in=100, keep_samples=True, seed=6, accumulate_moments=False)
    same = compare_three_spin(data, mc.samples.reshape(-1, 12), eps=[0.015])
    assert same.fraction[0] > 0.95
    other = compare_three_spin(data, iid_samples(J_b, h_b, 200_000, seed=7), eps=[0.015])
    c_a, _ = exact_connected_triples(J_a, h_a)
    c_b, _ = exact_connected_triples(J_b, h_b)
    expected = fraction_within(c_a, c_b, 0.015)
    assert other.fraction[0] == pytest.approx(expected, abs=0.06)
    assert other.fraction[0] < 0.5
