"""Function-space sensitivity of trained binary nets to weight flips, layer by layer.

The empirical counterpart of Li & Saad's perturbed-reference setup (PRL 120, 248301): take a
trained +-1 configuration as the reference, flip a fraction p of the weights of one layer
(or of every layer), and measure on test data the output disagreement
eps = P[argmax f_perturbed(x) != argmax f_reference(x)] and the test-accuracy drop.
Kernels run on NumPy or CuPy (``xp``), batched over nets and random draws.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm import tqdm

from ..backend import CounterRNG, array_module, get_xp, to_numpy
from ..nets.forward import fixed_forward
from ..nets.spins import config_to_layers, n_spins

log = logging.getLogger(__name__)


def flip_fraction(w: Any, frac: float, n_draws: int, rs: Any) -> Any:
    """Copies of ``w`` [..., out, in] with exactly round(frac * out * in) entries negated per copy.

    Returns [..., n_draws, out, in]; the flipped positions are uniform without replacement.
    """
    if not 0.0 <= frac <= 1.0:
        raise ValueError(f"trained.p: flip fraction {frac} must lie in [0, 1]")
    xp = array_module(w)
    out, inp = w.shape[-2:]
    n = out * inp
    n_flip = int(round(frac * n))
    keys = rs.random_sample(w.shape[:-2] + (n_draws, n))
    ranks = xp.argsort(xp.argsort(keys, axis=-1), axis=-1)
    sign = xp.where(ranks < n_flip, -1.0, 1.0).astype(w.dtype).reshape(keys.shape[:-1] + (out, inp))
    return w[..., None, :, :] * sign


def targets_for(n_layers: int) -> list[str]:
    """Perturbation targets: ``layer1`` .. ``layerL`` and ``all``."""
    return [f"layer{i + 1}" for i in range(n_layers)] + ["all"]


def perturbed_weights(layers: Sequence[Any], target: str, frac: float, n_draws: int, rs: Any) -> list[Any]:
    """Layer list with a draw axis: flipped copies for the target layer(s), the reference elsewhere."""
    out = []
    for i, w in enumerate(layers):
        if target in ("all", f"layer{i + 1}"):
            out.append(flip_fraction(w, frac, n_draws, rs))
        else:
            out.append(w[..., None, :, :])
    return out


def disagreement_and_accuracy(layers: Sequence[Any], perturbed: Sequence[Any], x: Any, y: Any) -> tuple[Any, Any]:
    """eps [nets, draws] = fraction of inputs whose predicted class changed; accuracy [nets, draws]."""
    ref_pred = fixed_forward(layers, x).argmax(-1)  # [nets, B]
    pred = fixed_forward(perturbed, x).argmax(-1)  # [nets, draws, B]
    eps = ((pred != ref_pred[:, None, :]) * 1.0).mean(axis=-1)
    acc = ((pred == y) * 1.0).mean(axis=-1)
    return eps, acc


@dataclass
class Sensitivity:
    """Means and standard errors over nets x draws, arrays [n_targets, n_p]."""

    targets: list[str]
    p: np.ndarray
    eps: np.ndarray
    eps_sem: np.ndarray
    acc: np.ndarray
    acc_drop: np.ndarray
    acc_drop_sem: np.ndarray
    acc_ref: np.ndarray  # [n_nets]


def layer_sensitivity(
    configs: np.ndarray,
    widths: Sequence[int],
    x: np.ndarray,
    y: np.ndarray,
    p_grid: Sequence[float],
    n_draws: int = 10,
    chunk: int = 16,
    seed: int = 0,
    backend: str = "auto",
) -> Sensitivity:
    """Flip a fraction p of one layer's (or all layers') weights of each net; eps and accuracy drop.

    ``configs`` [M, N] are +-1 configurations (docs/design.md §2 ordering), ``x`` [B, in], ``y`` [B].
    """
    xp = get_xp(backend)
    configs = np.asarray(configs)
    if configs.ndim != 2 or configs.shape[0] == 0:
        raise ValueError(f"trained.configs: expected a non-empty [M, N] array, got shape {configs.shape}")
    if n_draws < 1:
        raise ValueError(f"trained.draws={n_draws}: need at least one random draw")
    rs = CounterRNG(xp, seed)  # the same numbers on NumPy and CuPy
    xd, yd = xp.asarray(x, dtype=xp.float32), xp.asarray(y)
    targets = targets_for(len(widths) - 1)
    p_grid = np.asarray(p_grid, dtype=float)
    sums = {k: np.zeros((len(targets), len(p_grid))) for k in ("eps", "eps2", "acc", "drop", "drop2")}
    acc_ref = []
    start = time.time()
    for lo in tqdm(range(0, len(configs), chunk), desc="trained nets", unit="chunk"):
        block = xp.asarray(configs[lo : lo + chunk], dtype=xp.float32)
        layers = config_to_layers(block, widths)
        ref = to_numpy(((fixed_forward(layers, xd).argmax(-1) == yd) * 1.0).mean(axis=-1))
        acc_ref.append(ref)
        for ti, target in enumerate(targets):
            for pi, frac in enumerate(p_grid):
                pert = perturbed_weights(layers, target, float(frac), n_draws, rs)
                eps, acc = (to_numpy(a) for a in disagreement_and_accuracy(layers, pert, xd, yd))
                drop = ref[:, None] - acc
                sums["eps"][ti, pi] += eps.sum()
                sums["eps2"][ti, pi] += (eps**2).sum()
                sums["acc"][ti, pi] += acc.sum()
                sums["drop"][ti, pi] += drop.sum()
                sums["drop2"][ti, pi] += (drop**2).sum()
    n = len(configs) * n_draws
    log.info("trained sensitivity: %d nets x %d draws in %.1f s", len(configs), n_draws, time.time() - start)

    def sem(s: np.ndarray, s2: np.ndarray) -> np.ndarray:
        var = np.maximum(s2 / n - (s / n) ** 2, 0.0) * n / max(n - 1, 1)
        return np.sqrt(var / n)

    return Sensitivity(
        targets,
        p_grid,
        sums["eps"] / n,
        sem(sums["eps"], sums["eps2"]),
        sums["acc"] / n,
        sums["drop"] / n,
        sem(sums["drop"], sums["drop2"]),
        np.concatenate(acc_ref),
    )


def check_configs(configs: np.ndarray, widths: Sequence[int], path: str) -> np.ndarray:
    """Validate a loaded configuration array: 2-D, +-1 valued, matching ``widths``."""
    if configs.ndim != 2:
        raise ValueError(f"{path}: expected an [M, N] array of +-1 configurations, got {configs.shape}")
    n_weights = n_spins(widths)
    if configs.shape[1] != n_weights:
        raise ValueError(
            f"{path}: configurations have {configs.shape[1]} spins but widths "
            f"{list(widths)} need {n_weights}; set analysis.function_space.widths"
        )
    if not np.isin(configs, (-1, 1)).all():
        raise ValueError(f"{path}: entries must be +-1 (binary weights)")
    return configs
