"""TAP (paper App. I): stationarity of the corrected free energy; one fixed point when hot."""

from __future__ import annotations

import numpy as np

from weightspace.landscape.tap import (
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
        num[:, i] = (tap_neg_free_energy(J, h, m + e) - tap_neg_free_energy(J, h, m - e)) / (
            2 * eps
        )
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
