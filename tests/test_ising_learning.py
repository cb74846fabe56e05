"""Closed-form inversions and Boltzmann learning of the effective Ising model (docs/design.md §3.3)."""

from __future__ import annotations

import numpy as np
import pytest

from weightspace.ising.boltzmann import boltzmann_learn
from weightspace.ising.bp import bp
from weightspace.ising.exact import exact_moments
from weightspace.ising.inverse import (
    correlation_spectrum,
    independent_pair,
    naive_mean_field,
    stable_correlations,
)
from weightspace.ising.moments import fit_delta, mixture_moments
from weightspace.ising.pseudolikelihood import fit_pseudolikelihood
from weightspace.ising.sampler import sample


def _exact_fn(J, h, state):
    r = exact_moments(J, h)
    return r.m[0], r.C[0], state


def _planted(n: int, scale: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    J = np.triu(rng.normal(0.0, scale, (n, n)), 1)
    return J + J.T, rng.normal(0.0, 0.3, n)


def _unstable_mixture(n: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """Four product-measure clusters: the exact independent-pair fixed point is unstable."""
    rng = np.random.default_rng(11)
    mu = np.tanh(rng.normal(0.0, 1.0, (4, n)))
    d = mixture_moments(mu, np.ones(4))
    return d.m, d.C


def test_independent_pair_is_exact_bp_fixed_point():
    m, C = _unstable_mixture()
    inv = independent_pair(m, C)
    r = bp(inv.J, inv.h, messages=inv.messages, tol=1e-12, max_iter=1)
    assert r.converged.all() and inv.n_floored == 0
    np.testing.assert_allclose(r.m[0], m, atol=1e-12)
    np.testing.assert_allclose(r.C[0], C, atol=1e-12)
    fresh = bp(inv.J, inv.h, tol=1e-8, max_iter=3000)  # ... but from scratch BP goes elsewhere
    assert fit_delta(m, C, fresh.m[0], fresh.C[0]) > 0.3


def test_independent_pair_recovers_planted_two_spin_models():
    rng = np.random.default_rng(12)
    for _ in range(5):
        j, h1, h2 = rng.normal(0.0, 1.0, 3)
        J = np.array([[0.0, j], [j, 0.0]])
        h = np.array([h1, h2])
        e = exact_moments(J, h)
        inv = independent_pair(e.m[0], e.C[0])
        np.testing.assert_allclose(inv.J, J, atol=1e-9)
        np.testing.assert_allclose(inv.h, h, atol=1e-9)


def test_naive_mean_field_first_order_in_weak_couplings():
    J, h = _planted(10, 0.03, seed=13)
    e = exact_moments(J, h)
    inv = naive_mean_field(e.m[0], e.C[0])
    err = np.abs(inv.J - J).max()
    assert err < 0.1 * np.abs(J).max()  # O(J²) corrections only
    J3, h3 = _planted(10, 0.3, seed=13)  # and visibly wrong at strong coupling
    e3 = exact_moments(J3, h3)
    assert np.abs(naive_mean_field(e3.m[0], e3.C[0]).J - J3).max() > 10 * err


def test_constant_spin_is_reported_not_nan():
    J, h = _planted(8, 0.1, seed=14)
    e = exact_moments(J, h)
    m, C = e.m[0].copy(), e.C[0].copy()
    m[3] = 1.0  # spin 3 never flips in the data
    C[3, :] = C[:, 3] = m
    C[3, 3] = 1.0
    for inv in (independent_pair(m, C), naive_mean_field(m, C)):
        assert inv.constant.tolist() == [i == 3 for i in range(8)]
        assert np.isfinite(inv.J).all() and np.isfinite(inv.h).all()
        assert (inv.J[3] == 0).all() and inv.h[3] > 5
    res = boltzmann_learn(m, C, tol=0.02, max_steps=50)
    assert np.isfinite(res.J).all() and np.isfinite(res.delta).all() and res.converged
    r = bp(res.J, res.h, tol=1e-10)
    assert r.m[0, 3] > 1 - 1e-4


def test_boltzmann_learning_recovers_planted_model_with_exact_moments():
    J, h = _planted(10, 0.3, seed=3)
    e = exact_moments(J, h)
    res = boltzmann_learn(e.m[0], e.C[0], moments_fn=_exact_fn, tol=1e-5, max_steps=1000, lr_J=0.02, lr_h=0.02)
    assert res.converged and res.delta[-1] < 1e-5
    np.testing.assert_allclose(res.J, J, atol=3e-3)
    np.testing.assert_allclose(res.h, h, atol=3e-3)


def test_sgd_baseline_improves_fit():
    J, h = _planted(10, 0.3, seed=4)
    e = exact_moments(J, h)
    res = boltzmann_learn(
        e.m[0], e.C[0], init="zero", moments_fn=_exact_fn, optimizer="sgd", lr_J=0.1, lr_h=0.3, tol=1e-4, max_steps=300
    )
    assert res.delta[-1] < 0.2 * res.delta[0]


def _magnetised(n: int = 10, seed: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Planted model with strong fields (mean |m| ≈ 0.57): couplings and fields interfere."""
    rng = np.random.default_rng(seed)
    J = np.triu(rng.normal(0.0, 0.2, (n, n)), 1)
    return J + J.T, rng.normal(0.8, 0.3, n) * rng.choice([-1, 1], n)


def _noisy_exact_fn(sigma: float, seed: int):
    """Exact moments plus independent N(0, sigma²) errors (symmetric in C): a stand-in for MC."""
    rng = np.random.default_rng(seed)

    def fn(J, h, state):
        m, C, _ = _exact_fn(J, h, state)
        E = np.triu(rng.normal(0.0, sigma, C.shape), 1)
        return m + rng.normal(0.0, sigma, m.shape), C + E + E.T, state

    return fn


def test_centering_lets_sgd_take_larger_steps():
    """With magnetised spins the plain gradient mixes h and J (h − J m^d direction is stiff):
    at the same step size plain SGD diverges while the centred one converges."""
    J, h = _magnetised()
    e = exact_moments(J, h)
    kw = dict(init="zero", moments_fn=_exact_fn, optimizer="sgd", lr_J=0.4, lr_h=0.4, tol=1e-9, max_steps=100)
    plain = boltzmann_learn(e.m[0], e.C[0], **kw)
    centred = boltzmann_learn(e.m[0], e.C[0], center=True, **kw)
    assert centred.delta[-1] < 2e-3 and plain.delta[-1] > 10 * centred.delta[-1]
    np.testing.assert_allclose(centred.J, J, atol=0.1)


def test_window_averaging_beats_the_last_noisy_iterate():
    """On noisy moments the window-averaged (J, h) is closer to the data (in exact moments) than the
    last iterate; learning stops at the first window whose averaged moments are within tol."""
    J, h = _magnetised()
    e = exact_moments(J, h)
    kw = dict(init="zero", optimizer="sgd", lr_J=0.1, lr_h=0.1, center=True, max_steps=400)
    exact_delta = {}
    for window in (None, 100):
        r = boltzmann_learn(e.m[0], e.C[0], moments_fn=_noisy_exact_fn(0.03, 1), window=window, tol=1e-9, **kw)
        x = exact_moments(r.J, r.h)
        exact_delta[window] = fit_delta(e.m[0], e.C[0], x.m[0], x.C[0])
    assert exact_delta[100] < 0.6 * exact_delta[None]
    r = boltzmann_learn(e.m[0], e.C[0], moments_fn=_noisy_exact_fn(0.03, 1), window=100, tol=0.01, **kw)
    assert r.steps == 200 and r.converged and len(r.delta_window) == 2 and r.delta_window[-1] < 0.01 < r.delta_window[0]


def test_bp_learning_ends_on_a_stable_fixed_point():
    m, C = _unstable_mixture()
    res = boltzmann_learn(m, C, max_steps=60, check_every=5)
    fresh = bp(res.J, res.h, tol=1e-8, max_iter=3000, seed=99)  # independent fresh start
    d_fresh = fit_delta(m, C, fresh.m[0], fresh.C[0])
    assert abs(d_fresh - res.delta_bp) < 1e-3  # the reported Δ_BP is what a fresh start sees
    assert res.delta_bp < 0.2  # the unstable exact point gives > 0.3 from scratch (test above)
    assert not res.fresh_disagrees  # the returned model's warm and fresh fixed points agree


def test_stability_threshold_of_clipped_correlations_is_one():
    """Linearised stability (inverse module docstring), weakly correlated clusters: clipping the
    modes of K at ρ < 1 gives an exact fixed point that BP reaches from scratch; at ρ > 1 it is
    unstable and BP goes elsewhere."""
    mu = np.tanh(np.random.default_rng(11).normal(0.0, 0.3, (4, 200)))
    d = mixture_moments(mu, np.ones(4))
    m, C = d.m, d.C
    sp = correlation_spectrum(m, C)
    assert sp.values.max() > 3.0  # the data's own fixed point is far from stable
    for rho, reached in ((0.9, True), (1.1, False)):
        target = stable_correlations(m, C, rho, sp)
        inv = independent_pair(m, target)
        fresh = bp(inv.J, inv.h, tol=1e-9, max_iter=5000, seed=5)
        hit = fit_delta(m, target, fresh.m[0], fresh.C[0]) < 1e-6
        assert hit == reached, rho


def test_stable_start_is_exact_when_the_data_fixed_point_is_stable():
    J, h = _planted(12, 0.1, seed=21)
    e = exact_moments(J, h)
    res = boltzmann_learn(e.m[0], e.C[0])
    assert res.rho == float("inf") and res.steps == 1  # unclipped, reached from scratch: done
    assert res.stopped == "tol"
    assert res.converged and res.delta_bp < 1e-5 and res.radius < 1.0
    # ... and BP's exact fixed point is the independent-pair inversion of the data
    inv = independent_pair(e.m[0], e.C[0])
    np.testing.assert_allclose(res.J, inv.J, atol=1e-6)


def test_bp_reachable_sk_model_is_recovered_although_lambda_max_k_exceeds_one():
    """Issue 14's counterexample to the λ_max(K) < 1 'floor': the BP moments of an SK paramagnet
    (β = 0.95) are fitted to delta_bp ≈ 0 (the planted couplings), not stopped at a clipped start."""
    rng = np.random.default_rng(7)
    n = 120
    J = np.triu(rng.normal(0.0, 0.95 / np.sqrt(n), (n, n)), 1)
    J = J + J.T
    h = rng.normal(0.0, 0.05, n)
    r = bp(J, h, tol=1e-10, max_iter=5000)
    m, C = r.m[0], r.C[0]
    assert correlation_spectrum(m, C).values.max() > 1.0
    res = boltzmann_learn(m, C, tol=0.001)
    assert res.converged and res.delta_bp < 1e-4 and res.radius < 1.0
    np.testing.assert_allclose(res.J, J, atol=1e-4)


def test_learning_improves_on_a_start_at_the_edge_of_stability():
    """Cluster mixture whose own fixed point is unstable: the start is clipped to BP's edge of
    stability; Eq. 5 then runs and returns a model strictly better by fresh-start Δ, whose delta_bp
    is what independent fresh starts see, at a stable fixed point."""
    m, C = _unstable_mixture()
    res = boltzmann_learn(m, C, optimizer="sgd", lr_J=0.002, lr_h=0.002, check_every=5, max_steps=30)
    assert 0 < res.rho < correlation_spectrum(m, C).values.max()
    assert res.steps > 1 and res.delta_bp < res.delta_bp_start and len(res.checks) > 1
    assert res.stopped in ("max_steps", "backtracks") and (res.stopped == "max_steps") == (res.steps == 30)
    assert res.radius < 1.0 and not res.fresh_disagrees
    for seed in (101, 202):
        fresh = bp(res.J, res.h, seed=seed)  # the definition: default damping, N(0, 0.01²) start
        assert fresh.converged[0]
        assert abs(fit_delta(m, C, fresh.m[0], fresh.C[0]) - res.delta_bp) < 1e-4


def test_learning_rejects_bad_options():
    m, C = _unstable_mixture(6)
    with pytest.raises(ValueError, match="optimizer"):
        boltzmann_learn(m, C, optimizer="lbfgs")
    with pytest.raises(ValueError, match="init"):
        boltzmann_learn(m, C, init="tap")
    with pytest.raises(ValueError, match="window"):
        boltzmann_learn(m, C, window=10)  # BP moments: no window averaging


def test_pseudolikelihood_standardized_penalty_as_l1_logreg_s():
    """standardize=True (l1_logreg -s): the optimum satisfies the KKT conditions of the penalty
    pen_i σ_j |W_ij| (σ_j = √(1 − m_j²)), checked with gradients computed here, and λ_max_i =
    max_j |C^c_ij| / σ_j: just above it every coupling is 0."""
    rng = np.random.default_rng(0)
    n = 10
    J, _ = _planted(n, 0.2, seed=30)
    h = rng.normal(0.0, 0.8, n)
    X = sample(J, h, n_chains=100, n_sweeps=60, burn_in=100, seed=1, keep_samples=True).samples.reshape(-1, n)
    X = X.astype(np.float64)
    m = X.mean(axis=0)
    sigma = np.sqrt(1.0 - m * m)
    cc = np.cov(X.T, bias=True)
    np.fill_diagonal(cc, 0.0)
    r = fit_pseudolikelihood(X, lam=0.2, standardize=True, tol=1e-7, max_iter=500)
    np.testing.assert_allclose(r.lambda_max, (np.abs(cc) / sigma[None, :]).max(axis=1), rtol=1e-5)
    H = X @ r.W.T + r.h[None, :]
    g = ((np.tanh(H) - X).T @ (X - m)) / X.shape[0]  # g[i, j] = ∂L_i/∂W_ij
    pen = 0.2 * r.lambda_max[:, None] * sigma[None, :]
    off = ~np.eye(n, dtype=bool)
    zero = (r.W == 0) & off
    assert zero.any() and (~zero & off).any()
    assert np.all(np.abs(g[zero]) <= pen[zero] + 1e-5)
    nz = ~zero & off
    np.testing.assert_allclose(g[nz], -pen[nz] * np.sign(r.W[nz]), atol=1e-5)
    assert fit_pseudolikelihood(X, lam=1.001, standardize=True).sparsity == 1.0
