"""Layer-wise overlap profile q_J(l), q_S(l) of a deep random-I/O sign network (Yoshino 2019).

Prints mean +- std over pattern samples (second half of the sampling window) for independent
replicas (raw and after signed hidden-unit matching) and for clones of one solution, plus the
solved fractions and runtimes. Usage: python benchmarks/yoshino_profile.py [L N alpha samples]
"""

from __future__ import annotations

import sys
import time

import numpy as np

from weightspace.apps.analyses.layer_overlap import late_profile
from weightspace.backend import get_xp
from weightspace.overlaps.order import replica_overlaps
from weightspace.overlaps.scenarios import n_patterns, random_patterns
from weightspace.overlaps.solution_mc import run_solution_mc


def main(L: int = 6, N: int = 10, alpha: float = 1.0, samples: int = 6) -> None:
    xp = get_xp("auto")
    x, y = random_patterns(samples, n_patterns(alpha, N), N, seed=1)
    x, y = xp.asarray(x), xp.asarray(y)
    for protocol in ("independent", "clones"):
        t0 = time.perf_counter()
        res = run_solution_mc(x, y, L, n_replicas=4, protocol=protocol, anneal_sweeps=150,
                              max_sweeps=1000, sample_sweeps=300, n_snapshots=8, seed=2)
        t_mc = time.perf_counter() - t0
        print(f"\n{protocol}: L={L} N={N} alpha={alpha} samples={samples} replicas=4  "
              f"solved {res.solved.sum()}/{res.solved.size}  MC {t_mc:.1f} s  "
              f"({res.stats['sample_sweeps_per_s']:.1f} sampling sweeps/s)")
        for match in (False, True) if protocol == "independent" else (False,):
            t1 = time.perf_counter()
            ov = replica_overlaps(res.J, res.reps, res.solved, match=match)
            for q in ("q_J", "q_S"):
                m, s, n = late_profile(ov[q], res.times)
                cells = "  ".join(f"{a:+.3f}+-{b:.3f}" for a, b in zip(m, s, strict=True))
                print(f"  {'matched' if match else 'raw':8s} {q} (n={n}): {cells}")
            print(f"  overlap time {time.perf_counter() - t1:.1f} s")
        q_t = np.nanmean(replica_overlaps(res.J, res.reps, res.solved, match=False)["q_J"], 1)
        print("  q_J(l, t) by snapshot sweep:")
        for t, row in zip(res.times, q_t, strict=True):
            print(f"    t={t:4d}: " + " ".join(f"{v:+.3f}" for v in row))


if __name__ == "__main__":
    args = sys.argv[1:]
    main(*(int(args[0]), int(args[1]), float(args[2]), int(args[3])) if args else ())
