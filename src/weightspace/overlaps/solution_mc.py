"""Solution-space Monte Carlo of a deep network of sign perceptrons (Yoshino 2019, docs/design.md §3.8).

Layers l = 0..L of N units; l = 0 (inputs) and l = L (outputs) are clamped to the patterns,
the internal representations S^l_{mu i} (l = 1..L-1) and the weights J^l (l = 1..L, row i =
perceptron i of layer l) are the variables. L = 1 is a single layer of N perceptrons.
Constraint for perceptron i of layer l on pattern mu (Yoshino's gap, Eq. 4):

    r^l_{i mu} = S^l_{mu i} (1/sqrt N) sum_j J^l_ij S^{l-1}_{mu j}  >=  Delta.

Energy: number of violated constraints (``energy="count"``) or sum (Delta - r) theta(Delta - r)
(``"soft"``). Weights are binary (+-1, single flips) or continuous on the sphere
sum_j (J^l_ij)^2 = n_active (rotations of a random coordinate pair by a uniform angle, which
keep the uniform measure on the sphere). Representations move by single flips.

Parallel updates: in one step every perceptron row of every layer proposes one weight move
(rows touch disjoint constraints), and for every pattern of every hidden layer of one parity
one unit proposes a flip (a flip of S^l_{mu i} touches constraints (l, i, mu) and
(l+1, ., mu) only). Fields H^l = S^{l-1} J^l^T are updated incrementally and recomputed from
scratch once per sweep (the drift is reported). Batch axis B = samples x replicas; all
kernels are written against ``xp`` and run on NumPy or CuPy. :func:`run_solution_mc` draws from
:class:`~weightspace.backend.CounterRNG` (the same numbers on both); a sweep copies to the host once
(the acceptance rates and drift together), plus once for the lone-flip test.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from ..backend import CounterRNG, array_module, to_numpy

BETA_INF = 1e30  # "zero temperature": only moves with dE <= 0 are accepted (finite, no inf*0)
WEIGHT_TYPES = ("binary", "continuous")
ENERGIES = ("count", "soft")


@dataclass
class MCState:
    """Variables of B independent chains. Arrays are float64 on the backend of ``J``.

    J: [B, L, N, N] weights (layer index 0 = Yoshino's l = 1); S: [B, L+1, M, N] layer
    states (S[:, 0] inputs, S[:, L] outputs, both clamped); H: [B, L, M, N] unnormalised
    fields H^l_{mu i} = sum_j J^l_ij S^{l-1}_{mu j}; mask: [B, L, N, N] 1 = bond present,
    0 = removed (bond masking), or None.
    """

    J: Any
    S: Any
    H: Any
    mask: Any | None
    binary: bool
    delta: float
    soft: bool

    @property
    def dims(self) -> tuple[int, int, int, int]:
        """(B, L, M, N)."""
        B, L, N, _ = self.J.shape
        return B, L, self.S.shape[2], N


def check_options(weights: str, energy: str, delta: float) -> None:
    """One-line ValueErrors for bad MC options."""
    if weights not in WEIGHT_TYPES:
        raise ValueError(f"weights={weights!r}: choose one of {WEIGHT_TYPES}")
    if energy not in ENERGIES:
        raise ValueError(f"energy={energy!r}: choose one of {ENERGIES}")
    if not delta >= 0:
        raise ValueError(f"delta={delta}: the gap threshold must be >= 0")


def fields(J: Any, S: Any) -> Any:
    """H^l_{mu i} = sum_j J^l_ij S^{l-1}_{mu j} for l = 1..L: [B, L, M, N]."""
    return S[:, :-1] @ J.swapaxes(-1, -2)


def constraint_cost(z: Any, delta: float, n: int, soft: bool) -> Any:
    """Cost of unnormalised gaps z = sqrt(N) r: theta(Delta - r) or (Delta - r) theta(Delta - r)."""
    thr = delta * math.sqrt(n)
    viol = z < thr
    if soft:
        return (thr - z) * viol / math.sqrt(n)
    return viol * 1.0


def violations(state: MCState) -> Any:
    """Number of violated constraints per chain, from freshly computed fields: [B]."""
    H = fields(state.J, state.S)
    n = state.J.shape[-1]
    return constraint_cost(H * state.S[:, 1:], state.delta, n, False).sum(axis=(1, 2, 3))


def energy(state: MCState) -> Any:
    """Energy per chain (count or soft) from the stored fields: [B]."""
    n = state.J.shape[-1]
    return constraint_cost(state.H * state.S[:, 1:], state.delta, n, state.soft).sum(axis=(1, 2, 3))


def _dcost(state: MCState, z_new: Any, z_old: Any) -> Any:
    """Elementwise energy change of constraints whose unnormalised gap goes z_old -> z_new."""
    n = state.J.shape[-1]
    return (constraint_cost(z_new, state.delta, n, state.soft)
            - constraint_cost(z_old, state.delta, n, state.soft))


def _metropolis(dE: Any, beta: Any, rng: Any) -> Any:
    """Accept with probability min(1, exp(-beta dE)); beta >= BETA_INF rejects every dE > 0."""
    return (dE <= 0) | (rng.standard_exponential(dE.shape) > beta * dE)


def _one_hot(idx: Any, n: int) -> Any:
    xp = array_module(idx)
    return xp.arange(n) == idx[..., None]


def weight_step(state: MCState, beta: Any, rng: Any, angle: float) -> Any:
    """One weight proposal (representations fixed) for every row of every layer, in place;
    returns acceptance [B, L, N]."""
    xp = array_module(state.J)
    B, L, M, N = state.dims
    S_in, S_out = state.S[:, :L], state.S[:, 1:]
    dJ, cols, dvals = _propose_rows(state.J, state.binary, rng, angle)
    dH = 0.0  # dH[b, l, mu, i] = sum_c dvals[b, l, i, c] S_in[b, l, mu, cols[b, l, i, c]]
    for c in range(cols.shape[-1]):
        idx = xp.broadcast_to(cols[:, :, None, :, c], (B, L, M, N))
        dH = dH + dvals[:, :, None, :, c] * xp.take_along_axis(S_in, idx, axis=3)
    dE = _dcost(state, (state.H + dH) * S_out, state.H * S_out).sum(axis=2)
    acc = _metropolis(dE, beta[:, None, None], rng)
    if state.mask is not None:  # a removed bond never moves
        acc &= ~_moves_masked_bond(state.mask, cols)
    state.J += dJ * acc[..., None]
    state.H += dH * acc[:, :, None, :]
    return acc


def rep_step(state: MCState, beta: Any, rng: Any, parity: int) -> Any | None:
    """One flip proposal per pattern on every hidden layer l = parity, parity+2, ... < L (in place).

    Returns acceptance [B, K, M], or None when there is no hidden layer of this parity.
    """
    xp = array_module(state.J)
    B, L, M, N = state.dims
    p = parity
    if p >= L:
        return None
    K = len(range(p, L, 2))
    S_cur = state.S[:, p:L:2]  # hidden layer l
    H_in = state.H[:, p - 1 : L - 1 : 2]  # fields into layer l
    H_out = state.H[:, p:L:2]  # fields into layer l+1
    S_next = state.S[:, p + 1 : L + 1 : 2]
    J_outT = state.J[:, p:L:2].swapaxes(-1, -2)  # [B, K, N_l, N_{l+1}]

    i = rng.integers(0, N, size=(B, K, M))
    oh = _one_hot(i, N)
    s = (S_cur * oh).sum(-1)
    z_in = (H_in * oh).sum(-1) * s
    dE = _dcost(state, -z_in, z_in)
    J_col = xp.take_along_axis(J_outT, xp.broadcast_to(i[..., None], (B, K, M, N)), axis=2)
    dH = -2.0 * s[..., None] * J_col
    dE += _dcost(state, (H_out + dH) * S_next, H_out * S_next).sum(-1)
    acc = _metropolis(dE, beta[:, None, None], rng)
    state.S[:, p:L:2] *= 1.0 - 2.0 * (oh & acc[..., None])
    state.H[:, p:L:2] += dH * acc[..., None]
    return acc


def renormalise(state: MCState) -> float:
    """Put continuous rows back on their sphere, recompute H from scratch; returns max |H drift|."""
    return float(_refresh(state))


def _refresh(state: MCState) -> Any:
    """:func:`renormalise` without the host sync: the drift as a 0-d device array."""
    xp = array_module(state.J)
    if not state.binary:
        n_act = state.J.shape[-1] if state.mask is None else state.mask.sum(-1, keepdims=True)
        state.J *= xp.sqrt(n_act / (state.J**2).sum(-1, keepdims=True))
    fresh = fields(state.J, state.S)
    drift = xp.abs(fresh - state.H).max() if fresh.size else xp.zeros(())
    state.H = fresh
    return drift


def _propose_rows(J_rows: Any, binary: bool, rng: Any, angle: float) -> tuple[Any, Any, Any]:
    """Symmetric move of each row [..., N]: one flip (binary) or a rotation of a random coordinate
    pair by a uniform angle in [-angle, angle] (continuous). Returns (dJ [..., N], columns moved
    [..., C], their changes [..., C]) with C = 1 (binary) or 2."""
    xp = array_module(J_rows)
    N = J_rows.shape[-1]
    j = rng.integers(0, N, size=J_rows.shape[:-1])
    oh_j = _one_hot(j, N)
    J_j = (J_rows * oh_j).sum(-1)
    if binary:
        return -2.0 * J_j[..., None] * oh_j, j[..., None], -2.0 * J_j[..., None]
    k = (j + rng.integers(1, N, size=j.shape)) % N
    oh_k = _one_hot(k, N)
    J_k = (J_rows * oh_k).sum(-1)
    th = (2.0 * rng.random(j.shape) - 1.0) * angle
    c1, s = xp.cos(th) - 1.0, xp.sin(th)
    d_j, d_k = c1 * J_j - s * J_k, s * J_j + c1 * J_k
    return (d_j[..., None] * oh_j + d_k[..., None] * oh_k, xp.stack([j, k], -1),
            xp.stack([d_j, d_k], -1))


def _moves_masked_bond(mask_rows: Any, cols: Any) -> Any:
    """True where a proposed move touches a removed bond (mask_rows [..., N], cols [..., C])."""
    xp = array_module(cols)
    return (xp.take_along_axis(mask_rows, cols, axis=-1) == 0).any(-1)


def drag_step(state: MCState, beta: Any, rng: Any, parity: int, angle: float) -> Any | None:
    """Weight move that drags the representations along, on one random row of every weight layer
    w = parity, parity+2, ... (0-based; in place). Row i of layer w moves (as in _propose_rows);
    S^{w+1}_{mu i} flips wherever the field changes sign strictly (h h' < 0). The map is an
    involution, so the proposal is symmetric; it is how the chain moves between cells of
    different internal representations at zero temperature, where a lone flip of S would turn a
    gap r > 0 into -r < 0. Returns acceptance [B, K] or None when the class is empty.
    """
    xp = array_module(state.J)
    B, L, M, N = state.dims
    c = parity
    if c >= L:
        return None
    J_c = state.J[:, c::2]
    K = J_c.shape[1]
    Kd = len(range(c + 1, L, 2))  # layers of the class whose outputs are hidden (K or K-1)
    oh_i = _one_hot(rng.integers(0, N, size=(B, K)), N)  # [B, K, N]
    rows = (J_c * oh_i[..., None]).sum(-2)  # [B, K, N]
    d_row, cols, dvals = _propose_rows(rows, state.binary, rng, angle)
    S_in = state.S[:, c:L:2]
    h = (state.H[:, c::2] * oh_i[:, :, None, :]).sum(-1)  # [B, K, M]
    dh = (dvals[:, :, None, :] * xp.take_along_axis(
        S_in, xp.broadcast_to(cols[:, :, None, :], (B, K, M, cols.shape[-1])), axis=3)).sum(-1)
    s = (state.S[:, c + 1 : L + 1 : 2] * oh_i[:, :, None, :]).sum(-1)
    flip = (h * (h + dh) < 0) & (xp.arange(K) < Kd)[None, :, None]
    s_new = s * (1.0 - 2.0 * flip)
    dE = _dcost(state, (h + dh) * s_new, h * s).sum(-1)
    J_col = (state.J[:, c + 1 :: 2] * oh_i[:, :Kd, None, :]).sum(-1)  # [B, Kd, N_next]
    dH_next = -2.0 * (flip * s)[:, :Kd, :, None] * J_col[:, :, None, :]
    H_next, S_next = state.H[:, c + 1 :: 2], state.S[:, c + 2 :: 2]
    dE[:, :Kd] += _dcost(state, (H_next + dH_next) * S_next, H_next * S_next).sum(axis=(2, 3))
    acc = _metropolis(dE, beta[:, None], rng)
    if state.mask is not None:
        acc &= ~_moves_masked_bond((state.mask[:, c::2] * oh_i[..., None]).sum(-2), cols)
    a = acc[..., None]
    state.J[:, c::2] += (a * d_row)[:, :, None, :] * oh_i[..., None]
    state.H[:, c::2] += (a * dh)[..., None] * oh_i[:, :, None, :]
    state.S[:, c + 1 : L + 1 : 2] *= 1.0 - 2.0 * ((flip & a)[..., None] & oh_i[:, :, None, :])
    state.H[:, c + 1 :: 2] += dH_next * acc[:, :Kd, None, None]
    return acc


def sweep(state: MCState, beta: Any, rng: Any, angle: float = math.pi) -> dict[str, float]:
    """N rounds of: one fixed-representation weight proposal per row of every layer, one
    dragging weight move per layer (drag_step), one flip proposal per pattern of every hidden
    layer; then a field refresh. Each weight and representation is proposed about once.
    Lone flips are skipped for continuous weights at zero temperature, where they can only be
    accepted on a gap that is exactly zero (a null set). Returns acceptance rates and drift.
    The acceptance rates stay on the device until the end of the sweep: one host sync per sweep
    (plus one for the lone-flip test), whatever N.
    """
    xp = array_module(state.J)
    N = state.J.shape[-1]
    lone_flips = state.binary or bool((beta < BETA_INF).any())
    acc: dict[str, list[Any]] = {"acc_w": [], "acc_drag": [], "acc_s": []}
    for _ in range(N):
        acc["acc_w"].append(weight_step(state, beta, rng, angle).mean())
        for parity in (0, 1):
            a = drag_step(state, beta, rng, parity, angle)
            if a is not None:
                acc["acc_drag"].append(a.mean())
        for parity in (1, 2) if lone_flips else ():
            a = rep_step(state, beta, rng, parity)
            if a is not None:
                acc["acc_s"].append(a.mean())
    drift = _refresh(state)
    values = to_numpy(xp.stack([*acc["acc_w"], *acc["acc_drag"], *acc["acc_s"], drift]))
    out, start = {}, 0
    for k, v in acc.items():
        out[k] = float(values[start : start + len(v)].mean()) if v else float("nan")
        start += len(v)
    out["drift"] = float(values[-1])
    return out


def init_state(
    inputs: Any,
    outputs: Any,
    L: int,
    *,
    weights: str,
    delta: float = 0.0,
    energy: str = "count",
    mask: Any | None = None,
    rng: Any,
) -> MCState:
    """Random weights (binary, or Gaussian rows put on the sphere) and hidden representations
    from the forward pass S^l = sign(H^l) (sign(0) = +1); inputs/outputs [B, M, N] are clamped."""
    check_options(weights, energy, delta)
    xp = array_module(inputs)
    B, M, N = inputs.shape
    if L < 1 or N < 2:
        raise ValueError(f"L={L}, N={N}: need L >= 1 layer and N >= 2 units")
    if weights == "binary":
        J = 2.0 * (rng.random((B, L, N, N)) < 0.5) - 1.0
    else:
        J = rng.standard_normal((B, L, N, N))
    if mask is not None:
        mask = xp.asarray(mask, dtype=J.dtype)
        J *= mask
    S = xp.empty((B, L + 1, M, N))
    S[:, 0] = inputs
    S[:, L] = outputs
    state = MCState(J, S, xp.zeros((B, L, M, N)), mask, weights == "binary", float(delta),
                    energy == "soft")
    renormalise(state)
    forward_fill(state)
    return state


def forward_fill(state: MCState) -> None:
    """Hidden representations from the forward pass S^l = sign(H^l), sign(0) = +1 (in place)."""
    L = state.J.shape[1]
    for l in range(1, L):
        state.S[:, l] = 2.0 * (state.S[:, l - 1] @ state.J[:, l - 1].swapaxes(-1, -2) >= 0) - 1.0
    state.H = fields(state.J, state.S)


def clone(state: MCState, n: int) -> MCState:
    """Repeat every chain n times along the batch axis (chain b -> b*n .. b*n+n-1)."""
    return MCState(_repeat(state.J, n), _repeat(state.S, n), _repeat(state.H, n),
                   _repeat(state.mask, n), state.binary, state.delta, state.soft)


def _repeat(a: Any | None, n: int) -> Any | None:
    """Repeat each entry of the batch axis n times (None stays None)."""
    return None if a is None else array_module(a).repeat(a, n, axis=0)


def search(
    state: MCState,
    rng: Any,
    *,
    beta_start: float,
    beta_end: float,
    anneal_sweeps: int,
    max_sweeps: int,
    angle: float = math.pi,
    progress: bool = False,
) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    """Anneal to the solution space: beta grows geometrically from beta_start to beta_end over
    ``anneal_sweeps``, then zero-temperature moves until ``max_sweeps``. A chain that reaches
    zero violations is kept at beta = infinity from then on.

    Returns (solved [B], sweeps_to_solve [B] (-1 = never), diagnostics).
    """
    xp = array_module(state.J)
    B = state.J.shape[0]
    solved = to_numpy(violations(state)) == 0  # on the host: one sync per sweep
    t_solve = np.where(solved, 0, -1)
    drift, done = 0.0, 0
    bar = tqdm(range(max_sweeps), desc="search", disable=not progress, leave=False)
    for t in bar:
        if solved.all():
            break
        done = t + 1
        frac = min(t / max(anneal_sweeps, 1), 1.0)
        b_t = beta_start * (beta_end / beta_start) ** frac if t < anneal_sweeps else BETA_INF
        beta = xp.where(xp.asarray(solved), BETA_INF, b_t)
        drift = max(drift, sweep(state, beta, rng, angle)["drift"])
        now = to_numpy(violations(state)) == 0
        t_solve = np.where(now & (t_solve < 0), t + 1, t_solve)
        solved = now | solved
        bar.set_postfix(solved=f"{solved.mean():.2f}")
    sol = to_numpy(violations(state)) == 0
    return sol, np.where(sol, t_solve, -1), {"sweeps": float(done), "drift": drift,
                                             "n_chains": float(B)}


def sample(
    state: MCState,
    rng: Any,
    n_sweeps: int,
    snapshot_times: np.ndarray,
    *,
    angle: float = math.pi,
    progress: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, float]]:
    """Zero-temperature sampling inside the solution space (only dE <= 0 moves, so a solution
    stays a solution). Snapshots after the sweeps in ``snapshot_times`` (0 = before any sweep).

    Returns (J [T, B, L, N, N], hidden reps [T, B, L-1, M, N] int8, still_solved [B], stats).
    """
    xp = array_module(state.J)
    B = state.J.shape[0]
    beta = xp.full(B, BETA_INF)
    wanted = set(int(t) for t in snapshot_times)
    Js, Ss = [], []
    rates: dict[str, list[float]] = {}
    t0 = time.perf_counter()

    def snap() -> None:
        Js.append(to_numpy(state.J).copy())
        Ss.append(to_numpy(state.S[:, 1:-1]).astype(np.int8))

    if 0 in wanted:
        snap()
    for t in tqdm(range(1, n_sweeps + 1), desc="sample", disable=not progress, leave=False):
        for k, v in sweep(state, beta, rng, angle).items():
            rates.setdefault(k, []).append(v)
        if t in wanted:
            snap()
    still = to_numpy(violations(state)) == 0
    rate = n_sweeps / max(time.perf_counter() - t0, 1e-9)
    stats = {k: _summary(k, v) for k, v in rates.items()}
    stats["sweeps_per_s"] = rate
    return np.stack(Js), np.stack(Ss), still, stats


def _summary(key: str, values: list[float]) -> float:
    """Max field drift, mean acceptance (NaN when that move type never ran)."""
    v = np.asarray(values, dtype=float)
    if np.isnan(v).all():
        return float("nan")
    return float(np.nanmax(v) if key == "drift" else np.nanmean(v))


@dataclass
class MCResult:
    """Solution-space samples of n_samples pattern sets x n_replicas chains.

    J: [T, S, R, L, N, N] (NaN for chains that are not solutions); reps: [T, S, R, L-1, M, N]
    int8 (0 for failures); times: sweeps of each snapshot; solved: [S, R] reached zero
    violations within the budget and stayed there; sweeps_to_solve: [S, R] (-1 = never).
    """

    J: np.ndarray
    reps: np.ndarray
    times: np.ndarray
    solved: np.ndarray
    sweeps_to_solve: np.ndarray
    final_violations: np.ndarray
    stats: dict[str, float] = field(default_factory=dict)


def snapshot_times(n_sweeps: int, n_snapshots: int) -> np.ndarray:
    """Log-spaced snapshot sweeps 0 .. n_sweeps (always including both ends)."""
    if n_sweeps < 1 or n_snapshots < 2:
        raise ValueError(f"sample_sweeps={n_sweeps}, snapshots={n_snapshots}: need >= 1 and >= 2")
    t = np.unique(np.round(np.geomspace(1, n_sweeps, n_snapshots - 1)).astype(int))
    return np.concatenate([[0], t])


def run_solution_mc(
    inputs: Any,
    outputs: Any,
    L: int,
    *,
    n_replicas: int,
    weights: str = "continuous",
    delta: float = 0.0,
    energy: str = "count",
    protocol: str = "independent",
    mask: Any | None = None,
    start: Any | None = None,
    beta_start: float = 0.5,
    beta_end: float = 20.0,
    anneal_sweeps: int = 200,
    max_sweeps: int = 2000,
    sample_sweeps: int = 200,
    n_snapshots: int = 6,
    angle: float = math.pi,
    seed: int = 0,
    progress: bool = False,
) -> MCResult:
    """Find and sample solutions for patterns inputs/outputs [S, M, N] (backend arrays).

    protocol "independent": every replica starts from its own random state and anneals to a
    solution (overlaps between independently found solutions). "clones": one solution per
    sample is found first (or ``start`` = weights [S, L, N, N], e.g. the teacher, whose
    forward representations must satisfy the constraints), then copied into n_replicas
    clones that evolve independently in the solution space (glass order parameter from the
    decay of the clone overlap). ``mask`` [S, L, N, N] removes bonds (1 = present).
    """
    if protocol not in ("independent", "clones"):
        raise ValueError(f"protocol={protocol!r}: choose one of independent, clones")
    if n_replicas < 2:
        raise ValueError(f"replicas={n_replicas}: need at least 2 replicas to measure overlaps")
    xp = array_module(inputs)
    rng = CounterRNG(xp, seed)  # the same random numbers on NumPy and CuPy
    n_s = inputs.shape[0]
    t0 = time.perf_counter()
    per = 1 if protocol == "clones" else n_replicas
    mask = None if mask is None else xp.asarray(mask)
    state = init_state(_repeat(inputs, per), _repeat(outputs, per), L, weights=weights,
                       delta=delta, energy=energy, mask=_repeat(mask, per), rng=rng)
    if start is not None:
        if protocol != "clones":
            raise ValueError("start given: a planted start needs protocol=clones")
        state.J = xp.asarray(start, dtype=state.J.dtype).copy()
        forward_fill(state)
    solved, t_solve, st_search = search(
        state, rng, beta_start=beta_start, beta_end=beta_end, anneal_sweeps=anneal_sweeps,
        max_sweeps=max_sweeps, angle=angle, progress=progress)
    if protocol == "clones":
        state = clone(state, n_replicas)
        solved, t_solve = np.repeat(solved, n_replicas), np.repeat(t_solve, n_replicas)
    times = snapshot_times(sample_sweeps, n_snapshots)
    Js, Ss, still, st_sample = sample(state, rng, sample_sweeps, times, angle=angle,
                                      progress=progress)
    lost = solved & ~still
    ok = solved & still
    Js[:, ~ok] = np.nan
    Ss[:, ~ok] = 0
    shape = (n_s, n_replicas)
    stats = {**{f"search_{k}": v for k, v in st_search.items()},
             **{f"sample_{k}": v for k, v in st_sample.items()},
             "n_lost": float(lost.sum()), "runtime_s": time.perf_counter() - t0}
    return MCResult(
        J=Js.reshape(len(times), *shape, *Js.shape[2:]),
        reps=Ss.reshape(len(times), *shape, *Ss.shape[2:]),
        times=times,
        solved=ok.reshape(shape),
        sweeps_to_solve=np.where(ok, t_solve, -1).reshape(shape),
        final_violations=to_numpy(violations(state)).reshape(shape),
        stats=stats,
    )
