"""First-order transition detector for the two sweep branches (paper Sec. IV C, Fig. 5c).

Along x the sweep down and the sweep back up follow the same fixed point when the landscape is
smooth. A first-order transition shows up as a hysteresis loop: an x-range where the two
branches disagree (metastable fixed points), with a jump of d at the spinodal of each branch.

Reported per reference: size = max_x |d_down − d_up| (hysteresis size); the loop's x-range
[x_lo, x_hi] where |d_down − d_up| > threshold; the **entropy gap as the paper defines it**: a
range of distances that no thermodynamically dominant state covers, i.e. the d-interval
[gap_d_lo, gap_d_hi] skipped by the largest jump of d between neighbouring x on either branch
(present when that jump exceeds ``jump_threshold``; ``entropy_gap`` = its width, 0 without);
jump_d = that largest jump whatever its size; branch_entropy_difference = max_x |s_down − s_up|
inside the loop (a different quantity, formerly reported as the gap); and the fraction of loop
points where BP did not converge (a loop built on unconverged points is not evidence).
Entropy at x = 0 (:func:`s_at_x0`): inside a loop it is read on the low-d branch (the sweep
down from the reference, paper Fig. 5c "lower branch"), not averaged over both branches.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass
class Hysteresis:
    """Detector output for one reference (module docstring); x_lo/x_hi and gap_d_lo/gap_d_hi are
    NaN without a loop / without a gap."""

    present: bool
    size: float
    x_lo: float
    x_hi: float
    entropy_gap: float
    gap_d_lo: float
    gap_d_hi: float
    branch_entropy_difference: float
    jump_d: float
    unconverged_in_loop: float

    def as_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in asdict(self).items()}


def d_gap(d: np.ndarray, jump_threshold: float) -> tuple[float, float, float]:
    """``(width, d_lo, d_hi)`` of the largest jump of d between neighbouring x on either branch
    (``d`` (2,T)); ``(0, nan, nan)`` when no jump exceeds ``jump_threshold``."""
    d = np.asarray(d, float)
    if d.shape[-1] < 2:
        return 0.0, float("nan"), float("nan")
    steps = np.abs(np.diff(d, axis=-1))
    b, t = np.unravel_index(int(np.nanargmax(steps)), steps.shape)
    if steps[b, t] <= jump_threshold:
        return 0.0, float("nan"), float("nan")
    lo, hi = sorted((float(d[b, t]), float(d[b, t + 1])))
    return hi - lo, lo, hi


def detect_hysteresis(
    x: np.ndarray,
    d: np.ndarray,
    s: np.ndarray,
    converged: np.ndarray,
    threshold: float | np.ndarray = 0.05,
    jump_threshold: float = 0.1,
) -> Hysteresis:
    """Detect a loop from branch arrays d, s, converged (2,T) (index 0 down, 1 up; t ↔ x[t]);
    ``threshold`` a number or one per x (e.g. raised to the sampling error of Monte-Carlo branches);
    ``jump_threshold`` the smallest change of d between neighbouring x that counts as a jump."""
    x = np.asarray(x, dtype=float)
    d, s, converged = (np.asarray(a) for a in (d, s, converged))
    if d.shape != (2, x.size) or s.shape != d.shape or converged.shape != d.shape:
        raise ValueError(f"hysteresis: need branch arrays of shape (2, {x.size}); got d {d.shape}")
    gap = np.abs(d[0] - d[1])
    loop = gap > threshold
    size = float(gap.max()) if gap.size else 0.0
    jump = float(np.abs(np.diff(d, axis=1)).max()) if x.size > 1 else 0.0
    width, d_lo, d_hi = d_gap(d, jump_threshold)
    if not loop.any():
        nan = float("nan")
        return Hysteresis(False, size, nan, nan, width, d_lo, d_hi, 0.0, jump, 0.0)
    return Hysteresis(
        present=True,
        size=size,
        x_lo=float(x[loop].min()),
        x_hi=float(x[loop].max()),
        entropy_gap=width,
        gap_d_lo=d_lo,
        gap_d_hi=d_hi,
        branch_entropy_difference=float(np.abs(s[0] - s[1])[loop].max()),
        jump_d=jump,
        unconverged_in_loop=float(1.0 - converged[:, loop].mean()),
    )


def s_at_x0(x: np.ndarray, d: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Entropy per reference at the x closest to 0, read on the branch of lower d there (arrays
    (K,2,T)); outside a loop both branches agree, inside it this is the paper's lower branch."""
    t0 = int(np.argmin(np.abs(np.asarray(x, float))))
    low = np.argmin(np.asarray(d)[:, :, t0], axis=1)
    return np.asarray(s)[np.arange(len(low)), low, t0]


def summarize(hs: list[Hysteresis]) -> dict[str, float]:
    """Part-level numbers over references: fraction with a loop, max/mean size, widest entropy gap
    (paper definition) and the fraction of references with one, max branch entropy difference,
    widest loop x-range."""
    sizes = np.array([h.size for h in hs])
    with_loop = [h for h in hs if h.present]
    return {
        "loop_fraction": float(np.mean([h.present for h in hs])),
        "hysteresis_size_max": float(sizes.max()),
        "hysteresis_size_mean": float(sizes.mean()),
        "entropy_gap_max": float(max((h.entropy_gap for h in hs), default=0.0)),
        "entropy_gap_fraction": float(np.mean([h.entropy_gap > 0 for h in hs])),
        "branch_entropy_difference_max": float(max((h.branch_entropy_difference for h in hs), default=0.0)),
        "loop_x_lo": float(min((h.x_lo for h in with_loop), default=float("nan"))),
        "loop_x_hi": float(max((h.x_hi for h in with_loop), default=float("nan"))),
        "unconverged_in_loop_max": float(max((h.unconverged_in_loop for h in hs), default=0.0)),
    }
