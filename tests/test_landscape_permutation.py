"""Permutation symmetry (App. J): canonical form keeps the function, is permutation invariant."""

from __future__ import annotations

import numpy as np

from weightspace.landscape.permutation import canonicalize, mixed_ensemble, random_permutation
from weightspace.nets.forward import fixed_forward
from weightspace.nets.spins import config_to_layers

WIDTHS = [30, 20, 20, 3]  # wide inputs: tied units (identical rows) are improbable


def _configs(m: int, seed: int) -> np.ndarray:
    n = sum(a * b for a, b in zip(WIDTHS[:-1], WIDTHS[1:]))
    return np.where(np.random.default_rng(seed).random((m, n)) < 0.5, -1, 1).astype(np.int8)


def test_canonical_form_same_function_and_invariant() -> None:
    rng = np.random.default_rng(0)
    cfg = _configs(20, 1)
    x = rng.normal(size=(50, 30)).astype(np.float32)
    gr = canonicalize(cfg, WIDTHS, x)
    out0 = fixed_forward([w.astype(float) for w in config_to_layers(cfg, WIDTHS)], x)
    out1 = fixed_forward([w.astype(float) for w in config_to_layers(gr, WIDTHS)], x)
    np.testing.assert_allclose(out0, out1, atol=1e-9)
    perm = random_permutation(cfg, WIDTHS, rng)
    assert not np.array_equal(perm, cfg)
    np.testing.assert_array_equal(canonicalize(perm, WIDTHS, x), gr)


def test_mixed_ensemble_ratio() -> None:
    cfg = _configs(100, 2)
    x = np.random.default_rng(3).normal(size=(30, 30)).astype(np.float32)
    mixed = mixed_ensemble(cfg, WIDTHS, x, 0.6, 0)
    m_s = round(0.6 * 100 / 1.4)
    assert mixed.shape[0] == 100 + m_s
    assert np.isclose(2 * m_s / mixed.shape[0], 0.6, atol=0.01)
