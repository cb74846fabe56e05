"""Layer-wise order parameters (Yoshino 2019, docs/design.md §3.8) and hidden-unit matching.

Overlaps per layer l between configurations a and b:
    q_J(l) = sum_ij J^{l,a}_ij J^{l,b}_ij / n_l   (n_l = number of bonds present; N^2 unmasked)
    q_S(l) = (1/(N M)) sum_{i,mu} S^{l,a}_{mu i} S^{l,b}_{mu i}   (hidden layers l = 1..L-1)
Hidden units of a layer can be relabelled (and, for odd activations such as sign, flipped
together with their incoming row and outgoing column) without changing the network. Matching
aligns b to a with such (signed) permutations P_l, l = 1..L-1, maximising
    T = sum_l q_J(l)[W^{l,a}, P_l W^{l,b} P_{l-1}^T] + sum_l q_S(l)[S^{l,a}, S^{l,b} P_l^T].
Start: the referee's greedy pass (layer by layer from the input, each P_l from the incoming
rows and the representations), or the identity if that scores higher; then block-coordinate
ascent (T is linear in each P_l; each block is a bipartite matching, solved exactly with
scipy's linear_sum_assignment), so T never falls below its unmatched value. The alternative
of the paper, bond masking (remove the same random bonds in both networks before sampling),
needs no matching: compare the two in ``app``. Host-side NumPy (small matrices).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..nets.spins import config_to_layers


def layer_overlaps(Wa: Sequence[np.ndarray], Wb: Sequence[np.ndarray]) -> np.ndarray:
    """q(l) = <W^{l,a}, W^{l,b}> / n_l per layer, n_l = number of entries nonzero in a or b."""
    out = []
    for A, B in zip(Wa, Wb, strict=True):
        n = max(int(((A != 0) | (B != 0)).sum()), 1)
        out.append(float((A * B).sum()) / n)
    return np.array(out)


def rep_overlaps(Sa: Sequence[np.ndarray], Sb: Sequence[np.ndarray]) -> np.ndarray:
    """q_S(l) = mean of S^a S^b over patterns and units, per hidden layer ([M, N_l] each);
    NaN without patterns (M = 0)."""
    return np.array([float((A * B).mean()) if A.size else np.nan
                     for A, B in zip(Sa, Sb, strict=True)])


def _has_reps(Sa: Sequence[np.ndarray] | None) -> bool:
    return Sa is not None and all(s.size for s in Sa)


@dataclass
class Matching:
    """Signed permutation per hidden layer: unit perm[l][i] of b, times sign[l][i], becomes i."""

    perms: list[np.ndarray]
    signs: list[np.ndarray]
    score_before: float
    score_after: float


def apply_matching(
    Wb: Sequence[np.ndarray], Sb: Sequence[np.ndarray] | None, m: Matching
) -> tuple[list[np.ndarray], list[np.ndarray] | None]:
    """Relabel b: rows of W^l and columns of W^{l+1} and of S^l by perm/sign of hidden layer l."""
    W = [w.copy() for w in Wb]
    for l, (p, s) in enumerate(zip(m.perms, m.signs, strict=True)):
        W[l] = W[l][p] * s[:, None]
        W[l + 1] = W[l + 1][:, p] * s[None, :]
    S = None if Sb is None else [x[:, p] * s[None, :] for x, p, s in zip(Sb, m.perms, m.signs,
                                                                        strict=True)]
    return W, S


def _score(Wa, Wb, Sa, Sb) -> float:
    total = float(layer_overlaps(Wa, Wb).sum())
    return total + (float(rep_overlaps(Sa, Sb).sum()) if _has_reps(Sa) else 0.0)


def _assign(C: np.ndarray, signed: bool) -> tuple[np.ndarray, np.ndarray]:
    """argmax over (signed) permutations of sum_i s_i C[i, perm_i]."""
    rows, perm = linear_sum_assignment(np.abs(C) if signed else C, maximize=True)
    sign = np.where(C[rows, perm] < 0, -1.0, 1.0) if signed else np.ones(len(perm))
    return perm, sign


def _gain(l, Wa, Wb_al, Sa, Sb_al, use_next: bool) -> np.ndarray:
    """C_ij = gain of putting b's (currently aligned) unit j of hidden layer l at position i."""
    A, B = Wa[l], Wb_al[l]
    C = (A @ B.T) / max(int(((A != 0) | (B != 0)).sum()), 1)
    if use_next:
        A2, B2 = Wa[l + 1], Wb_al[l + 1]
        C = C + (A2.T @ B2) / max(int(((A2 != 0) | (B2 != 0)).sum()), 1)
    if _has_reps(Sa):
        C = C + (Sa[l].T @ Sb_al[l]) / Sa[l].size
    return C


def _aligned_score(Wa, Wb, Sa, Sb, m: Matching) -> float:
    W_al, S_al = apply_matching(Wb, Sb, m)
    return _score(Wa, W_al, Sa, S_al)


def match_units(
    Wa: Sequence[np.ndarray],
    Wb: Sequence[np.ndarray],
    Sa: Sequence[np.ndarray] | None = None,
    Sb: Sequence[np.ndarray] | None = None,
    *,
    signed: bool,
    max_iter: int = 20,
) -> Matching:
    """Align network b to network a (weights [N_l, N_{l-1}] per layer, optional hidden
    representations [M, N_l]); returns the matching and the score T before and after."""
    n_hidden = len(Wa) - 1

    def identity() -> Matching:
        return Matching([np.arange(Wa[l].shape[0]) for l in range(n_hidden)],
                        [np.ones(Wa[l].shape[0]) for l in range(n_hidden)], 0.0, 0.0)

    def best_block(m: Matching, l: int, use_next: bool) -> tuple[np.ndarray, np.ndarray]:
        m.perms[l], m.signs[l] = np.arange(Wa[l].shape[0]), np.ones(Wa[l].shape[0])
        W_al, S_al = apply_matching(Wb, Sb, m)  # b with layer l not relabelled
        return _assign(_gain(l, Wa, W_al, Sa, S_al, use_next), signed)

    before = _score(Wa, Wb, Sa, Sb)
    greedy = identity()
    for l in range(n_hidden):  # referee's pass: incoming rows (+ reps), input to output
        greedy.perms[l], greedy.signs[l] = best_block(greedy, l, use_next=False)
    m = greedy if _aligned_score(Wa, Wb, Sa, Sb, greedy) >= before else identity()
    best = _aligned_score(Wa, Wb, Sa, Sb, m)
    for _ in range(max_iter):  # block-coordinate ascent on T
        improved = False
        for l in range(n_hidden):
            old = m.perms[l], m.signs[l]
            m.perms[l], m.signs[l] = best_block(m, l, use_next=True)
            new = _aligned_score(Wa, Wb, Sa, Sb, m)
            if new > best + 1e-12:
                best, improved = new, True
            else:
                m.perms[l], m.signs[l] = old
        if not improved:
            break
    return Matching(m.perms, m.signs, before, best)


def pair_overlaps(
    Wa: Sequence[np.ndarray],
    Wb: Sequence[np.ndarray],
    Sa: Sequence[np.ndarray] | None = None,
    Sb: Sequence[np.ndarray] | None = None,
    *,
    match: bool,
    signed: bool,
) -> tuple[np.ndarray, np.ndarray | None]:
    """(q_J per layer, q_S per hidden layer or None) of a pair, after matching if asked."""
    if match and len(Wa) > 1:
        Wb, Sb = apply_matching(Wb, Sb, match_units(Wa, Wb, Sa, Sb, signed=signed))
    return layer_overlaps(Wa, Wb), (None if Sa is None else rep_overlaps(Sa, Sb))


def replica_overlaps(
    J: np.ndarray, reps: np.ndarray, solved: np.ndarray, *, match: bool, signed: bool = True
) -> dict[str, np.ndarray]:
    """Overlaps of all pairs a < b of solved replicas of the same sample, per snapshot.

    J [T, S, R, L, N, N], reps [T, S, R, L-1, M, N], solved [S, R]. Returns q_J [T, S, L] and
    q_S [T, S, L-1] averaged over the pairs of each sample (NaN where a sample has fewer than
    two solutions) and n_pairs [S].
    """
    T, n_s, R, L = J.shape[:4]
    qJ, qS = np.full((T, n_s, L), np.nan), np.full((T, n_s, max(L - 1, 0)), np.nan)
    n_pairs = np.zeros(n_s, dtype=int)
    for s in range(n_s):
        ok = np.flatnonzero(solved[s])
        pairs = [(a, b) for i, a in enumerate(ok) for b in ok[i + 1 :]]
        n_pairs[s] = len(pairs)
        for t in range(T) if pairs else ():
            res = [pair_overlaps(list(J[t, s, a]), list(J[t, s, b]),
                                 list(reps[t, s, a].astype(float)),
                                 list(reps[t, s, b].astype(float)), match=match, signed=signed)
                   for a, b in pairs]
            qJ[t, s] = np.mean([r[0] for r in res], axis=0)
            qS[t, s] = np.mean([r[1] for r in res], axis=0)
    return {"q_J": qJ, "q_S": qS, "n_pairs": n_pairs}


def teacher_overlaps(
    J: np.ndarray, reps: np.ndarray, solved: np.ndarray, J_teacher: np.ndarray,
    reps_teacher: np.ndarray, *, match: bool, signed: bool = True
) -> dict[str, np.ndarray]:
    """Student-teacher overlaps per layer: J [T, S, R, L, N, N], reps [T, S, R, L-1, M, N],
    J_teacher [S, L, N, N], reps_teacher [S, L-1, M, N]. Returns q_J [T, S, L], q_S [T, S, L-1]
    averaged over the solved students of each sample (NaN if none)."""
    T, n_s, R, L = J.shape[:4]
    qJ, qS = np.full((T, n_s, L), np.nan), np.full((T, n_s, max(L - 1, 0)), np.nan)
    for s in range(n_s):
        ok = np.flatnonzero(solved[s])
        for t in range(T) if len(ok) else ():
            res = [pair_overlaps(list(J_teacher[s]), list(J[t, s, a]), list(reps_teacher[s]),
                                 list(reps[t, s, a].astype(float)), match=match, signed=signed)
                   for a in ok]
            qJ[t, s] = np.mean([r[0] for r in res], axis=0)
            qS[t, s] = np.mean([r[1] for r in res], axis=0)
    return {"q_J": qJ, "q_S": qS}


def ensemble_layer_overlap(
    configs: np.ndarray,
    widths: Sequence[int],
    *,
    n_pairs: int = 200,
    signed: bool = False,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Layer-wise overlap q(l) between random distinct pairs of ensemble configurations
    (configs [M, N_spins] of +-1, split with ``config_to_layers``), raw and after hidden-unit
    matching (unsigned by default: LReLU is not odd, so only permutations are symmetries).
    Returns mean and std over pairs per layer, and the number of pairs."""
    configs = np.asarray(configs)
    if configs.ndim != 2 or len(configs) < 2:
        raise ValueError(f"configs of shape {configs.shape}: need an [M >= 2, N_spins] array")
    layers = config_to_layers(configs.astype(float), widths)
    rng = np.random.default_rng(seed)
    M = len(configs)
    n_all = M * (M - 1) // 2
    picks = rng.choice(n_all, size=min(n_pairs, n_all), replace=False)
    iu = np.triu_indices(M, k=1)
    raw, matched = [], []
    for a, b in zip(iu[0][picks], iu[1][picks], strict=True):
        Wa, Wb = [w[a] for w in layers], [w[b] for w in layers]
        raw.append(pair_overlaps(Wa, Wb, match=False, signed=signed)[0])
        matched.append(pair_overlaps(Wa, Wb, match=True, signed=signed)[0])
    raw, matched = np.array(raw), np.array(matched)
    return {"raw_mean": raw.mean(0), "raw_std": raw.std(0), "matched_mean": matched.mean(0),
            "matched_std": matched.std(0), "n_pairs": np.array(len(raw))}
