"""Pattern scenarios for the solution-space MC (Yoshino 2019, docs/design.md §3.8).

random: inputs S^0 and outputs S^L are independent random +-1 (storage problem).
teacher: inputs random +-1, outputs (and the teacher's internal representations) from a
random teacher network of the same architecture, S^l = sign(J^l S^{l-1}), sign(0) = +1.
Optional bond masking (Yoshino Sec. 6.2): the same random fraction of bonds removed in
every layer of teacher and student. Everything here is host-side NumPy with its own seed;
move the arrays to the backend with ``xp.asarray``.
"""

from __future__ import annotations

import numpy as np

from .solution_mc import check_options


def random_pm1(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Independent uniform +-1 entries (float64)."""
    return 2.0 * (rng.random(shape) < 0.5) - 1.0


def random_patterns(n_samples: int, M: int, N: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random inputs and outputs: two [n_samples, M, N] arrays of +-1."""
    rng = np.random.default_rng(seed)
    return random_pm1(rng, (n_samples, M, N)), random_pm1(rng, (n_samples, M, N))


def bond_mask(n_samples: int, L: int, N: int, fraction: float, seed: int) -> np.ndarray:
    """[n_samples, L, N, N] mask (1 = bond kept) removing ``fraction`` of the bonds of each layer
    uniformly at random; rows that would lose every bond keep one (a perceptron needs an input)."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"mask_fraction={fraction}: must be in [0, 1)")
    rng = np.random.default_rng(seed)
    n_cut = int(round(fraction * N * N))
    order = rng.random((n_samples, L, N * N)).argsort(-1)
    mask = (order >= n_cut).reshape(n_samples, L, N, N).astype(float)
    empty = mask.sum(-1) == 0
    keep = rng.integers(0, N, size=empty.shape)
    mask[empty, keep[empty]] = 1.0
    return mask


def random_teacher(
    n_samples: int, L: int, N: int, weights: str, seed: int, mask: np.ndarray | None = None
) -> np.ndarray:
    """Teacher weights [n_samples, L, N, N]: +-1 (binary) or Gaussian rows scaled to
    sum_j J_ij^2 = number of bonds present (continuous); masked bonds are 0."""
    check_options(weights, "count", 0.0)
    rng = np.random.default_rng(seed)
    shape = (n_samples, L, N, N)
    J = random_pm1(rng, shape) if weights == "binary" else rng.standard_normal(shape)
    if mask is not None:
        J = J * mask
    if weights == "continuous":
        n_act = N if mask is None else mask.sum(-1, keepdims=True)
        J *= np.sqrt(n_act / (J**2).sum(-1, keepdims=True))
    return J


def forward_reps(J: np.ndarray, inputs: np.ndarray) -> np.ndarray:
    """Layer states of the sign network: [S, L+1, M, N], S^l = sign(S^{l-1} J^l^T), sign(0) = +1."""
    states = [inputs]
    for l in range(J.shape[1]):
        states.append(2.0 * (states[-1] @ J[:, l].swapaxes(-1, -2) >= 0) - 1.0)
    return np.stack(states, axis=1)


def teacher_patterns(J_teacher: np.ndarray, M: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random inputs [S, M, N] and the teacher's layer states [S, L+1, M, N] (outputs = last)."""
    rng = np.random.default_rng(seed)
    S, L, N, _ = J_teacher.shape
    inputs = random_pm1(rng, (S, M, N))
    return inputs, forward_reps(J_teacher, inputs)


def n_patterns(alpha: float, N: int) -> int:
    """M = round(alpha N) patterns; alpha = 0 (no constraint) or alpha large enough for one."""
    M = int(round(alpha * N))
    if alpha < 0 or (alpha > 0 and M < 1):
        raise ValueError(f"alpha={alpha} with N={N} gives M={M} patterns: use alpha >= {1 / N:.3g}")
    return M
