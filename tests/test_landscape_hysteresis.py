"""Entropy gap and s(x = 0) as the paper defines them (Sec. IV C, Fig. 5c), on mean-field
ferromagnets whose branches are known in closed form: m = tanh(βJ0 m + h + x)."""

from __future__ import annotations

import numpy as np
from scipy.optimize import brentq

from weightspace.landscape.entropy import entropy_landscape, x_grid
from weightspace.landscape.hysteresis import d_gap, detect_hysteresis, s_at_x0

KW = dict(dtype="float64", tol=1e-9, damping=0.5, max_iter=5000)


def _curie_weiss(n: int, beta_j: float) -> np.ndarray:
    J = np.full((n, n), beta_j / n)
    np.fill_diagonal(J, 0.0)
    return J


def _binary_entropy(m: float) -> float:
    p = (1 + m) / 2
    return float(-(p * np.log(p) + (1 - p) * np.log(1 - p)))


def test_entropy_gap_is_the_d_range_skipped_at_the_spinodal() -> None:
    """βJ0 = 1.5, h = 0: the sweep down holds the + state (m_+ of m = tanh(βJ0 m + x)) down to the
    loop's lower edge x_lo, then lands on the − state m_− at the next x; no dominant state has
    a d in between, so the gap is [(1 − m_+(x_lo))/2, (1 − m_−(x_lo − δx))/2]. The paramagnet
    βJ0 = 0.5 covers every d: no gap."""
    n, bj, dx = 60, 1.5, 0.02
    x = x_grid(1.0, -1.0, dx)
    land = entropy_landscape(_curie_weiss(n, bj), np.zeros(n), np.ones((1, n)), x, **KW)
    hy = detect_hysteresis(x, land.d[0], land.s[0], land.converged[0])
    assert hy.present and hy.x_lo < -0.1
    bj_eff = bj * (n - 1) / n  # J0/N over N − 1 neighbours
    m_sp = np.sqrt(1 - 1 / bj_eff)  # the stable + root lies above the spinodal magnetisation
    m_plus = brentq(lambda m: m - np.tanh(bj_eff * m + hy.x_lo), m_sp, 1 - 1e-12)
    m_minus = brentq(lambda m: m - np.tanh(bj_eff * m + hy.x_lo - dx), -1 + 1e-12, -1e-6)
    assert abs(hy.gap_d_lo - (1 - m_plus) / 2) < 0.02 and abs(hy.gap_d_hi - (1 - m_minus) / 2) < 0.02
    assert np.isclose(hy.entropy_gap, hy.gap_d_hi - hy.gap_d_lo) and hy.entropy_gap > 0.6
    para = entropy_landscape(_curie_weiss(n, 0.5), np.zeros(n), np.ones((1, n)), x, **KW)
    hp = detect_hysteresis(x, para.d[0], para.s[0], para.converged[0])
    assert hp.entropy_gap == 0.0 and np.isnan(hp.gap_d_lo)  # smooth: every d is covered


def test_s_at_x0_reads_the_low_d_branch() -> None:
    """βJ0 = 1.5 with a field h = −0.15 against the reference (+): at x = 0 the sweep down is still
    in the metastable + state (d small, s = H(m_+)), the sweep up in the − state (s = H(m_−));
    the paper's s(x = 0) is H(m_+), not the average over both branches."""
    n, bj, h0 = 80, 1.5, -0.15
    x = x_grid(1.0, -1.0, 0.05)
    land = entropy_landscape(_curie_weiss(n, bj), np.full(n, h0), np.ones((1, n)), x, **KW)
    bj_eff = bj * (n - 1) / n
    m_sp = np.sqrt(1 - 1 / bj_eff)  # the stable roots lie beyond the spinodal magnetisations
    m_plus = brentq(lambda m: m - np.tanh(bj_eff * m + h0), m_sp, 1 - 1e-12)
    m_minus = brentq(lambda m: m - np.tanh(bj_eff * m + h0), -1 + 1e-12, -m_sp)
    s0 = s_at_x0(x, land.d, land.s)[0]
    assert abs(s0 - _binary_entropy(m_plus)) < 0.02
    both = land.s[0, :, np.argmin(np.abs(x))].mean()
    assert abs(both - 0.5 * (_binary_entropy(m_plus) + _binary_entropy(m_minus))) < 0.02
    assert abs(s0 - both) > 0.05


def test_d_gap_needs_a_jump() -> None:
    d = np.array([[0.1, 0.12, 0.14, 0.8, 0.82], [0.1, 0.12, 0.14, 0.16, 0.82]])
    assert np.allclose(d_gap(d, 0.1), (0.66, 0.14, 0.8))
    assert d_gap(np.array([[0.1, 0.15, 0.2], [0.1, 0.15, 0.2]]), 0.1)[0] == 0.0
