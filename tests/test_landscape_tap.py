"""TAP (paper App. I): stationarity of the corrected free energy; one fixed point when hot;
free energy and magnetisations against exact enumeration; Curie-Weiss solution count."""

from __future__ import annotations

import numpy as np

from weightspace.ising.exact import exact_moments
from weightspace.landscape.tap import (
    TapResult,
    count_peaks,
    distinct_fixed_points,
    random_starts,
    tap_gradient,
    tap_iterate,
    tap_neg_free_energy,
)


def _sk(n: int, beta: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    J = np.triu(rng.normal(0.0, beta / np.sqrt(n), (n, n)), 1)
    return J + J.T, rng.normal(0.0, 0.3, n)


def test_gradient_is_derivative_of_free_energy() -> None:
    J, h = _sk(30, 0.8, 0)
    m = np.random.default_rng(1).uniform(-0.9, 0.9, (2, 30))
    eps = 1e-6
    num = np.empty_like(m)
    for i in range(30):
        e = np.zeros(30)
        e[i] = eps
        num[:, i] = (tap_neg_free_energy(J, h, m + e) - tap_neg_free_energy(J, h, m - e)) / (2 * eps)
    np.testing.assert_allclose(tap_gradient(J, h, m), num, atol=1e-6)


def test_high_temperature_sk_single_fixed_point_stationary() -> None:
    """β = 0.5 SK with fields: every start converges to the same m, where ∂F_TAP/∂m = 0; the paper's
    Eq. I2 without the field term is not stationary there."""
    n = 80
    J, h = _sk(n, 0.5, 2)
    res = tap_iterate(J, h, random_starts(200, n, 3), tol=1e-10, max_iter=500)
    assert res.converged.all()
    assert distinct_fixed_points(res.m, 1e-6).max() == 0
    assert count_peaks(res.free_energy) == 1
    assert np.abs(tap_gradient(J, h, res.m)).max() < 1e-8
    no_field = tap_gradient(J, np.zeros(n), res.m)
    assert np.abs(no_field).max() > 0.1


def test_count_peaks_bimodal() -> None:
    rng = np.random.default_rng(0)
    assert count_peaks(np.concatenate([rng.normal(-1, 0.05, 500), rng.normal(1, 0.05, 500)])) == 2
    assert count_peaks(rng.normal(0, 0.1, 1000)) == 1


# ---- against exact enumeration (N <= 16) --------------------------------------------------------


def _naive_mean_field(J: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, float]:
    """m = tanh(h + J m) and −βF_MF = Σ H(m) + h·m + ½ mᵀJm (no Onsager term)."""
    m = np.tanh(h)
    for _ in range(5000):
        m = 0.5 * m + 0.5 * np.tanh(h + J @ m)
    p = (1 + m) / 2
    return m, float(-(p * np.log(p) + (1 - p) * np.log(1 - p)).sum() + h @ m + 0.5 * m @ J @ m)


def test_weak_coupling_errors_are_third_order() -> None:
    """J = εG, N = 12, random fields: TAP is the Plefka expansion to second order, so −βF_TAP − ln Z
    and m_TAP − m_exact are O(ε³) (halving ε divides them by ≈ 8), while naive mean field is off
    at O(ε²) (≈ 4). A wrong Onsager coefficient or a missing field term breaks the ε³ law."""
    n = 12
    rng = np.random.default_rng(0)
    G = np.triu(rng.normal(0.0, 1 / np.sqrt(n), (n, n)), 1)
    G = G + G.T
    h = rng.normal(0.0, 0.5, n)
    err_f, err_m, err_mf = [], [], []
    for eps in (0.1, 0.05):
        J = eps * G
        ex = exact_moments(J, h)
        res = tap_iterate(J, h, np.tanh(h)[None], damping=0.5, tol=1e-14, max_iter=20000)
        assert res.converged.all()
        err_f.append(abs(tap_neg_free_energy(J, h, res.m)[0] - ex.log_z[0]))
        err_m.append(np.abs(res.m[0] - ex.m[0]).max())
        err_mf.append(abs(_naive_mean_field(J, h)[1] - ex.log_z[0]))
    assert err_f[1] < 1e-4 and err_m[1] < 1e-4
    assert 6.5 < err_f[0] / err_f[1] < 10 and 6.5 < err_m[0] / err_m[1] < 10
    assert 3 < err_mf[0] / err_mf[1] < 5 and err_mf[1] > 50 * err_f[1]


def _tap_states(bj: float, n: int) -> tuple[np.ndarray, TapResult]:
    J = np.full((n, n), bj / n)
    np.fill_diagonal(J, 0.0)
    res = tap_iterate(J, np.zeros(n), random_starts(200, n, 0), damping=0.5, tol=1e-12, max_iter=20000)
    assert res.converged.all()
    labels = distinct_fixed_points(res.m, 1e-6)
    return np.array([res.m[labels == k].mean() for k in range(labels.max() + 1)]), res


def test_curie_weiss_paramagnet_to_ordered_solutions() -> None:
    """Curie-Weiss J_ij = βJ0/N, N = 16, from 200 random starts: one TAP solution (m = 0) for
    βJ0 = 0.5 and 0.9, two (±m*) for βJ0 = 1.2 and 1.5. Exact enumeration: at βJ0 = 0.5
    −βF_TAP(0)/N = ln 2 + (N−1)(βJ0)²/(4N²) is ln Z/N to O(1/N); at βJ0 = 1.5 |m*| is the exact
    ordered magnetisation sqrt(<σ_iσ_j>), and ln Z/N = −βF_TAP(±m*)/N + ln 2/N (two states) to O(1/N)."""
    n = 16
    for bj in (0.5, 0.9):
        states, res = _tap_states(bj, n)
        assert len(states) == 1 and abs(states[0]) < 1e-8
    for bj in (1.2, 1.5):
        states, res = _tap_states(bj, n)
        assert len(states) == 2 and np.isclose(states.sum(), 0.0, atol=1e-8) and states.max() > 0.3
    J = np.full((n, n), 0.5 / n)
    np.fill_diagonal(J, 0.0)
    ex = exact_moments(J, np.zeros(n))
    f0 = tap_neg_free_energy(J, np.zeros(n), np.zeros((1, n)))[0] / n
    assert np.isclose(f0, np.log(2) + (n - 1) * 0.5**2 / (4 * n**2)) and abs(f0 - ex.log_z[0] / n) < 0.003
    states, res = _tap_states(1.5, n)
    J = np.full((n, n), 1.5 / n)
    np.fill_diagonal(J, 0.0)
    ex = exact_moments(J, np.zeros(n))
    q = ex.C[0][~np.eye(n, dtype=bool)].mean()
    assert abs(states.max() - np.sqrt(q)) < 0.01
    f_ordered = -res.free_energy
    assert np.ptp(f_ordered) < 1e-10 and f_ordered[0] > tap_neg_free_energy(J, np.zeros(n), np.zeros((1, n)))[0] / n
    assert abs(f_ordered[0] + np.log(2) / n - ex.log_z[0] / n) < 0.005
