"""Loop size vs ensemble size: growth laws, their inversion and the bootstrap (experiments.loop_vs_m)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from weightspace.experiments.loop_vs_m import bootstrap_law, crossing, fit_law, predict, subsample_indices

M = np.repeat([1000.0, 2000.0, 4000.0, 8000.0, 16000.0], 3)


def test_subsample_distinct_and_seeded():
    a = subsample_indices(100, 40, seed=3)
    assert a.size == 40 and np.unique(a).size == 40 and a.min() >= 0 and a.max() < 100
    assert np.array_equal(a, subsample_indices(100, 40, seed=3))
    assert not np.array_equal(a, subsample_indices(100, 40, seed=4))
    with pytest.raises(ValueError, match="M=101"):
        subsample_indices(100, 101, seed=0)


def test_log_law_exact_recovery_and_crossing():
    L = -0.3 + 0.05 * np.log(M)  # reaches 0.2 at M* = exp(10)
    coef = fit_law(M, L, "log")
    assert np.allclose(coef, [-0.3, 0.05])
    assert crossing(coef, 0.2, "log") == pytest.approx(math.exp(10.0))
    assert predict(coef, 500_000, "log")[0] == pytest.approx(-0.3 + 0.05 * math.log(500_000))


def test_inverse_law_saturates():
    L = 0.25 - 100.0 / M  # L(inf) = 0.25; L = 0.2 at M* = 100 / 0.05 = 2000
    coef = fit_law(M, L, "inv")
    assert np.allclose(coef, [0.25, 100.0])
    assert crossing(coef, 0.2, "inv") == pytest.approx(2000.0)
    assert crossing(coef, 0.3, "inv") == math.inf  # above the plateau: never
    assert crossing(np.array([1.0, -0.1]), 0.2, "log") == pytest.approx(math.exp(8.0))  # shrinking: falls below
    assert crossing(np.array([0.1, 0.0]), 0.2, "log") == math.inf  # flat below the level: never


def test_bootstrap_without_noise_has_no_spread_and_noise_widens_it():
    L = -0.3 + 0.05 * np.log(M)
    grid = np.array([1e3, 1e5])
    e = bootstrap_law(M, L, "log", n_boot=50, grid=grid)
    assert np.allclose(e.band, -0.3 + 0.05 * np.log(grid))  # every draw refits the same exact line
    assert e.m_cross_q[0] == pytest.approx(e.m_cross_q[2]) == pytest.approx(math.exp(10.0))
    assert e.cross_fraction == 1.0 and e.rising_fraction == 1.0 and e.rms_residual < 1e-12
    noisy = L + np.random.default_rng(0).normal(0, 0.01, L.size)
    f = bootstrap_law(M, noisy, "log", n_boot=200, seed=1)
    assert f.m_cross_q[0] < f.m_cross < f.m_cross_q[2]
    assert f.l_target_q[0] < f.l_target < f.l_target_q[2]
