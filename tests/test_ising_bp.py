"""BP, exact enumeration and data moments of the effective Ising model (docs/design.md §3.3)."""

from __future__ import annotations

import numpy as np
import pytest

from weightspace.ising.bp import bp, bp_multistart
from weightspace.ising.exact import exact_moments
from weightspace.ising.inverse import correlation_spectrum
from weightspace.ising.moments import (
    accumulate_moments,
    fit_delta,
    mixture_moments,
    mixture_samples,
    spin_moments,
    three_spin_moments,
)
from weightspace.ising.stability import bp_jacobian_radius, message_jacobian, message_update
from weightspace.ising.threespin import compare_three_spin, connected_from_raw, fraction_within, triple_correlations


def _tree(n: int, rng: np.random.Generator, scale: float = 1.0) -> np.ndarray:
    J = np.zeros((n, n))
    for i in range(1, n):
        p = rng.integers(0, i)
        J[i, p] = J[p, i] = rng.normal(0.0, scale)
    return J


def _sk(n: int, beta: float, rng: np.random.Generator) -> np.ndarray:
    J = np.triu(rng.normal(0.0, beta / np.sqrt(n), (n, n)), 1)
    return J + J.T


def test_exact_independent_spins_closed_form():
    h = np.array([[0.3, -1.2, 2.0, 0.0], [5.0, -5.0, 0.1, 0.7]])
    r = exact_moments(np.zeros((4, 4)), h, chunk=5)
    np.testing.assert_allclose(r.log_z, np.log(2 * np.cosh(h)).sum(axis=1), atol=1e-12)
    np.testing.assert_allclose(r.m, np.tanh(h), atol=1e-12)
    np.testing.assert_allclose(r.C[1], np.outer(np.tanh(h[1]), np.tanh(h[1])) - np.diag(
        np.tanh(h[1]) ** 2) + np.eye(4), atol=1e-12)


def test_bp_on_tree_is_exact():
    rng = np.random.default_rng(0)
    n = 14
    J = _tree(n, rng)
    h = rng.normal(0.0, 0.7, (3, n))
    e = exact_moments(J, h)
    r = bp(J, h, tol=1e-13, max_iter=2000)
    assert r.converged.all()
    edges = J != 0
    np.testing.assert_allclose(r.m, e.m, atol=1e-9)
    np.testing.assert_allclose(r.C[:, edges], e.C[:, edges], atol=1e-9)
    np.testing.assert_allclose(-r.free_energy, e.log_z, atol=1e-9)
    np.testing.assert_allclose(r.energy, e.energy, atol=1e-9)
    np.testing.assert_allclose(r.entropy, e.entropy, atol=1e-9)


def test_bp_dense_weak_close_to_exact():
    rng = np.random.default_rng(1)
    n = 12
    J = _sk(n, 0.15, rng)
    h = rng.normal(0.0, 0.3, (2, n))
    e = exact_moments(J, h)
    ms = bp_multistart(J, h, tol=1e-10)
    r = ms.runs[0]
    assert r.converged.all() and not ms.disagree.any()
    assert np.abs(r.m - e.m).max() < 2e-3
    assert np.abs(r.C - e.C).max() < 2e-2  # loop corrections O(β²/√N) are missing in BP
    assert np.abs(-r.free_energy - e.log_z).max() < 5e-3


def test_bp_strong_frustrated_is_flagged():
    rng = np.random.default_rng(2)
    n = 12
    J = _sk(n, 3.0, rng)
    h = rng.normal(0.0, 0.05, (2, n))
    e = exact_moments(J, h)
    ms = bp_multistart(J, h, n_starts=6, tol=1e-8, max_iter=2000)
    errors = np.array([np.abs(run.m - e.m).max(axis=1) for run in ms.runs])  # (S,B)
    assert errors.max() > 0.3  # BP is genuinely wrong here ...
    flagged = ms.disagree | ~np.stack([run.converged for run in ms.runs]).all(axis=0)
    assert flagged.all()  # ... and says so: no clean green flag
    undamped = bp(J, h, damping=0.0, tol=1e-8, max_iter=500)
    assert not undamped.converged.all() or flagged.all()


def test_bp_batched_fields_equal_single_runs():
    rng = np.random.default_rng(3)
    n = 20
    J = _sk(n, 0.5, rng)
    h = rng.normal(0.0, 0.5, (4, n))
    batch = bp(J, h, tol=1e-12, max_iter=3000)
    per_j = bp(np.broadcast_to(J, (4, n, n)).copy(), h, tol=1e-12, max_iter=3000)
    for b in range(4):
        one = bp(J, h[b], tol=1e-12, max_iter=3000, seed=7)
        for res in (batch, per_j):
            np.testing.assert_allclose(res.m[b], one.m[0], atol=1e-9)
            np.testing.assert_allclose(res.C[b], one.C[0], atol=1e-9)
            np.testing.assert_allclose(res.free_energy[b], one.free_energy[0], atol=1e-9)


def test_bp_strong_fields_and_couplings_stay_finite():
    rng = np.random.default_rng(4)
    n = 8
    J = _tree(n, rng, scale=4.0)
    h = rng.normal(0.0, 0.5, (2, n))
    h[0, 0] = 60.0  # a frozen spin
    h[1, :] = -40.0
    e = exact_moments(J, h)
    r = bp(J, h, tol=1e-12)
    for a in (r.m, r.C, r.free_energy, r.energy, r.entropy):
        assert np.isfinite(a).all()
    np.testing.assert_allclose(r.m, e.m, atol=1e-6)
    np.testing.assert_allclose(-r.free_energy, e.log_z, rtol=1e-9)


def test_bp_rejects_bad_input():
    with pytest.raises(ValueError, match="zero diagonal"):
        bp(np.eye(3), np.zeros(3))
    with pytest.raises(ValueError, match="need J"):
        bp(np.zeros((3, 3)), np.zeros(4))
    with pytest.raises(ValueError, match="damping"):
        bp(np.zeros((3, 3)), np.zeros(3), damping=1.0)


def test_moments_exact_integer_accumulation_and_streaming():
    rng = np.random.default_rng(5)
    x = np.where(rng.random((1000, 9)) < 0.3, 1, -1).astype(np.int8)
    whole = spin_moments(x, 2, 7)
    streamed = accumulate_moments(np.array_split(x, 7), 2, 7)
    xs = x[:, 2:7].astype(float)
    np.testing.assert_array_equal(whole.m, xs.mean(0))
    np.testing.assert_array_equal(whole.C, (xs.T @ xs) / 1000)
    np.testing.assert_array_equal(streamed.C, whole.C)
    assert streamed.n_samples == 1000
    with pytest.raises(ValueError, match="±1"):
        spin_moments(np.zeros((3, 2), dtype=np.int8))


def test_mixture_samples_match_exact_moments_and_three_spin():
    rng = np.random.default_rng(6)
    centers = np.tanh(rng.normal(0.0, 1.0, (3, 8)))
    weights = np.array([0.5, 0.3, 0.2])
    n = 40_000
    x = mixture_samples(centers, weights, n, seed=1)
    exact = mixture_moments(centers, weights)
    got = spin_moments(x)
    tol = 5.0 / np.sqrt(n)
    assert np.abs(got.m - exact.m).max() < tol and np.abs(got.C - exact.C).max() < tol
    triples = np.array([[0, 1, 2], [3, 5, 7], [1, 4, 6]])
    w = weights / weights.sum()
    want = np.einsum("a,at->t", w, centers[:, triples].prod(axis=2))
    np.testing.assert_allclose(three_spin_moments(np.array_split(x, 3), triples), want, atol=tol)


def test_fit_delta_matches_definition():
    rng = np.random.default_rng(7)
    n = 6
    m1, m2 = rng.uniform(-1, 1, (2, n))
    C1, C2 = rng.uniform(-1, 1, (2, n, n))
    C1, C2 = C1 + C1.T, C2 + C2.T
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    want = np.sqrt(np.mean((m1 - m2) ** 2) + np.mean([(C1[p] - C2[p]) ** 2 for p in pairs]))
    assert fit_delta(m1, C1, m2, C2) == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize(
    "kw",
    [
        {"dtype": "float64", "damping": 0.0},
        {"dtype": "float64", "adaptive": True},
        {"dtype": "float32", "adaptive": True, "tol": 1e-6},
    ],
)
def test_bp_beta_scaling_on_tree_is_exact(kw: dict) -> None:
    """Couplings βJ (one β per system): m, C on edges, ln Z, energies and entropy equal enumeration
    of P ∝ exp(βΣJσσ + Σhσ); float32 to its precision; undamped/adaptive reach the same point."""
    rng = np.random.default_rng(8)
    n = 12
    J = _tree(n, rng)
    h = rng.normal(0.0, 0.7, (3, n))
    beta = np.array([0.5, 1.0, 1.7])
    tol = kw.pop("tol", 1e-12)
    r = bp(J, h, beta=beta, tol=tol, max_iter=3000, **kw)
    assert r.converged.all()
    e = exact_moments(beta[:, None, None] * J, h)
    atol = 1e-9 if kw["dtype"] == "float64" else 2e-5
    edges = J != 0
    np.testing.assert_allclose(r.m, e.m, atol=atol)
    np.testing.assert_allclose(r.C[:, edges], e.C[:, edges], atol=atol)
    np.testing.assert_allclose(-r.free_energy, e.log_z, atol=n * atol)
    coupling = -0.5 * np.einsum("ij,bij->b", J, e.C)
    np.testing.assert_allclose(r.coupling_energy, coupling, atol=n * atol)
    np.testing.assert_allclose(r.energy, coupling - (h * e.m).sum(1), atol=n * atol)
    np.testing.assert_allclose(r.entropy, e.entropy, atol=n * atol)


def test_bp_warm_start_layouts_and_compaction() -> None:
    """Messages come back in either storage layout, and a warm start continues the iteration
    exactly (a run of k updates returns the messages after k − 1, the ones whose residual it
    measured: 5 + 8 = 6 + 7 = 13 updates); systems converging at different updates leave the batch
    without changing anyone's result."""
    rng = np.random.default_rng(9)
    n = 16
    J = _sk(n, 0.6, rng)
    h = rng.normal(0.0, 0.4, (6, n))
    h[0] *= 10.0  # strongly polarised: converges first
    kw = dict(damping=0.0, tol=1e-30)
    full = bp(J, h, max_iter=12, **kw).messages  # M_11
    layouts = set()
    for k in (5, 6):
        part = bp(J, h, max_iter=k, **kw).messages
        layouts.add(part.flags.c_contiguous)
        np.testing.assert_allclose(bp(J, h, max_iter=13 - k, messages=part, **kw).messages, full,
                                   atol=1e-14)
    assert layouts == {True, False}
    batch = bp(J, h, damping=0.0, tol=1e-11, max_iter=500)
    assert batch.converged.all() and len(set(batch.iterations)) > 2
    for b in (0, 3):
        one = bp(J, h[b], damping=0.0, tol=1e-11, max_iter=500)
        np.testing.assert_allclose(batch.m[b], one.m[0], atol=1e-10)
        np.testing.assert_allclose(batch.messages[b], one.messages[0], atol=1e-10)
        # the exact residual is evaluated when any system's proxy passes: ±1 update alone
        assert abs(int(batch.iterations[b]) - int(one.iterations[0])) <= 1
    e = exact_moments(J, h)
    assert np.abs(batch.m - e.m).max() < 0.05  # BP on a dense N = 16 model: close to exact


def test_bp_adaptive_damping_rescues_oscillation() -> None:
    """An antiferromagnetic Curie–Weiss model makes undamped parallel BP oscillate forever (period
    2); the adaptive mode detects it, switches to damping and converges to the paramagnetic point
    m = 0 (h = 0), where the Bethe ln Z is known in closed form for the complete graph."""
    n = 30
    J = np.full((n, n), -3.0 / n)
    np.fill_diagonal(J, 0.0)
    h = np.full((1, n), 0.0)
    start = np.full((1, n, n), 0.3)
    plain = bp(J, h, damping=0.0, tol=1e-9, max_iter=400, messages=start)
    assert not plain.converged.any()
    r = bp(J, h, damping=0.5, adaptive=True, tol=1e-9, max_iter=400, messages=start)
    assert r.converged.all() and r.damped.all()
    np.testing.assert_allclose(r.m, 0.0, atol=1e-8)
    t = np.tanh(-3.0 / n)  # m = 0: ln Z = N ln 2 + Σ_{i<j} ln cosh J_ij
    np.testing.assert_allclose(-r.free_energy, n * np.log(2) + n * (n - 1) / 2 * np.log(np.cosh(-3.0 / n)),
                               atol=1e-8)
    np.testing.assert_allclose(r.C[0, 0, 1], t, atol=1e-8)


def test_bp_jacobian_radius_sk_paramagnet_is_stable_although_lambda_max_k_exceeds_one() -> None:
    """SK model, β = 0.95 (J ~ N(0, β²/N)), fields of std 0.05: BP from N(0, 0.01²) messages
    converges, so its fixed point is stable (ρ(B) < 1), although λ_max of K = D^{-1/2} C^c D^{-1/2}
    of its own beliefs is far above 1 (the weak-coupling heuristic of ising.inverse fails)."""
    rng = np.random.default_rng(0)
    J = _sk(200, 0.95, rng)
    h = rng.normal(0.0, 0.05, 200)
    r = bp(J, h, tol=1e-9, max_iter=5000)
    assert r.converged[0]
    assert correlation_spectrum(r.m[0], r.C[0]).values.max() > 1.3
    assert 0.8 < bp_jacobian_radius(J, r.messages) < 1.0


def test_bp_jacobian_radius_curie_weiss_past_the_critical_point() -> None:
    """Curie–Weiss J_ij = β/N, h = 0: at the paramagnetic fixed point (all messages 0) the Jacobian is
    t·(non-backtracking matrix of the complete graph), radius (N − 2) tanh(β/N): > 1 past β_c = 1."""
    n = 50
    for beta in (0.8, 1.5):
        J = np.full((n, n), beta / n)
        np.fill_diagonal(J, 0.0)
        rad = bp_jacobian_radius(J, np.zeros((n, n)))
        assert rad == pytest.approx((n - 2) * np.tanh(beta / n), rel=1e-6)
        assert (rad > 1.0) == (beta > 1.0)


def test_bp_jacobian_matches_finite_differences() -> None:
    """N = 8 dense spin glass: the matrix-free Jacobian equals the central finite-difference Jacobian
    of the BP update at the fixed point, and its radius the largest |eigenvalue| of that matrix."""
    rng = np.random.default_rng(3)
    n = 8
    J = np.triu(rng.normal(0.0, 0.5, (n, n)), 1)
    J = J + J.T
    h = rng.normal(0.0, 0.3, n)
    M = np.array(bp(J, h, tol=1e-13, max_iter=10000).messages[0])
    assert np.abs(message_update(J, h, M) - M).max() < 1e-12
    edges = [(i, j) for i in range(n) for j in range(n) if i != j]
    rows, cols = np.array(edges).T
    op = message_jacobian(J, M)
    fd = np.zeros((len(edges), len(edges)))
    mf = np.zeros_like(fd)
    for c, (k, i) in enumerate(edges):
        d = np.zeros((n, n))
        d[k, i] = 1e-6
        fd[:, c] = (message_update(J, h, M + d) - message_update(J, h, M - d))[rows, cols] / 2e-6
        d[k, i] = 1.0
        mf[:, c] = op.matvec(d)[rows, cols]
    np.testing.assert_allclose(mf, fd, atol=1e-8)
    dense = np.abs(np.linalg.eigvals(fd)).max()
    assert bp_jacobian_radius(J, M) == pytest.approx(dense, rel=1e-6)
    damped = np.abs(np.linalg.eigvals(0.5 * np.eye(len(edges)) + 0.5 * fd)).max()
    assert bp_jacobian_radius(J, M, damping=0.5) == pytest.approx(damped, rel=1e-6)


def test_three_spin_connected_from_raw_matches_direct_centring() -> None:
    """compare_three_spin reports raw and connected agreement over the same triples; the connected
    correlations it derives from the raw ones equal those of the centred samples."""
    rng = np.random.default_rng(9)
    X = np.where(rng.random((500, 7)) < 0.7, 1.0, -1.0)
    Y = np.where(rng.random((400, 7)) < 0.6, 1.0, -1.0)
    raw = triple_correlations(X, "raw")
    np.testing.assert_allclose(connected_from_raw(raw, X), triple_correlations(X, "connected"), atol=1e-12)
    cmp = compare_three_spin(X, Y, n_spins=7, kind="raw", eps=[0.015, 0.05])
    for kind in ("raw", "connected"):
        want = fraction_within(triple_correlations(X, kind), triple_correlations(Y, kind), [0.015, 0.05])
        np.testing.assert_allclose(cmp.fractions[kind], want)
    np.testing.assert_allclose(cmp.fraction, cmp.fractions["raw"])
