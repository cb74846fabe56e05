"""First-order transition detector for the two sweep branches (paper Sec. IV C, Fig. 5c).

Along x the sweep down and the sweep back up follow the same fixed point when the landscape is
smooth. A first-order transition shows up as a hysteresis loop: an x-range where the two
branches disagree (metastable fixed points), with a jump of d (an entropy gap: no
thermodynamically dominant states at intermediate distances) at the spinodal of each branch.

Reported per reference: size = max_x |d_down − d_up| (hysteresis size); the loop's x-range
[x_lo, x_hi] where |d_down − d_up| > threshold; entropy_gap = max_x |s_down − s_up| (the entropy
difference between the branches inside the loop); jump_d = the largest change of d between
neighbouring x on either branch (the width of the d-gap); and the fraction of loop points
where BP did not converge (a loop built on unconverged points is not evidence).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass
class Hysteresis:
    """Detector output for one reference (module docstring); x_lo/x_hi are NaN without a loop."""

    present: bool
    size: float
    x_lo: float
    x_hi: float
    entropy_gap: float
    jump_d: float
    unconverged_in_loop: float

    def as_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in asdict(self).items()}


def detect_hysteresis(
    x: np.ndarray, d: np.ndarray, s: np.ndarray, converged: np.ndarray, threshold: float | np.ndarray = 0.05
) -> Hysteresis:
    """Detect a loop from branch arrays d, s, converged (2,T) (index 0 down, 1 up; t ↔ x[t]);
    ``threshold`` a number or one per x (e.g. raised to the sampling error of Monte-Carlo branches)."""
    x = np.asarray(x, dtype=float)
    d, s, converged = (np.asarray(a) for a in (d, s, converged))
    if d.shape != (2, x.size) or s.shape != d.shape or converged.shape != d.shape:
        raise ValueError(f"hysteresis: need branch arrays of shape (2, {x.size}); got d {d.shape}")
    gap = np.abs(d[0] - d[1])
    loop = gap > threshold
    size = float(gap.max()) if gap.size else 0.0
    jump = float(np.abs(np.diff(d, axis=1)).max()) if x.size > 1 else 0.0
    if not loop.any():
        return Hysteresis(False, size, float("nan"), float("nan"), 0.0, jump, 0.0)
    return Hysteresis(
        present=True,
        size=size,
        x_lo=float(x[loop].min()),
        x_hi=float(x[loop].max()),
        entropy_gap=float(np.abs(s[0] - s[1])[loop].max()),
        jump_d=jump,
        unconverged_in_loop=float(1.0 - converged[:, loop].mean()),
    )


def summarize(hs: list[Hysteresis]) -> dict[str, float]:
    """Part-level numbers over references: fraction with a loop, max/mean size, max entropy gap,
    widest loop x-range."""
    sizes = np.array([h.size for h in hs])
    with_loop = [h for h in hs if h.present]
    return {
        "loop_fraction": float(np.mean([h.present for h in hs])),
        "hysteresis_size_max": float(sizes.max()),
        "hysteresis_size_mean": float(sizes.mean()),
        "entropy_gap_max": float(max((h.entropy_gap for h in hs), default=0.0)),
        "loop_x_lo": float(min((h.x_lo for h in with_loop), default=float("nan"))),
        "loop_x_hi": float(max((h.x_hi for h in with_loop), default=float("nan"))),
        "unconverged_in_loop_max": float(max((h.unconverged_in_loop for h in hs), default=0.0)),
    }
