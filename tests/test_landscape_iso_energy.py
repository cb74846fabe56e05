"""Iso-energy curves (paper Fig. 7, docs/design.md §3.4): every returned point is one BP state."""

from __future__ import annotations

import numpy as np

from weightspace.ising.bp import bp
from weightspace.landscape.entropy import x_grid
from weightspace.landscape.iso_energy import converged_mean, entropy_suppression, iso_energy_landscape


def _weak_model(n: int, scale: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    J = np.triu(rng.normal(0.0, scale / np.sqrt(n), (n, n)), 1)
    J = J + J.T
    return J, rng.normal(0.0, 0.3, n), np.where(rng.random((2, n)) < 0.5, -1.0, 1.0)


def test_unconverged_secant_returns_one_consistent_point() -> None:
    """max_secant = 2 stops before ε(β) = ε*: β, ln Z, ε and q must still all belong to the same
    β (BP rerun at the reported β gives the reported ln Z/N and ε), and the point is flagged."""
    n = 10
    J, h, refs = _weak_model(n, 0.2, 4)
    x = x_grid(1.0, -1.0, 0.5)
    iso = iso_energy_landscape(J, h, refs, x, tol=1e-10, energy_tol=1e-9, beta_max=8.0, max_secant=2)
    assert not iso.converged.any()
    for k in range(2):
        for r in range(2):
            for t in range(x.size):
                b = iso.beta[k, r, t]
                res = bp(J, b * h + x[t] * refs[k], beta=b, correlations=False, tol=1e-12, max_iter=5000)
                energy = (res.coupling_energy - res.m @ h) / n
                q = res.m @ refs[k] / n
                s = -res.free_energy / n + b * energy - x[t] * q
                np.testing.assert_allclose(iso.energy[k, r, t], energy, atol=1e-6)
                np.testing.assert_allclose(iso.q[k, r, t], q, atol=1e-6)
                np.testing.assert_allclose(iso.s[k, r, t], s, atol=1e-6)


def test_suppression_uses_converged_points_only() -> None:
    """An unconverged point (here s_iso = −5 at x[1] of reference 0) is counted, not averaged."""
    normal_s = np.full((2, 2, 3), 0.6)
    iso_s = np.full((2, 2, 3), 0.5)
    iso_s[0, 0, 1] = -5.0
    iso_ok = np.ones((2, 2, 3), bool)
    iso_ok[0, 0, 1] = False
    out = entropy_suppression(normal_s, np.ones_like(iso_ok), iso_s, iso_ok)
    assert np.isclose(out["max_entropy_suppression"], 0.1)
    assert out["unconverged_points"] == 1 and out["suppression_x_points"] == 3
    np.testing.assert_allclose(converged_mean(iso_s[:, 0], ~iso_ok[:, 0]), [np.nan, -5.0, np.nan])
