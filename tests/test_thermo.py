"""Thermodynamic / heat-capacity integration entropy (App. H) against exact enumeration."""

from __future__ import annotations

import numpy as np
import pytest

from weightspace.ising.exact import exact_moments
from weightspace.landscape.thermo import simpson_weights, thermo_entropy


def random_model(n: int, j_std: float, h_std: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    J = np.triu(rng.normal(0.0, j_std, (n, n)), 1)
    return J + J.T, rng.normal(0.0, h_std, n)


def test_simpson_weights_integrate_cubics_exactly():
    w = simpson_weights(9)
    t = np.linspace(0.0, 1.0, 9)
    assert w @ (4 * t**3 - t + 2) == pytest.approx(2.5, abs=1e-14)
    with pytest.raises(ValueError, match="odd"):
        simpson_weights(8)


@pytest.mark.parametrize("tempering", [False, True])
@pytest.mark.parametrize("x", [0.0, 0.8])
def test_thermo_entropy_matches_enumeration(x, tempering):
    """s, ln Z/N, eps and d of the (tilted) model equal their enumerated values within
    4 combined errors (MC + quadrature), by both the energy and the heat-capacity route,
    with annealed runs per grid point or one replica-exchange run over the grid."""
    n = 10
    J, h = random_model(n, 0.4, 0.3, seed=5)
    star = np.where(np.random.default_rng(6).random(n) < 0.5, 1.0, -1.0)
    res = thermo_entropy(J, h, x=x, sigma_star=star, n_lam=9, n_chains=48, n_sweeps=600,
                         burn_in=100, seed=1, tempering=tempering)
    assert res.swap_acceptance.shape == ((7,) if tempering else (0,))
    ex = exact_moments(J, h + x * star)  # P_x: fields h + x s*
    s_exact = float(ex.entropy[0]) / n
    q_exact = float(ex.m[0] @ star) / n
    e_exact = float(-0.5 * np.sum(J * ex.C[0]) - h @ ex.m[0]) / n
    assert abs(res.s - s_exact) < 4 * (res.s_err + res.s_quad_err)
    assert abs(res.s_heat - s_exact) < 4 * (res.s_heat_err + res.s_heat_quad_err)
    assert abs(res.energy - e_exact) < 4 * res.energy_err
    assert abs(res.d - (1 - q_exact) / 2) < 4 * res.d_err + 1e-12
    assert abs(res.log_z - float(ex.log_z[0]) / n) < 4 * (res.s_err + res.s_quad_err)
    assert res.s_heat_err < 0.003 and res.tau_reliable
    # s = -beta f + beta eps - x q (paper Sec. IV)
    assert res.s == pytest.approx(res.log_z + res.energy - x * res.q, abs=1e-12)


def test_tempered_integration_finds_the_entropy_of_a_two_state_ferromagnet():
    """Curie-Weiss N = 10, J_ij = 0.8, tilted towards all-up with x = -0.3 (i.e. away from it): at lam = 1
    the all-down state dominates, but chains annealed down the lam grid freeze in the state they
    fell into near lam ~ 0.2; the replica-exchange run over the same grid recovers the exact entropy."""
    n, x = 10, -0.3
    J = 0.8 * (np.ones((n, n)) - np.eye(n))
    h = np.full(n, 0.05)
    star = np.ones(n)
    ex = exact_moments(J, h + x * star)
    s_exact = float(ex.entropy[0]) / n
    res = thermo_entropy(J, h, x=x, sigma_star=star, n_lam=17, n_chains=32, n_sweeps=800, burn_in=100,
                         seed=2, tempering=True)
    d_exact = (1 - float(ex.m[0] @ star) / n) / 2
    assert abs(res.s - s_exact) < 4 * (res.s_err + res.s_quad_err) + 0.01
    assert abs(res.d - d_exact) < 0.05 and res.swap_acceptance.min() > 0.3
    annealed = thermo_entropy(J, h, x=x, sigma_star=star, n_lam=17, n_chains=32, n_sweeps=800, burn_in=100, seed=2)
    assert abs(annealed.d - d_exact) > 0.1  # a quarter of the annealed chains stay in the all-up state


def test_power_grid_integrates_a_strongly_coupled_model():
    """J_ij ~ N(0, 3^2), N = 10: Var(K) at lam = 0 is ~40 times its value at lam = 1 and falls within a
    small lam; on the grid lam = t^3 both routes match enumeration within 4 combined errors."""
    n = 10
    J, h = random_model(n, 3.0, 1.0, seed=3)
    s_exact = float(exact_moments(J, h).entropy[0]) / n
    res = thermo_entropy(J, h, n_lam=17, n_chains=32, n_sweeps=600, burn_in=100, seed=1, tempering=True,
                         grid_power=3.0)
    np.testing.assert_allclose(res.lams, np.linspace(0, 1, 17) ** 3)
    assert abs(res.s - s_exact) < 4 * (res.s_err + res.s_quad_err)
    assert abs(res.s_heat - s_exact) < 4 * (res.s_heat_err + res.s_heat_quad_err)


def test_thermo_entropy_rejects_bad_grid():
    J, h = random_model(4, 0.3, 0.3, seed=0)
    with pytest.raises(ValueError, match="n_lam"):
        thermo_entropy(J, h, n_lam=8)
    with pytest.raises(ValueError, match="grid_power"):
        thermo_entropy(J, h, grid_power=0.5)
