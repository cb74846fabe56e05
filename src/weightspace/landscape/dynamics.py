"""Monte-Carlo dynamics on the fitted model from reference solutions (paper Fig. 9; docs/design.md §3.4).

Single-flip Metropolis at β = 1 on the fitted Ising model, started at σ*; along the way the
Ising energy per spin and the test accuracy of the network whose weights are the current
spins (spins outside the model's part stay at the reference's values) are recorded. Deep nets
drift to chance level, shallow ones stay trapped near the reference.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from weightspace.backend import array_module, to_numpy
from weightspace.ising.sampler import metropolis_trace
from weightspace.nets.forward import accuracy
from weightspace.nets.spins import config_to_layers


def accuracy_observer(
    full_refs: Any, start: int, stop: int, widths: Sequence[int], x_test: Any, y_test: Any
) -> Callable[[Any], np.ndarray]:
    """observer(S (R, stop−start)) → test accuracy (R,) of nets whose weights are the reference row
    (full_refs (R, N_full)) with spins [start, stop) replaced by S."""
    xp = array_module(full_refs)

    def observe(S: Any) -> np.ndarray:
        cfg = full_refs.copy()
        cfg[:, start:stop] = S
        return to_numpy(
            accuracy(config_to_layers(cfg, widths), xp.asarray(x_test), xp.asarray(y_test))
        )

    return observe


@dataclass
class Dynamics:
    """flips (T,) proposed single-spin flips; energy (T,R) per spin; accuracy (T,R); acceptance."""

    flips: np.ndarray
    energy: np.ndarray
    accuracy: np.ndarray
    acceptance: float


def mc_dynamics(
    J: Any,
    h: Any,
    full_refs: Any,
    start: int,
    stop: int,
    widths: Sequence[int],
    x_test: Any,
    y_test: Any,
    *,
    n_sweeps: int,
    observe_every: int = 1,
    seed: int = 0,
    progress: bool = False,
) -> Dynamics:
    """Metropolis from each row of full_refs (R = references × trials), tracked by the observer."""
    observer = accuracy_observer(full_refs, start, stop, widths, x_test, y_test)
    tr = metropolis_trace(
        J,
        h,
        full_refs[:, start:stop].astype(J.dtype),
        n_sweeps,
        observe_every,
        observer,
        seed=seed,
        progress=progress,
    )
    return Dynamics(
        flips=tr.sweeps * (stop - start),
        energy=to_numpy(tr.energy_per_spin),
        accuracy=np.stack(tr.observed),
        acceptance=float(tr.acceptance),
    )
