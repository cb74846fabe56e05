"""scripts/faithful_models.py: its BP entropy against exact enumeration (a tree, where BP is exact)
and the split-half error bars it writes into the table."""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np
import pytest

from weightspace.ising.exact import exact_moments

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import faithful_models  # noqa: E402


def test_bp_entropy_equals_enumeration_on_a_chain(tmp_path):
    """On an open chain (a tree) BP is exact: s/ln 2 = (ln Z + <E>) / (N ln 2) by enumeration."""
    rng = np.random.default_rng(3)
    n = 10
    J = np.zeros((n, n))
    for i in range(n - 1):
        J[i, i + 1] = J[i + 1, i] = rng.normal(0, 0.8)
    h = rng.normal(0, 0.3, n)
    np.savez(tmp_path / "model.npz", J=J, h=h)
    s, converged = faithful_models.bp_entropy(tmp_path / "model.npz")
    exact = exact_moments(J, h)
    assert converged
    assert s == pytest.approx(float(exact.entropy[0]) / (n * np.log(2)), abs=1e-6)


def _heat_capacity_csv(path: Path, part: str, rows: list[tuple[float, float]]) -> None:
    """A heat_capacity.csv with (x, s_mc) rows of one reference, other columns fixed."""
    path.parent.mkdir(parents=True)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["part", "reference", "x", "s_mc", "s_mc_err", "s_quad_err", "d_mc", "s_bp", "bp_converged"])
        for x, s in rows:
            w.writerow([part, 0, x, s, 1e-4, 1e-5, 0.3, s - 0.01, "True"])


def test_table_carries_the_ti_entropy_of_each_half(tmp_path):
    """The x = 0 TI row shows the halves' entropies (in ln 2), the other x rows do not."""
    base = tmp_path / "itr"
    ln2 = np.log(2)
    _heat_capacity_csv(base / "c_heat_capacity" / "heat_capacity.csv", "itr", [(0.0, 0.90 * ln2), (-1.0, 0.5 * ln2)])
    for k, s in ((0, 0.88), (1, 0.87)):
        _heat_capacity_csv(base / f"half{k}_heat_capacity" / "heat_capacity.csv", "full", [(0.0, s * ln2)])
    args = argparse.Namespace(out=str(tmp_path), threshold=0.05, sweeps=[20], scenario="under_para")
    rows = {r["route"]: r for r in faithful_models.compile_part(args, "itr")}
    assert rows["(c) TI entropy at x = 0"]["s0_ln2"] == "0.900 (MC err 0.000); halves 0.880, 0.870"
    assert "halves" not in rows["(c) TI entropy at x = -1"]["s0_ln2"]


def test_halves_read_references_of_the_part_only(tmp_path, monkeypatch):
    """A half's fit covers one part's spins, so its TI run gets the references cut to that part
    (the whole-net references made landscape.py refuse the deep parts)."""
    widths = [4, 3, 3, 2]  # parts: lb 12 spins, itr 9, rb 6
    rng = np.random.default_rng(0)
    configs = rng.choice(np.array([-1, 1], dtype=np.int8), size=(40, 27))
    monkeypatch.setattr(faithful_models, "load_configs", lambda store, limit=None: (configs[:limit], widths))
    calls = []
    monkeypatch.setattr(faithful_models, "app", lambda script, run_dir, overrides, done: calls.append(overrides))
    base = tmp_path / "itr"
    base.mkdir()
    refs = rng.choice([-1, 1], size=(2, 27))
    np.save(base / "references_hc.npy", refs)
    args = argparse.Namespace(store="s", max_configs=40, halves=["mc"], fit_bethe=[], fit_mc=[], seed=0,
                              heat_capacity=[])
    faithful_models.run_halves(args, "itr", base, ["scenario=under_para"])
    ti = [o for o in calls if "analysis=heat_capacity" in o]
    assert len(ti) == 2
    path = next(o for o in ti[0] if o.startswith("references.path=")).split("=", 1)[1]
    np.testing.assert_array_equal(np.load(path), refs[:, 12:21])
    assert np.load(base / "half1_moments.npz")["m"].shape == (9,)
