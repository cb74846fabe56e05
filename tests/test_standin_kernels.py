"""Every physics kernel on NumPy and on the strict CuPy stand-in (``xp`` fixture, tests/conftest.py).

Each test runs the kernel on ``xp`` arrays and checks it against a second method (exact enumeration,
closed forms) and, on the stand-in, against the same call on NumPy: deterministic kernels to rounding,
seeded Monte Carlo bit for bit (host-independent random streams, weightspace.backend.CounterRNG).
``pytest -k standin`` runs the CuPy code paths.
"""

from __future__ import annotations

import numpy as np
import pytest

from weightspace.backend import CounterRNG, array_module, to_numpy
from weightspace.ising import sampler
from weightspace.ising.bp import bp, bp_multistart
from weightspace.ising.exact import exact_moments
from weightspace.ising.inverse import independent_pair, naive_mean_field
from weightspace.ising.moments import fit_delta, spin_moments
from weightspace.ising.pseudolikelihood import fit_pseudolikelihood
from weightspace.ising.threespin import compare_three_spin, triple_correlations
from weightspace.landscape.entropy import entropy_landscape
from weightspace.landscape.iso_energy import iso_energy_landscape
from weightspace.landscape.tap import random_starts, tap_iterate
from weightspace.landscape.thermo import thermo_entropy
from weightspace.overlaps import solution_mc as smc


def model(n: int, j_std: float, h_std: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    J = np.triu(rng.normal(0.0, j_std, (n, n)), 1)
    return J + J.T, rng.normal(0.0, h_std, n)


def spins(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return np.where(rng.random(shape) < 0.5, 1.0, -1.0)


def on(xp, *arrays):
    return [xp.asarray(a) for a in arrays]


def host(a):
    return None if a is None else to_numpy(a)


# ---------------------------------------------------------------- random streams


def test_counter_rng_same_numbers_on_every_backend(xp):
    """The counter-based stream is a pure function of (seed, counter): same numbers on NumPy and the
    stand-in, uniform in [0, 1), integers in range, exponentials and normals with the right moments."""
    g, ref = CounterRNG(xp, 11), CounterRNG(np, 11)
    u = g.random((400, 250))
    assert array_module(u) is xp
    np.testing.assert_array_equal(host(u), ref.random((400, 250)))
    v = host(u).ravel()
    assert 0.0 <= v.min() and v.max() < 1.0 and abs(v.mean() - 0.5) < 4 * np.sqrt(1 / 12 / v.size)
    k = host(g.integers(3, 10, size=(1000,)))
    assert k.min() == 3 and k.max() == 9 and k.dtype == np.int64
    e, z = host(g.standard_exponential((50000,))), host(g.standard_normal((50000,)))
    assert abs(e.mean() - 1) < 0.02 and abs(z.mean()) < 0.02 and abs(z.std() - 1) < 0.02
    np.testing.assert_array_equal(np.sort(host(g.permutation(50))), np.arange(50))
    assert not np.array_equal(CounterRNG(np, 12).random(8), CounterRNG(np, 11).random(8))


def test_counter_rng_pool_does_not_change_the_stream(xp):
    """Draws of any sizes are consecutive slices of one stream: the pool (refilled and grown as it
    runs out) hands out exactly the counters a direct computation would."""
    from weightspace.backend import counter_uniforms

    g = CounterRNG(xp, 5)
    sizes = [1, 7, 4000, 3, 5000, 20000, 2, (30, 40), 70000, 9]
    got = np.concatenate([host(g.random(s)).ravel() for s in sizes])
    np.testing.assert_array_equal(got, host(counter_uniforms(xp, g.key, 0, got.size)))
    assert g.counter == got.size


# ---------------------------------------------------------------- BP, exact, inverse, moments


def test_bp_matches_enumeration_on_weak_model(xp):
    J, h = model(10, 0.08, 0.3, 1)
    r = bp(*on(xp, J, h), tol=1e-10, max_iter=2000)
    ex = exact_moments(J, h)
    assert bool(host(r.converged).all())
    np.testing.assert_allclose(host(r.m)[0], ex.m[0], atol=3e-3)
    np.testing.assert_allclose(host(r.free_energy)[0], -ex.log_z[0], atol=2e-3)
    np.testing.assert_allclose(host(r.m), host(bp(J, h, tol=1e-10, max_iter=2000).m), atol=1e-12)


def test_bp_multistart_and_batched_systems(xp):
    J, h = model(8, 0.3, 0.2, 2)
    Jb, hb = np.stack([J, 0.5 * J]), np.stack([h, -h])
    res = bp_multistart(*on(xp, Jb, hb), n_starts=3, tol=1e-9)
    ref = bp_multistart(Jb, hb, n_starts=3, tol=1e-9)
    np.testing.assert_allclose(host(res.m_spread), host(ref.m_spread), atol=1e-9)
    np.testing.assert_array_equal(res.best, ref.best)


def test_exact_moments_on_backend(xp):
    J, h = model(9, 0.4, 0.3, 3)
    ex, ref = exact_moments(*on(xp, J, h)), exact_moments(J, h)
    np.testing.assert_allclose(host(ex.log_z), ref.log_z, rtol=1e-12)
    np.testing.assert_allclose(host(ex.C), ref.C, atol=1e-12)


def test_inverse_methods_on_backend(xp):
    rng = np.random.default_rng(4)
    S = spins(rng, (3000, 12))
    S[:, 1] = S[:, 0] * np.where(rng.random(3000) < 0.8, 1, -1)
    mom = spin_moments(xp.asarray(S))
    ref = spin_moments(S)
    np.testing.assert_allclose(host(mom.C), ref.C, atol=1e-12)
    for fit in (naive_mean_field, independent_pair):
        a, b = fit(mom.m, mom.C), fit(ref.m, ref.C)
        np.testing.assert_allclose(host(a.J), host(b.J), atol=1e-9)
        np.testing.assert_allclose(host(a.h), host(b.h), atol=1e-9)
    # the strongly correlated pair gets the dominant coupling, atanh(0.6)/1 for an isolated pair
    assert abs(host(independent_pair(mom.m, mom.C).J)[0, 1] - np.arctanh(host(mom.C)[0, 1])) < 0.1
    assert fit_delta(mom.m, mom.C, mom.m, mom.C) == 0.0


# ---------------------------------------------------------------- pseudolikelihood, three-spin


def test_pseudolikelihood_on_backend(xp):
    J, h = model(8, 0.5, 0.2, 5)
    S = sampler.sample(J, h, n_chains=64, n_sweeps=60, burn_in=20, keep_samples=True, seed=1).samples
    S = S.reshape(-1, 8).astype(float)
    res, ref = fit_pseudolikelihood(xp.asarray(S), lam=0.01), fit_pseudolikelihood(S, lam=0.01)
    np.testing.assert_allclose(host(res.J), host(ref.J), atol=1e-6)
    np.testing.assert_allclose(host(res.h), host(ref.h), atol=1e-6)
    assert res.converged == ref.converged and res.sparsity == pytest.approx(ref.sparsity)
    assert np.corrcoef(host(res.J)[np.triu_indices(8, 1)], J[np.triu_indices(8, 1)])[0, 1] > 0.9


def test_three_spin_on_backend(xp):
    rng = np.random.default_rng(6)
    a, b = spins(rng, (2000, 9)), spins(rng, (2000, 9))
    np.testing.assert_allclose(host(triple_correlations(xp.asarray(a))), host(triple_correlations(a)),
                               atol=1e-12)
    c, r = compare_three_spin(*on(xp, a, b), n_spins=9), compare_three_spin(a, b, n_spins=9)
    np.testing.assert_allclose(host(c.fraction), host(r.fraction))


# ---------------------------------------------------------------- entropy landscape, iso-energy, TAP


def test_entropy_landscape_matches_independent_spins(xp):
    """J = 0: d(x) and s(x) in closed form, q = tanh(h s* + x)."""
    n = 6
    h = np.linspace(-0.5, 0.5, n)
    refs = spins(np.random.default_rng(7), (2, n))
    x = np.linspace(1.0, -1.0, 9)
    land = entropy_landscape(*on(xp, np.zeros((n, n)), h), xp.asarray(refs), x, dtype="float64")
    ref = entropy_landscape(np.zeros((n, n)), h, refs, x, dtype="float64")
    q = np.tanh(h[None, :, None] * refs[:, :, None] + x[None, None, :]) * 1.0
    q = (refs[:, :, None] * np.tanh(h[None, :, None] + x[None, None, :] * refs[:, :, None])).mean(1)
    np.testing.assert_allclose(land.q[:, 0], q, atol=1e-6)
    np.testing.assert_allclose(land.s, ref.s, atol=1e-9)


def test_entropy_landscape_matches_enumeration(xp):
    J, h = model(9, 0.1, 0.2, 8)
    ref = spins(np.random.default_rng(9), (1, 9))
    x = np.array([0.5, 0.0, -0.5])
    land = entropy_landscape(*on(xp, J, h), xp.asarray(ref), x, dtype="float64", tol=1e-10)
    for t, xt in enumerate(x):
        ex = exact_moments(J, h + xt * ref[0])
        assert abs(land.q[0, 0, t] - float(ex.m[0] @ ref[0]) / 9) < 5e-3


def test_iso_energy_on_backend(xp):
    J, h = model(8, 0.2, 0.2, 10)
    ref = spins(np.random.default_rng(11), (1, 8))
    x = np.array([0.3, 0.0])
    res = iso_energy_landscape(*on(xp, J, h), xp.asarray(ref), x)
    base = iso_energy_landscape(J, h, ref, x)
    np.testing.assert_allclose(res.beta, base.beta, atol=1e-6)


def test_tap_on_backend(xp):
    J, h = model(20, 0.05, 0.3, 12)
    m0 = random_starts(6, 20, seed=1, xp=xp)
    res = tap_iterate(*on(xp, J, h), m0)
    base = tap_iterate(J, h, random_starts(6, 20, seed=1, xp=np))
    assert res.converged.all()
    np.testing.assert_allclose(host(res.m), host(base.m), atol=1e-9)
    np.testing.assert_allclose(host(res.free_energy), host(base.free_energy), atol=1e-9)


# ---------------------------------------------------------------- Monte Carlo (bit-identical across backends)


@pytest.mark.parametrize("rule", sampler.RULES)
def test_sampler_same_seed_same_numbers(xp, rule):
    J, h = model(12, 0.35, 0.3, 13)
    star = spins(np.random.default_rng(14), (12,))
    kw = dict(n_chains=16, n_sweeps=40, burn_in=5, beta=0.8, x=0.4, rule=rule, seed=3, keep_samples=True)
    res = sampler.sample(*on(xp, J, h), sigma_star=xp.asarray(star), **kw)
    base = sampler.sample(J, h, sigma_star=star, **kw)
    np.testing.assert_array_equal(host(res.samples), base.samples)
    np.testing.assert_allclose(host(res.C), base.C, atol=1e-12)
    assert res.acceptance == pytest.approx(base.acceptance)


def test_tempering_same_seed_same_numbers(xp):
    J, h = model(10, 0.5, 0.1, 15)
    kw = dict(n_sets=6, n_sweeps=30, burn_in=5, seed=4)
    res = sampler.temper(*on(xp, J, h), [0.3, 0.6, 1.0], **kw)
    base = sampler.temper(J, h, [0.3, 0.6, 1.0], **kw)
    np.testing.assert_allclose(host(res.energies), base.energies, atol=1e-9)
    np.testing.assert_array_equal(res.swap_acceptance, base.swap_acceptance)
    assert res.passages == base.passages


def test_metropolis_trace_and_tilt_sweep_on_backend(xp):
    J, h = model(10, 0.3, 0.2, 16)
    start = spins(np.random.default_rng(17), (3, 10))
    tr = sampler.metropolis_trace(*on(xp, J, h), xp.asarray(start), n_sweeps=8, observe_every=2, seed=5)
    base = sampler.metropolis_trace(J, h, start, n_sweeps=8, observe_every=2, seed=5)
    np.testing.assert_allclose(host(tr.energy_per_spin), base.energy_per_spin, atol=1e-12)
    ts = sampler.tilt_sweep(*on(xp, J, h), xp.asarray(start[:1]), [1.0, 0.0, -1.0], n_chains=4,
                            sweeps_per_point=4, seed=6)
    tb = sampler.tilt_sweep(J, h, start[:1], [1.0, 0.0, -1.0], n_chains=4, sweeps_per_point=4, seed=6)
    np.testing.assert_allclose(ts.d, tb.d, atol=1e-12)


def test_mc_moments_fn_on_backend(xp):
    J, h = model(8, 0.3, 0.2, 18)
    fn = sampler.mc_moments_fn(n_chains=8, n_sweeps=10, burn_in=5, seed=1)
    m, C, state = fn(*on(xp, J, h), None)
    mb, Cb, _ = sampler.mc_moments_fn(n_chains=8, n_sweeps=10, burn_in=5, seed=1)(J, h, None)
    np.testing.assert_allclose(host(m), mb, atol=1e-12)
    assert array_module(state) is xp


def test_thermo_entropy_on_backend(xp):
    J, h = model(8, 0.3, 0.2, 19)
    kw = dict(n_lam=5, n_chains=8, n_sweeps=30, burn_in=10, seed=2)
    res, base = thermo_entropy(*on(xp, J, h), **kw), thermo_entropy(J, h, **kw)
    assert res.s == pytest.approx(base.s, abs=1e-9)
    assert abs(res.s - float(exact_moments(J, h).entropy[0]) / 8) < 0.05


def test_solution_mc_same_seed_same_numbers(xp):
    rng = np.random.default_rng(20)
    x, y = spins(rng, (2, 3, 5)), spins(rng, (2, 3, 5))
    kw = dict(n_replicas=2, weights="binary", anneal_sweeps=5, max_sweeps=20, sample_sweeps=3,
              n_snapshots=2, seed=3)
    res = smc.run_solution_mc(*on(xp, x, y), 2, **kw)
    base = smc.run_solution_mc(x, y, 2, **kw)
    np.testing.assert_array_equal(res.solved, base.solved)
    np.testing.assert_array_equal(res.reps, base.reps)
    np.testing.assert_array_equal(np.nan_to_num(res.J), np.nan_to_num(base.J))
    assert isinstance(res.J, np.ndarray)


def test_solution_mc_continuous_on_backend(xp):
    rng = np.random.default_rng(21)
    x, y = spins(rng, (1, 2, 4)), spins(rng, (1, 2, 4))
    kw = dict(n_replicas=2, weights="continuous", anneal_sweeps=5, max_sweeps=20, sample_sweeps=2,
              n_snapshots=2, seed=1)
    res = smc.run_solution_mc(*on(xp, x, y), 1, **kw)
    base = smc.run_solution_mc(x, y, 1, **kw)
    np.testing.assert_allclose(np.nan_to_num(res.J), np.nan_to_num(base.J), atol=1e-9)
    ok = res.solved.ravel()
    J = res.J[-1].reshape(-1, 4, 4)[ok]
    np.testing.assert_allclose((J**2).sum(-1), 4.0, atol=1e-9)  # rows stay on the sphere


# ---------------------------------------------------------------- function space (Li & Saad simulations)


def test_function_space_simulation_same_seed_same_numbers(xp):
    from weightspace.function_space.simulate import simulate_dense, simulate_majk

    backend = "numpy" if xp is np else "cupy"
    kw = dict(n=101, n_inputs=40, n_samples=2, seed=4)
    a, b = simulate_dense("binary", [0.05] * 3, backend=backend, **kw), simulate_dense("binary", [0.05] * 3, **kw,
                                                                                      backend="numpy")
    np.testing.assert_allclose(a["q"], b["q"], atol=1e-6)
    a = simulate_majk(0.1, 3, n=99, n_layers=3, m0=0.3, n_inputs=40, n_samples=2, seed=1, backend=backend)
    b = simulate_majk(0.1, 3, n=99, n_layers=3, m0=0.3, n_inputs=40, n_samples=2, seed=1, backend="numpy")
    np.testing.assert_allclose(a["q"], b["q"], atol=1e-6)


def test_sampler_block_kernel_gets_arrays_of_the_model_dtype(xp, monkeypatch):
    """The CUDA block kernel reads raw memory as J's dtype: a float64 tilt (x from a NumPy grid) must
    not promote B of a float32 model."""
    J, h = model(20, 0.2, 0.1, 22)
    seen = []
    real = sampler._Kernel.block_spins
    monkeypatch.setattr(sampler._Kernel, "block_spins",
                        lambda self, Jbb, B: seen.append((Jbb.dtype, B.dtype)) or real(self, Jbb, B))
    refs = xp.asarray(spins(np.random.default_rng(23), (1, 20)))
    sampler.tilt_sweep(*on(xp, J.astype("float32"), h.astype("float32")), refs, np.array([0.5, -0.5]),
                       n_chains=2, sweeps_per_point=2)
    assert seen and set(seen) == {(np.dtype("float32"), np.dtype("float32"))}


# ---------------------------------------------------------------- learning, detailed balance


def test_boltzmann_learning_on_backend(xp):
    """BP learning of exact moments of a weak planted model: same steps and couplings on both backends,
    and the planted couplings come back (up to BP's error and the tolerance)."""
    from weightspace.ising.boltzmann import boltzmann_learn

    J, h = model(8, 0.15, 0.2, 24)
    ex = exact_moments(J, h)
    res = boltzmann_learn(*on(xp, ex.m[0], ex.C[0]), tol=1e-3, max_steps=200)
    base = boltzmann_learn(ex.m[0], ex.C[0], tol=1e-3, max_steps=200)
    assert res.steps == base.steps and res.converged
    np.testing.assert_allclose(host(res.J), host(base.J), atol=1e-9)
    iu = np.triu_indices(8, 1)
    assert np.corrcoef(host(res.J)[iu], J[iu])[0, 1] > 0.9 and np.abs(host(res.J) - J).max() < 0.15


@pytest.mark.parametrize("rule", sampler.RULES)
def test_sampler_detailed_balance_against_enumeration(xp, rule):
    """Moments of a frustrated 8-spin model at beta = 1.2 within 5 s.e. of exact enumeration (chi^2 per
    degree of freedom ~ 1): the sign(v - B) block update samples the Boltzmann measure."""
    n = 8
    J, h = model(n, 0.5, 0.3, 25)
    res = sampler.sample(*on(xp, J, h), n_chains=64, n_sweeps=400, burn_in=50, beta=1.2, rule=rule, seed=9,
                         keep_samples=True, block=3)
    ex = exact_moments(1.2 * J, 1.2 * h)
    S = host(res.samples).astype(float)
    iu = np.triu_indices(n, 1)
    per_chain = np.concatenate([S.mean(0), np.einsum("tri,trj->rij", S, S)[:, iu[0], iu[1]] / len(S)], axis=1)
    se = per_chain.std(axis=0, ddof=1) / np.sqrt(S.shape[1])
    z = (np.concatenate([host(res.m), host(res.C)[iu]]) - np.concatenate([ex.m[0], ex.C[0][iu]])) / se
    assert np.abs(z).max() < 5.0 and np.mean(z**2) < 2.0


# ---------------------------------------------------------------- moments, spectra, recursions, trained nets


def test_moment_accumulation_and_spectra_on_backend(xp):
    from weightspace.ising.inverse import correlation_spectrum, stable_correlations
    from weightspace.ising.moments import accumulate_moments, three_spin_moments

    S = spins(np.random.default_rng(26), (900, 7)).astype(np.int8)
    mom = accumulate_moments([xp.asarray(S[:400]), xp.asarray(S[400:])])
    np.testing.assert_allclose(host(mom.C), S.T.astype(float) @ S / 900, atol=1e-12)
    triples = np.array([[0, 1, 2], [3, 5, 6]])
    t = three_spin_moments([xp.asarray(S)], triples)
    np.testing.assert_allclose(host(t), (S[:, triples].prod(axis=-1)).mean(0), atol=1e-12)
    spec, ref = correlation_spectrum(mom.m, mom.C), correlation_spectrum(*[host(a) for a in (mom.m, mom.C)])
    np.testing.assert_allclose(host(spec.values), host(ref.values), atol=1e-10)
    Cs = stable_correlations(mom.m, mom.C, 0.5)
    np.testing.assert_allclose(host(Cs), host(stable_correlations(host(mom.m), host(mom.C), 0.5)), atol=1e-10)


def test_function_space_recursions_on_backend(xp):
    from weightspace.function_space.recursions import binary_overlaps, continuous_overlaps

    p = np.array([[0.05, 0.1, 0.2]])
    q = binary_overlaps(xp.asarray(p))
    expect = [1.0]  # q^l = (2/pi) asin((1 - 2 p_l) q^{l-1})
    for pl in p[0]:
        expect.append(2.0 / np.pi * np.arcsin((1 - 2 * pl) * expect[-1]))
    np.testing.assert_allclose(host(q)[0, -3:], expect[1:], atol=1e-12)
    np.testing.assert_allclose(host(continuous_overlaps(xp.asarray(p), beta=2.0)),
                               host(continuous_overlaps(p, beta=2.0)), atol=1e-12)


def test_trained_layer_sensitivity_same_seed_same_numbers(xp):
    from weightspace.function_space.trained import layer_sensitivity
    from weightspace.nets.spins import layers_to_config

    rng = np.random.default_rng(27)
    widths = [6, 5, 4]
    weights = [rng.choice([-1.0, 1.0], size=(2, o, i)) for i, o in zip(widths[:-1], widths[1:])]
    configs = layers_to_config(weights).astype(np.int8)
    x = rng.standard_normal((200, 6)).astype(np.float32)
    y = rng.integers(0, 4, 200)
    backend = "numpy" if xp is np else "cupy"
    a = layer_sensitivity(configs, widths, x, y, [0.0, 0.3], n_draws=3, seed=1, backend=backend)
    b = layer_sensitivity(configs, widths, x, y, [0.0, 0.3], n_draws=3, seed=1, backend="numpy")
    np.testing.assert_allclose(a.eps, b.eps, atol=1e-7)
    np.testing.assert_array_equal(a.eps[:, 0], 0.0)


def test_bp_jacobian_radius_on_backend(xp):
    from weightspace.ising.stability import bp_jacobian_radius

    J, h = model(12, 0.2, 0.2, 28)
    r = bp(*on(xp, J, h), tol=1e-10)
    rho = bp_jacobian_radius(xp.asarray(J), r.messages)
    base = bp_jacobian_radius(J, bp(J, h, tol=1e-10).messages)
    assert isinstance(rho, float) and 0.0 < rho < 1.0  # weak couplings: a stable fixed point
    assert rho == pytest.approx(base, abs=1e-9)
