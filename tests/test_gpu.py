"""NumPy/CPU against CuPy/CUDA for every kernel at small sizes, and a GPU smoke run of each app.

Marked ``gpu`` (deselected by default; ``pytest -m gpu``) and skipped without CuPy and a CUDA device.
scripts/device_check.sh runs them on a lent GPU. Deterministic kernels agree to rounding; seeded
Monte Carlo draws the same CounterRNG numbers on both devices, so chains agree until a rounding-level
difference of a field decides one spin differently (rare at these sizes); the CUDA block kernel of
the sampler is compared with its array twin and with exact enumeration.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_standin_apps import fitted_models, smoke_fit, smoke_function_space, smoke_landscape, smoke_layer_overlap

from weightspace.backend import CounterRNG, counter_uniforms, gpu_available, to_numpy
from weightspace.ising import sampler
from weightspace.ising.bp import bp, bp_multistart
from weightspace.ising.exact import exact_moments
from weightspace.ising.inverse import independent_pair
from weightspace.ising.pseudolikelihood import fit_pseudolikelihood
from weightspace.landscape.entropy import entropy_landscape
from weightspace.landscape.tap import random_starts, tap_iterate
from weightspace.overlaps import solution_mc as smc

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def cp():
    if not gpu_available():
        pytest.skip("needs CuPy and a CUDA device")
    import cupy

    return cupy


def model(n, j_std, h_std, seed):
    rng = np.random.default_rng(seed)
    J = np.triu(rng.normal(0.0, j_std, (n, n)), 1)
    return J + J.T, rng.normal(0.0, h_std, n)


def spins(seed, shape):
    return np.where(np.random.default_rng(seed).random(shape) < 0.5, 1.0, -1.0)


def test_gpu_counter_rng_is_bit_identical(cp):
    np.testing.assert_array_equal(to_numpy(counter_uniforms(cp, 12345, 10**12, 60000)),
                                  counter_uniforms(np, 12345, 10**12, 60000))
    g, ref = CounterRNG(cp, 7), CounterRNG(np, 7)
    np.testing.assert_array_equal(to_numpy(g.random(1000)), ref.random(1000))
    np.testing.assert_array_equal(to_numpy(g.integers(0, 17, size=1000)), ref.integers(0, 17, size=1000))
    np.testing.assert_allclose(to_numpy(g.standard_normal(1000)), ref.standard_normal(1000), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype,tol", [("float64", 1e-10), ("float32", 2e-5)])
def test_gpu_bp_matches_numpy(cp, dtype, tol):
    J, h = model(40, 0.05, 0.3, 1)
    a = bp(cp.asarray(J), cp.asarray(h), dtype=dtype, tol=1e-8)
    b = bp(J, h, dtype=dtype, tol=1e-8)
    for key in ("m", "C", "free_energy", "entropy"):
        np.testing.assert_allclose(to_numpy(getattr(a, key)), to_numpy(getattr(b, key)), rtol=tol, atol=tol,
                                   err_msg=key)
    ms_a = bp_multistart(cp.asarray(J), cp.asarray(h), n_starts=3)
    ms_b = bp_multistart(J, h, n_starts=3)
    np.testing.assert_array_equal(ms_a.best, ms_b.best)


def test_gpu_exact_inverse_and_pseudolikelihood_match_numpy(cp):
    J, h = model(10, 0.4, 0.2, 2)
    np.testing.assert_allclose(to_numpy(exact_moments(cp.asarray(J), cp.asarray(h)).C), exact_moments(J, h).C,
                               atol=1e-12)
    S = sampler.sample(J, h, n_chains=64, n_sweeps=50, burn_in=20, keep_samples=True).samples.reshape(-1, 10)
    S = S.astype(float)
    m, C = S.mean(0), S.T @ S / len(S)
    np.testing.assert_allclose(to_numpy(independent_pair(cp.asarray(m), cp.asarray(C)).J),
                               to_numpy(independent_pair(m, C).J), atol=1e-9)
    a, b = fit_pseudolikelihood(cp.asarray(S), lam=0.01), fit_pseudolikelihood(S, lam=0.01)
    np.testing.assert_allclose(to_numpy(a.J), to_numpy(b.J), atol=1e-6)


def test_gpu_entropy_landscape_and_tap_match_numpy(cp):
    J, h = model(30, 0.08, 0.2, 3)
    refs = spins(4, (3, 30))
    x = np.linspace(1.0, -1.0, 9)
    a = entropy_landscape(cp.asarray(J), cp.asarray(h), cp.asarray(refs), x)
    b = entropy_landscape(J, h, refs, x)
    np.testing.assert_allclose(a.s, b.s, atol=1e-4)
    np.testing.assert_allclose(a.d, b.d, atol=1e-4)
    ta = tap_iterate(cp.asarray(J), cp.asarray(h), random_starts(8, 30, seed=1, xp=cp))
    tb = tap_iterate(J, h, random_starts(8, 30, seed=1, xp=np))
    np.testing.assert_allclose(to_numpy(ta.m), to_numpy(tb.m), atol=1e-8)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_gpu_fused_block_kernel_equals_its_twin(cp, dtype, monkeypatch):
    rng = np.random.default_rng(5)
    Jbb = cp.asarray(rng.normal(0, 0.3, (64, 64)).astype(dtype))
    B = cp.asarray(rng.normal(0, 1.0, (64, 500)).astype(dtype))
    J, h = model(64, 0.1, 0.1, 6)
    kern = sampler._Kernel(cp.asarray(J.astype(dtype)), cp.asarray(h.astype(dtype)), 1.0,
                           cp.zeros(64, dtype=dtype), "heatbath", "random", CounterRNG(cp, 0), 64)
    assert kern.fused is not None
    fused = to_numpy(kern.block_spins(Jbb, B))
    kern.fused = None
    twin = to_numpy(kern.block_spins(Jbb, B))
    assert (fused == twin).mean() > 0.999 and set(np.unique(fused)) <= {-1.0, 1.0}


@pytest.mark.parametrize("rule", sampler.RULES)
def test_gpu_sampler_matches_numpy_and_enumeration(cp, rule):
    n, beta, x = 10, 0.8, 0.4
    J, h = model(n, 0.35, 0.3, 7)
    star = spins(8, (n,))
    kw = dict(n_chains=256, n_sweeps=400, burn_in=50, beta=beta, x=x, rule=rule, seed=3, keep_samples=True)
    a = sampler.sample(cp.asarray(J), cp.asarray(h), sigma_star=cp.asarray(star), **kw)
    b = sampler.sample(J, h, sigma_star=star, **kw)
    same = (to_numpy(a.samples) == b.samples).all(axis=(0, 2)).mean()
    assert same > 0.9  # chains agree until a rounding-level field difference flips one decision
    ex = exact_moments(beta * J, beta * h + x * star)
    se = 5 * np.sqrt((1 - ex.m[0] ** 2) / (256 * 400 / (2 * a.tau_magnetisation + 1)))
    assert np.all(np.abs(to_numpy(a.m) - ex.m[0]) < se + 0.01)


def test_gpu_tempering_and_solution_mc_match_numpy(cp):
    J, h = model(12, 0.5, 0.1, 9)
    a = sampler.temper(cp.asarray(J), cp.asarray(h), [0.3, 0.6, 1.0], 8, 50, burn_in=10, seed=1)
    b = sampler.temper(J, h, [0.3, 0.6, 1.0], 8, 50, burn_in=10, seed=1)
    assert np.isclose(to_numpy(a.energies), b.energies, atol=1e-9).mean() > 0.9
    x, y = spins(10, (2, 3, 5)), spins(11, (2, 3, 5))
    kw = dict(n_replicas=2, weights="binary", anneal_sweeps=5, max_sweeps=30, sample_sweeps=3, n_snapshots=2, seed=2)
    ra, rb = smc.run_solution_mc(cp.asarray(x), cp.asarray(y), 2, **kw), smc.run_solution_mc(x, y, 2, **kw)
    assert (ra.solved == rb.solved).mean() >= 0.75


def test_gpu_store_pack_unpack_matches_numpy(cp):
    from weightspace.ensemble.store import pack, unpack

    spins = np.where(np.random.default_rng(12).random((4, 3, 675)) < 0.5, 1, -1).astype(np.int8)
    packed = pack(cp.asarray(spins))
    np.testing.assert_array_equal(to_numpy(packed), pack(spins))
    np.testing.assert_array_equal(to_numpy(unpack(packed, 675)), spins)


def test_gpu_fit_app(cp, tmp_path):
    smoke_fit(tmp_path, "cupy")


def test_gpu_landscape_apps(cp, tmp_path):
    smoke_landscape(fitted_models(tmp_path / "models"), tmp_path / "out", "cupy")


def test_gpu_layer_overlap_and_function_space_apps(cp, tmp_path):
    smoke_layer_overlap(tmp_path, "cupy")
    smoke_function_space("cupy")


def test_gpu_train_app(cp, make_cfg):
    from weightspace.apps.train import run

    cfg = make_cfg("train", ["scenario.n_train=1000", "scenario.epochs=1", "runs=2", "logger=none", "trainer=gpu"])
    metrics = run(cfg)
    assert 0.1 < metrics["test_acc_sampled_best"] <= 1
