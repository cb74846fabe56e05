"""Entropy landscape (docs/design.md §3.4): closed forms at J = 0, exact enumeration, hysteresis detector."""

from __future__ import annotations

import numpy as np
import pytest

from weightspace.ising.bp import bp
from weightspace.ising.exact import exact_moments
from weightspace.landscape.entropy import entropy_landscape, s_upper_bound, sweep_paths, x_grid
from weightspace.landscape.hysteresis import detect_hysteresis


def _weak_model(n: int, scale: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    J = np.triu(rng.normal(0.0, scale / np.sqrt(n), (n, n)), 1)
    J = J + J.T
    h = rng.normal(0.0, 0.3, n)
    refs = np.where(rng.random((3, n)) < 0.5, -1.0, 1.0)
    return J, h, refs


def _binary_entropy(m: np.ndarray) -> np.ndarray:
    p = (1 + m) / 2
    return -(p * np.log(p) + (1 - p) * np.log(1 - p))


def test_x_grid_matches_paper() -> None:
    x = x_grid()
    assert x.size == 121 and x[0] == 3.0 and x[-1] == -3.0 and x[60] == 0.0


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_independent_spins_closed_form(dtype: str) -> None:
    """J = 0: m_i = tanh(h_i + xσ*_i), s = mean binary entropy; h = 0: d = (1 − tanh x)/2 and
    s = s_ub(d)."""
    n = 12
    rng = np.random.default_rng(3)
    refs = np.where(rng.random((2, n)) < 0.5, -1.0, 1.0)
    x = x_grid(3.0, -3.0, 0.25)
    J = np.zeros((n, n))
    land = entropy_landscape(J, np.zeros(n), refs, x, dtype=dtype, tol=1e-7)
    d_exact = (1 - np.tanh(x)) / 2
    atol = 1e-9 if dtype == "float64" else 2e-6
    np.testing.assert_allclose(land.d, np.broadcast_to(d_exact, land.d.shape), atol=atol)
    np.testing.assert_allclose(land.s, s_upper_bound(land.d), atol=10 * atol)
    h = rng.normal(0, 0.5, n)
    land = entropy_landscape(J, h, refs, x, dtype=dtype, tol=1e-7)
    for k in range(2):
        m = np.tanh(h[None, :] + x[:, None] * refs[k][None, :])
        np.testing.assert_allclose(land.d[k, 0], (1 - m @ refs[k] / n) / 2, atol=atol)
        np.testing.assert_allclose(land.s[k, 1], _binary_entropy(m).mean(axis=1), atol=10 * atol)
        np.testing.assert_allclose(land.energy[k, 0], -(m @ h) / n, atol=10 * atol)
    assert land.converged.all()


def test_bp_landscape_matches_enumeration() -> None:
    """N = 12 weakly coupled: −βf, ε, d, s from BP vs exact enumeration of the tilted measure."""
    n = 12
    J, h, refs = _weak_model(n, 0.2, 0)
    x = x_grid(3.0, -3.0, 0.5)
    land = entropy_landscape(J, h, refs, x, dtype="float64", tol=1e-10, damping=0.3)
    assert land.converged.all()
    for k in range(refs.shape[0]):
        ex = exact_moments(J, h[None, :] + x[:, None] * refs[k][None, :])
        q = ex.m @ refs[k] / n
        eps = (-0.5 * np.einsum("ij,tij->t", J, ex.C) - ex.m @ h) / n
        s = ex.log_z / n + eps - x * q
        for r in range(2):
            np.testing.assert_allclose(land.d[k, r], (1 - q) / 2, atol=2e-3)
            np.testing.assert_allclose(land.energy[k, r], eps, atol=2e-3)
            np.testing.assert_allclose(land.free_energy[k, r], -ex.log_z / n, atol=2e-3)
            np.testing.assert_allclose(land.s[k, r], s, atol=2e-3)
        # s is the Gibbs entropy of the tilted measure: S = ln Z + ⟨βE − xQ⟩ (enumerated directly)
        np.testing.assert_allclose(s, ex.entropy / n, atol=1e-9)


def test_landscape_kernel_matches_plain_bp() -> None:
    """The sweep's BP (float32, undamped with fallback, predictor warm starts, β ≠ 1) gives the
    fixed point, Bethe ln Z and energy of a plain damped float64 bp() run from scratch."""
    n = 40
    J, h, refs = _weak_model(n, 0.8, 1)
    x = np.array([0.9, 0.7])
    beta = 0.8
    res = sweep_paths(J, h, refs, np.tile(x, (3, 1)), beta=beta, tol=1e-6, predictor="linear")
    assert res.converged.all()
    for t in range(2):
        ref = bp(J, beta * h[None, :] + x[t] * refs, beta=beta, tol=1e-11, max_iter=3000)
        np.testing.assert_allclose(res.q[:, t], (ref.m * refs).sum(1) / n, atol=2e-6)
        np.testing.assert_allclose(res.log_z[:, t], -ref.free_energy / n, atol=2e-6)
        eps = (ref.coupling_energy - ref.m @ h) / n
        np.testing.assert_allclose(res.energy[:, t], eps, atol=2e-6)


def _curie_weiss(n: int, beta_j: float) -> np.ndarray:
    J = np.full((n, n), beta_j / n)
    np.fill_diagonal(J, 0.0)
    return J


def test_detector_fires_for_ferromagnet_not_paramagnet() -> None:
    """Mean-field ferromagnet βJ0 = 1.5 tilted toward its + state: BP follows the metastable branch
    down to the spinodal x_sp (m = tanh(βJ0 m + x) loses a solution): loop inside [−x_sp, x_sp].
    βJ0 = 0.5 (paramagnet) has one fixed point for every x: no loop."""
    n = 60
    x = x_grid(1.0, -1.0, 0.02)
    ref = np.ones((1, n))
    bj = 1.5
    m_sp = np.sqrt(1 - 1 / bj)  # spinodal: 1 = βJ0 (1 − m²)
    x_sp = np.arctanh(m_sp) - bj * m_sp
    kw = dict(dtype="float64", tol=1e-9, damping=0.5, max_iter=5000)
    land = entropy_landscape(_curie_weiss(n, bj), np.zeros(n), ref, x, **kw)
    hy = detect_hysteresis(x, land.d[0], land.s[0], land.converged[0])
    assert hy.present and hy.size > 0.5
    # finite N: couplings J0/N over N−1 neighbours shift the spinodal by O(1/N)
    assert abs(hy.x_hi - abs(x_sp)) < 0.06 and abs(hy.x_lo + abs(x_sp)) < 0.06
    assert hy.entropy_gap > 0.05 and hy.unconverged_in_loop == 0.0
    para = entropy_landscape(_curie_weiss(n, 0.5), np.zeros(n), ref, x, **kw)
    hp = detect_hysteresis(x, para.d[0], para.s[0], para.converged[0])
    assert not hp.present and hp.size < 1e-6


def test_upper_bound_limits() -> None:
    assert s_upper_bound(0.0) == 0.0 and s_upper_bound(1.0) == 0.0
    assert np.isclose(s_upper_bound(0.5), np.log(2))


def test_iso_energy_hits_reference_energy_and_matches_enumeration() -> None:
    """Secant β makes the enumerated energy at (β, x) equal E(σ*)/N; s matches enumeration."""
    from weightspace.landscape.iso_energy import iso_energy_landscape

    n = 10
    J, h, refs = _weak_model(n, 0.2, 4)
    refs = refs[:2]
    x = x_grid(1.0, -1.0, 0.5)
    iso = iso_energy_landscape(J, h, refs, x, tol=1e-10, energy_tol=1e-9, beta_max=8.0)
    assert iso.converged.all()
    for k in range(2):
        target = (-0.5 * refs[k] @ J @ refs[k] - h @ refs[k]) / n
        np.testing.assert_allclose(iso.target[k], target, atol=1e-12)
        b = iso.beta[k, 0]
        ex = exact_moments(
            b[:, None, None] * J[None], b[:, None] * h[None, :] + x[:, None] * refs[k][None, :]
        )
        eps = (-0.5 * np.einsum("ij,tij->t", J, ex.C) - ex.m @ h) / n
        np.testing.assert_allclose(eps, target, atol=3e-3)  # BP vs exact at the BP root
        np.testing.assert_allclose(iso.s[k, 0], ex.entropy / n, atol=3e-3)


def test_warm_start_extrapolation_is_exact_for_polynomials() -> None:
    """The k-point predictor reproduces messages that are polynomials of degree k − 1 in x along
    each system's own (unevenly spaced) path, whatever storage layout (direct / transposed view)
    each fixed point came back in; for degree k its error is the interpolation remainder
    a_k Π_j (x − x_j) over the k points used."""
    from weightspace.landscape.entropy import PREDICTORS, WarmStarts

    rng = np.random.default_rng(5)
    coef = rng.normal(0.0, 0.1, (6, 2, 4, 4))
    xs = np.array([[0.0, 0.3, 0.5, 1.1, 1.2, 1.6, 1.65], [3.0, 2.0, 1.5, 1.4, 0.0, -0.5, -2.0]])
    for k, predictor in enumerate(PREDICTORS, start=1):
        for degree in (k - 1, k):
            warm = WarmStarts(predictor)
            assert warm.start(xs[:, 0]) is None

            def path(x: np.ndarray, degree: int = degree) -> np.ndarray:
                return sum(coef[p] * x[:, None, None] ** p for p in range(degree + 1))

            for t in range(6):
                m = path(xs[:, t])
                if t % 2:  # stored transposed, handed over as a view
                    m = np.ascontiguousarray(m.transpose(0, 2, 1)).transpose(0, 2, 1)
                warm.push(m, xs[:, t])
            want = path(xs[:, 6])
            if degree == k:
                want = want - coef[k] * np.prod(xs[:, 6:] - xs[:, 6 - k : 6], axis=1)[:, None, None]
            np.testing.assert_allclose(warm.start(xs[:, 6]), want, atol=1e-10)
