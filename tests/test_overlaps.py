"""Yoshino layer-wise order: solution-space MC, matching, overlaps, app (docs/design.md §3.8)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from omegaconf import OmegaConf
from scipy.optimize import linprog

from weightspace.apps.analyses import layer_overlap as app
from weightspace.overlaps.gardner import cover_probability, gardner_capacity, gardner_q
from weightspace.overlaps.order import (
    apply_matching,
    ensemble_layer_overlap,
    layer_overlaps,
    match_units,
    replica_overlaps,
)
from weightspace.overlaps.scenarios import (
    bond_mask,
    forward_reps,
    random_patterns,
    random_teacher,
    teacher_patterns,
)
from weightspace.overlaps.solution_mc import (
    BETA_INF,
    clone,
    constraint_cost,
    init_state,
    run_solution_mc,
    search,
    sweep,
)


def _sphere(rng, shape):
    J = rng.standard_normal(shape)
    return J * np.sqrt(shape[-1] / (J**2).sum(-1, keepdims=True))


# ---------------------------------------------------------------- closed forms


def test_gardner_rs_limits_and_cover():
    assert gardner_capacity(0.0) == pytest.approx(2.0, rel=1e-8)
    assert gardner_q(0.01) == pytest.approx(2 * 0.01 / np.pi, rel=2e-3)  # q ~ 2 alpha / pi
    assert gardner_q(1.999) > 0.99  # q -> 1 at alpha_c = 2
    qs = [gardner_q(a) for a in (0.2, 0.5, 1.0, 1.5)]
    assert np.all(np.diff(qs) > 0)
    assert cover_probability(20, 10) == pytest.approx(0.5)  # P(M = 2N) = 1/2
    assert cover_probability(7, 10) == pytest.approx(1.0)


# ---------------------------------------------------------------- MC kernels vs exact


def _enumerate_layer_energies(x, y, L, N, M, beta, delta, soft):
    """Exact Boltzmann <E_l> of the binary net by enumeration of all weights and reps."""
    def bits(n):
        return 2.0 * ((np.arange(2**n)[:, None] >> np.arange(n)) & 1) - 1

    J_all = bits(L * N * N).reshape(-1, L, N, N)
    Z, El = 0.0, np.zeros(L)
    for S in bits((L - 1) * M * N).reshape(-1, L - 1, M, N):
        states = [x, *S, y]
        E = np.stack([constraint_cost(np.einsum("mj,aij->ami", states[l], J_all[:, l])
                                      * states[l + 1], delta, N, soft).sum((1, 2))
                      for l in range(L)], axis=1)
        w = np.exp(-beta * E.sum(1))
        Z, El = Z + w.sum(), El + (w[:, None] * E).sum(0)
    return El / Z


@pytest.mark.parametrize("soft,delta", [(False, 0.0), (True, 0.5)])
def test_binary_deep_mc_matches_exact_boltzmann(soft, delta):
    L, N, M, B = 3, 2, 2, 256
    x, y = random_patterns(1, M, N, 7)
    exact = _enumerate_layer_energies(x[0], y[0], L, N, M, 1.0, delta, soft)
    rng = np.random.default_rng(1)
    st = init_state(np.repeat(x, B, 0), np.repeat(y, B, 0), L, weights="binary", delta=delta,
                    energy="soft" if soft else "count", rng=rng)
    beta, vals = np.full(B, 1.0), []
    for k in range(300):
        stats = sweep(st, beta, rng)
        if k >= 60:
            vals.append([constraint_cost(st.H[:, l] * st.S[:, l + 1], delta, N, soft)
                         .sum((1, 2)).mean() for l in range(L)])
    vals = np.array(vals)
    err = vals.reshape(8, -1, L).mean(1).std(0) / np.sqrt(8)
    assert np.all(np.abs(vals.mean(0) - exact) < 4 * err + 0.01), (vals.mean(0), exact, err)
    assert stats["drift"] == 0.0  # integer fields: incremental updates exact


def test_continuous_deep_solution_space_matches_rejection_sampling():
    """Uniform measure on {J on spheres: sign network maps x -> y}, L = 2, N = 3, M = 2."""
    L, N, M = 2, 3, 2
    x, y = random_patterns(1, M, N, 15)
    rng = np.random.default_rng(0)

    def observables(J, S):  # mean gap per layer; hidden-unit pattern correlation
        H = np.einsum("blmj,blij->blmi", S[:, :L], J)
        gaps = (H * S[:, 1:]).mean((2, 3)) / np.sqrt(N)
        return np.concatenate([gaps, (S[:, 1, 0] * S[:, 1, 1]).mean(-1, keepdims=True)], 1)

    acc = []
    while sum(map(len, acc)) < 6000:
        J = _sphere(rng, (40000, L, N, N))
        S = forward_reps(J, np.repeat(x, len(J), 0))
        ok = (S[:, L] == y[0]).all((1, 2))
        acc.append(observables(J[ok], S[ok]))
    ref = np.concatenate(acc)
    B = 128  # all chains start from ONE solution: they must leave its representation cell
    st = init_state(x, y, L, weights="continuous", rng=rng)
    solved, _, _ = search(st, rng, beta_start=0.5, beta_end=20, anneal_sweeps=30, max_sweeps=300)
    assert solved.all()
    st = clone(st, B)
    beta, vals = np.full(B, BETA_INF), []
    for k in range(260):
        sweep(st, beta, rng)
        if k >= 20:
            vals.append(observables(st.J, st.S).mean(0))
    vals = np.array(vals)
    err = np.hypot(vals.reshape(8, -1, 3).mean(1).std(0) / np.sqrt(8),
                   ref.std(0) / np.sqrt(len(ref)))
    assert np.all(np.abs(vals.mean(0) - ref.mean(0)) < 4 * err + 0.005), (vals.mean(0),
                                                                           ref.mean(0), err)


# ---------------------------------------------------------------- solved / failure flags


def _lp_separable(xs, ys):
    res = linprog(np.zeros(xs.shape[1]), A_ub=-(ys[:, None] * xs), b_ub=-np.ones(len(xs)),
                  bounds=[(None, None)] * xs.shape[1], method="highs")
    return res.status == 0


def test_perceptron_solved_flags_agree_with_lp_feasibility():
    N, S = 8, 3
    for alpha in (0.5, 4.0):
        M = int(alpha * N)
        x, y = random_patterns(S, M, N, 3)
        res = run_solution_mc(x, y, 1, n_replicas=2, anneal_sweeps=40, max_sweeps=150,
                              sample_sweeps=5, n_snapshots=2, seed=0)
        lp = np.array([all(_lp_separable(x[s], y[s][:, i]) for i in range(N)) for s in range(S)])
        if alpha < 1:  # easy: every instance with a solution is solved
            assert lp.sum() >= 2
            np.testing.assert_array_equal(res.solved, np.repeat(lp[:, None], 2, 1))
        else:  # beyond the capacity alpha_c = 2: no solution exists, none is claimed
            assert not lp.any() and not res.solved.any()
        assert np.isnan(res.J[:, ~res.solved]).all()  # failures are never returned as samples
        assert (res.final_violations[~res.solved] > 0).all()


def test_deep_unsatisfiable_instance_reported_as_failure():
    x, y = random_patterns(1, 2, 3, 11)  # identical inputs with different outputs
    assert (x[0, 0] == x[0, 1]).all() and (y[0, 0] != y[0, 1]).any()
    res = run_solution_mc(x, y, 3, n_replicas=2, anneal_sweeps=10, max_sweeps=30,
                          sample_sweeps=2, n_snapshots=2)
    assert not res.solved.any() and (res.sweeps_to_solve == -1).all()


@pytest.mark.parametrize("weights", ["binary", "continuous"])
def test_deep_mc_samples_satisfy_every_constraint(weights):
    L, N, M, delta = 3, 7, 4, 0.1
    x, y = random_patterns(2, M, N, 4)
    res = run_solution_mc(x, y, L, n_replicas=3, weights=weights, delta=delta,
                          anneal_sweeps=60, max_sweeps=400, sample_sweeps=6, n_snapshots=3)
    assert res.solved.all(), res.final_violations
    assert res.stats["sample_drift"] < 1e-9 and res.stats["n_lost"] == 0
    for t in range(len(res.times)):
        for s in range(2):
            for r in range(3):
                states = [x[s], *res.reps[t, s, r].astype(float), y[s]]
                for l in range(L):
                    gap = (states[l] @ res.J[t, s, r, l].T) * states[l + 1] / np.sqrt(N)
                    assert gap.min() >= delta - 1e-9
                if weights == "continuous":
                    norms = (res.J[t, s, r] ** 2).sum(-1)
                    np.testing.assert_allclose(norms, N, rtol=1e-9)
    # the chains move inside the solution space (representations included)
    assert (res.reps[0] != res.reps[-1]).any() or weights == "continuous"
    assert not np.allclose(res.J[0], res.J[-1])


# ---------------------------------------------------------------- single perceptron overlap


def test_perceptron_replica_overlap_follows_gardner_trend():
    """L = 1 continuous: q(0) = 0, q(alpha) equals the exact finite-N value (rejection
    sampling of the same instances) and grows with alpha at the RS magnitude."""
    N, S, R = 10, 5, 6
    rng = np.random.default_rng(5)
    means = []
    for alpha in (0.0, 0.3, 0.6):
        M = int(round(alpha * N))
        x, y = random_patterns(S, M, N, 3)
        res = run_solution_mc(x, y, 1, n_replicas=R, anneal_sweeps=20, max_sweeps=200,
                              sample_sweeps=60, n_snapshots=3, seed=2)
        assert res.solved.all()
        ov = replica_overlaps(res.J[-1:], res.reps[-1:], res.solved, match=False)
        q_units = np.array([[(res.J[-1, s, a, 0, i] * res.J[-1, s, b, 0, i]).sum() / N
                             for a in range(R) for b in range(a + 1, R)]
                            for s in range(S) for i in range(N)]).mean(1)
        np.testing.assert_allclose(ov["q_J"][0, :, 0].mean(), q_units.mean(), atol=1e-12)
        q_mc, e_mc = q_units.mean(), q_units.std() / np.sqrt(len(q_units))
        exact = []
        for s in range(S):
            for i in range(N):
                acc = []
                while sum(map(len, acc)) < 300:
                    J = _sphere(rng, (20000, N))
                    acc.append(J[((J @ x[s].T) * y[s][:, i] >= 0).all(1)])
                A = np.concatenate(acc)[:300]
                tot = A.sum(0)
                exact.append((tot @ tot - (A * A).sum()) / (len(A) * (len(A) - 1)) / N)
        q_ex, e_ex = np.mean(exact), np.std(exact) / np.sqrt(len(exact))
        assert abs(q_mc - q_ex) < 4 * np.hypot(e_mc, e_ex), (alpha, q_mc, q_ex)
        if alpha > 0:
            assert 0.7 < q_mc / gardner_q(alpha) < 1.4  # finite N, RS magnitude
        means.append((q_mc, e_mc))
    assert abs(means[0][0]) < 4 * means[0][1]
    assert means[0][0] < means[1][0] < means[2][0]


# ---------------------------------------------------------------- matching


def _random_net(rng, widths, binary=True):
    return [(2.0 * (rng.random((o, i)) < 0.5) - 1) if binary else rng.standard_normal((o, i))
            for i, o in zip(widths[:-1], widths[1:], strict=True)]


@pytest.mark.parametrize("signed", [True, False])
def test_matching_recovers_planted_permutation(signed):
    rng = np.random.default_rng(0)
    widths = [8, 7, 6, 5, 4]
    Wa = _random_net(rng, widths, binary=False)
    Sa = [np.sign(rng.standard_normal((9, w))) for w in widths[1:-1]]
    perms = [rng.permutation(w) for w in widths[1:-1]]
    signs = [np.where(rng.random(w) < 0.5, -1.0, 1.0) if signed else np.ones(w)
             for w in widths[1:-1]]
    Wb, Sb = [w.copy() for w in Wa], [s.copy() for s in Sa]
    for l, (p, s) in enumerate(zip(perms, signs, strict=True)):  # scramble b's hidden units
        Wb[l], Sb[l] = Wb[l][p] * s[:, None], Sb[l][:, p] * s
        Wb[l + 1] = Wb[l + 1][:, p] * s
    assert layer_overlaps(Wa, Wb)[1:-1].max() < 0.9
    m = match_units(Wa, Wb, Sa, Sb, signed=signed)
    Wm, Sm = apply_matching(Wb, Sb, m)
    for A, B in zip(Wa + Sa, Wm + Sm, strict=True):
        np.testing.assert_allclose(A, B)
    for l, p in enumerate(perms):
        np.testing.assert_array_equal(p[m.perms[l]], np.arange(len(p)))


@pytest.mark.parametrize("signed", [True, False])
def test_matching_never_lowers_the_overlap(signed):
    rng = np.random.default_rng(1)
    widths = [6, 5, 5, 5, 3]
    for _ in range(25):
        Wa, Wb = _random_net(rng, widths), _random_net(rng, widths)
        m = match_units(Wa, Wb, signed=signed)
        raw = layer_overlaps(Wa, Wb).sum()
        matched = layer_overlaps(Wa, apply_matching(Wb, None, m)[0]).sum()
        assert m.score_before == pytest.approx(raw)
        assert matched == pytest.approx(m.score_after) and matched >= raw - 1e-12
    W1a, W1b = _random_net(rng, [4, 6, 3]), _random_net(rng, [4, 6, 3])
    best = max(layer_overlaps(W1a, [W1b[0][p], W1b[1][:, p]]).sum()
               for p in map(np.array, itertools.permutations(range(6))))
    m = match_units(W1a, W1b, signed=False)
    assert m.score_after == pytest.approx(best)  # one hidden layer: exact optimum


def test_ensemble_layer_overlap_with_planted_permutation():
    rng = np.random.default_rng(2)
    widths = [5, 4, 4, 3]
    Wa = _random_net(rng, widths)
    p = rng.permutation(4)
    Wb = [Wa[0][p], Wa[1][:, p], Wa[2]]
    configs = np.stack([np.concatenate([w.ravel() for w in W]) for W in (Wa, Wb)]).astype(np.int8)
    res = ensemble_layer_overlap(configs, widths, n_pairs=10)
    assert int(res["n_pairs"]) == 1
    np.testing.assert_allclose(res["matched_mean"], 1.0)
    np.testing.assert_allclose(res["raw_mean"], layer_overlaps(Wa, Wb))
    assert res["raw_mean"][:2].max() < 1.0


# ---------------------------------------------------------------- scenarios and masking


def test_teacher_is_a_solution_and_masked_bonds_stay_removed():
    L, N, M, S = 3, 6, 4, 2
    mask = bond_mask(S, L, N, 0.3, 0)
    assert mask.sum(-1).min() >= 1
    np.testing.assert_allclose(1 - mask.mean(), round(0.3 * N * N) / (N * N), atol=0.02)
    Jt = random_teacher(S, L, N, "continuous", 1, mask=mask)
    x, St = teacher_patterns(Jt, M, 2)
    gaps = [(St[:, l] @ Jt[:, l].swapaxes(-1, -2)) * St[:, l + 1] for l in range(L)]
    assert min(g.min() for g in gaps) >= 0  # the teacher satisfies its own constraints
    res = run_solution_mc(x, St[:, L], L, n_replicas=2, mask=mask, anneal_sweeps=30,
                          max_sweeps=300, sample_sweeps=4, n_snapshots=2)
    assert res.solved.any()  # annealing finds most, not always all, solutions of a masked net in 300 sweeps
    removed = np.broadcast_to(mask[None, :, None] == 0, res.J.shape)[:, res.solved]
    assert (res.J[:, res.solved][removed] == 0).all()
    res_c = run_solution_mc(x, St[:, L], L, n_replicas=2, mask=mask, protocol="clones",
                            start=Jt, max_sweeps=0, sample_sweeps=2, n_snapshots=2)
    assert res_c.solved.all()  # the planted teacher is already a solution
    np.testing.assert_allclose(res_c.J[0, :, 0], Jt)


# ---------------------------------------------------------------- app and errors


def _acfg(**over):
    base = OmegaConf.load("conf/analysis/layer_overlap.yaml")
    small = dict(L=2, N=4, alphas=[0.5], replicas=2, samples=2, anneal_sweeps=5, max_sweeps=40,
                 sample_sweeps=3, snapshots=2, progress=False, backend="numpy", seed=0)
    return OmegaConf.merge(base, small, over)


def test_app_random_teacher_and_ensemble(tmp_path):
    out = app.run(_acfg(), tmp_path / "r", [])
    assert 0.0 <= out["layer_overlap/alpha0.5/solved_frac"] <= 1.0
    assert "layer_overlap/alpha0.5/replica_matched/q_J_l1" in out
    assert (tmp_path / "r" / "layer_overlap.csv").is_file()
    assert (tmp_path / "r" / "profile_replica_matched_q_J.png").is_file()
    widths = [4, 3, 2]
    rng = np.random.default_rng(0)
    cfg_path = tmp_path / "ens.npy"
    np.save(cfg_path, np.where(rng.random((6, 18)) < 0.5, -1, 1).astype(np.int8))
    out = app.run(_acfg(scenario="teacher", mask_fraction=0.25, configs=str(cfg_path),
                        widths=widths), tmp_path / "t", [])
    assert "layer_overlap/alpha0.5_masked/teacher_raw/q_J_l2" in out
    assert "layer_overlap/ensemble/matched/q_l1" in out
    assert (tmp_path / "t" / "profile_ensemble.png").is_file()


def test_bad_inputs_give_one_line_errors(tmp_path):
    with pytest.raises(ValueError, match="weights="):
        app.run(_acfg(weights="ternary"), tmp_path, [])
    with pytest.raises(ValueError, match="scenario="):
        app.run(_acfg(scenario="mnist"), tmp_path, [])
    with pytest.raises(ValueError, match="not found"):
        app.run(_acfg(scenario="none", configs=str(tmp_path / "nope.npy"), widths=[4, 3]),
                tmp_path, [])
    bad = tmp_path / "bad.npy"
    np.save(bad, np.ones((3, 5), dtype=np.int8))
    with pytest.raises(ValueError, match="does not match"):
        app.run(_acfg(scenario="none", configs=str(bad), widths=[4, 3]), tmp_path, [])
    with pytest.raises(ValueError, match="alpha="):
        app.run(_acfg(alphas=[0.01]), tmp_path, [])
