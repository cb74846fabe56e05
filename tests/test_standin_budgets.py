"""Launch and host-sync budgets of the Monte-Carlo kernels, counted by the CuPy stand-in.

On a GPU every array operation is a kernel launch (~5-10 µs) and every device -> host copy a
synchronisation that stalls the queue; these tests pin how the counts scale, with no timing:
- Ising sampler (sample / temper): no host sync and no host -> device copy inside the sweep loop
  (syncs and copies of a run do not grow with the number of sweeps); launches per sweep do not depend
  on the number of chains (up to the amortised refills of the random pool, a few launches each), and
  with the array twin of the block loop grow as <= 3 per spin plus a bounded number per block of
  64 spins (with the fused CUDA kernel: only the per-block part);
- solution-space MC: <= 2 host syncs per sweep whatever N and the number of chains; launches per
  sweep do not depend on the number of chains (every chain moves in the same array operations);
- belief propagation: <= 1 host sync and <= 1 host -> device copy per update, launches per update
  independent of N and of the number of systems.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from weightspace.backend import CounterRNG
from weightspace.ising import sampler
from weightspace.overlaps import solution_mc as smc


def _model(xp, n: int):
    rng = np.random.default_rng(0)
    J = np.triu(rng.normal(0, 0.3 / np.sqrt(n), (n, n)), 1)
    return xp.asarray(J + J.T), xp.asarray(rng.normal(0, 0.2, n))


def _cost(standin, fn) -> dict[str, int]:
    standin.counters.reset()
    fn()
    return standin.counters.snapshot()


def _per_sweep(standin, run, sweeps=(4, 12)) -> dict[str, float]:
    a, b = (_cost(standin, lambda s=s: run(s)) for s in sweeps)
    return {k: (b[k] - a[k]) / (sweeps[1] - sweeps[0]) for k in a}


@pytest.mark.parametrize("rule", sampler.RULES)
def test_standin_sampler_sweeps_never_sync(standin, rule):
    J, h = _model(standin, 40)
    per = _per_sweep(standin, lambda s: sampler.sample(J, h, n_chains=8, n_sweeps=s, burn_in=0, rule=rule))
    assert per["syncs"] == 0 and per["h2d"] == 0, per


def test_standin_tempering_sweeps_never_sync(standin):
    J, h = _model(standin, 24)
    per = _per_sweep(standin, lambda s: sampler.temper(J, h, [0.3, 0.5, 0.8, 1.0], 4, s, burn_in=0,
                                                       sigma_star=standin.ones(24), x=0.2))
    assert per["syncs"] == 0 and per["h2d"] == 0, per


@pytest.mark.parametrize("n", [40, 130])
def test_standin_sampler_launches_per_sweep(standin, n):
    J, h = _model(standin, n)
    per = {R: _per_sweep(standin, lambda s, R=R: sampler.sample(J, h, n_chains=R, n_sweeps=s, burn_in=0))["launches"]
           for R in (2, 32)}
    # chains are batched: cost per sweep independent of their number, up to the random pool's refills
    # (a few launches each, which come after a number of sweeps that depends on the draw sizes)
    assert abs(per[2] - per[32]) <= 4, per
    blocks = math.ceil(n / sampler._BLOCK)
    assert per[2] <= 3 * n + 20 * blocks + 60, per
    assert per[2] - 3 * n <= 20 * blocks + 60  # what remains with the fused block kernel


def test_standin_sampler_launches_without_block_loop_are_bounded_per_block(standin, monkeypatch):
    """The part of a sweep outside the within-block loop: counted by stubbing the loop out."""
    J, h = _model(standin, 200)
    monkeypatch.setattr(sampler._Kernel, "block_spins", lambda self, Jbb, B: standin.sign(-B))
    per = _per_sweep(standin, lambda s: sampler.sample(J, h, n_chains=4, n_sweeps=s, burn_in=0))
    assert per["launches"] <= 20 * math.ceil(200 / sampler._BLOCK) + 60, per


def _patterns(xp, n_samples, m, n, seed=0):
    rng = np.random.default_rng(seed)
    return (xp.asarray(np.where(rng.random((n_samples, m, n)) < 0.5, 1.0, -1.0)) for _ in range(2))


@pytest.mark.parametrize("weights", smc.WEIGHT_TYPES)
def test_standin_solution_mc_syncs_per_sweep(standin, weights):
    for n, b in ((4, 2), (8, 2), (4, 6)):
        x, y = _patterns(standin, b, 3, n)
        rng = _rng(standin)
        state = smc.init_state(x, y, 3, weights=weights, rng=rng)
        beta = standin.full(b, 2.0)
        costs = [_cost(standin, lambda s=state, b=beta, r=rng: smc.sweep(s, b, r)) for _ in range(2)]
        assert all(c["syncs"] <= 2 and c["h2d"] == 0 for c in costs), (n, b, costs)


def _rng(xp):
    return CounterRNG(xp, 0)


def test_standin_solution_mc_launches_independent_of_chains(standin):
    launches = {}
    for b in (1, 8):
        x, y = _patterns(standin, b, 3, 5)
        rng = _rng(standin)
        state = smc.init_state(x, y, 3, weights="binary", rng=rng)
        beta = standin.full(b, 2.0)
        launches[b] = _cost(standin, lambda s=state, be=beta, r=rng: smc.sweep(s, be, r))["launches"]
    assert abs(launches[1] - launches[8]) <= 8, launches  # up to refills of the random pool


def _bp_cost(standin, n: int, batch: int, iters: int) -> dict[str, int]:
    from weightspace.ising.bp import bp

    rng = np.random.default_rng(1)
    J = np.triu(rng.normal(0, 0.5, (n, n)), 1)
    J, h = standin.asarray(J + J.T), standin.asarray(rng.normal(0, 0.1, (batch, n)))
    return _cost(standin, lambda: bp(J, h, max_iter=iters, tol=1e-30, damping=0.5))


def test_standin_bp_update_costs_one_sync_and_constant_launches(standin):
    """Belief propagation: per update at most one host sync (the convergence test) and one small host ->
    device copy, and a number of launches that depends neither on N nor on the number of systems."""
    per = {}
    for n, batch in ((20, 1), (60, 1), (20, 4)):
        a, b = _bp_cost(standin, n, batch, 10), _bp_cost(standin, n, batch, 30)
        per[n, batch] = {k: (b[k] - a[k]) / 20 for k in a}
    assert all(p["syncs"] <= 1 and p["h2d"] <= 1 for p in per.values()), per
    assert len({p["launches"] for p in per.values()}) == 1, per
