"""``make clean`` removes run outputs but never the ensemble stores (tested on a copy of the layout)."""

import shutil
import subprocess

import pytest
from conftest import ROOT


@pytest.fixture
def layout(tmp_path):
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    out = tmp_path / "outputs"
    for d in ("ensembles/over_para_deep_20_15_15_10", "train/under_para/2026-01-01_00-00-00", "fit_ising/multirun/t/0"):
        (out / d).mkdir(parents=True)
    (out / "ensembles" / "over_para_deep_20_15_15_10" / "store.json").write_text("{}")
    (out / "ensembles" / "over_para_deep_20_15_15_10.g0of1.lock").write_text("")
    (out / "train" / "under_para" / "2026-01-01_00-00-00" / "metrics.json").write_text("{}")
    (out / ".gitkeep").write_text("")
    (tmp_path / "multirun").mkdir()
    return tmp_path


def _make(where, *args):
    return subprocess.run(["make", "-C", str(where), *args], capture_output=True, text=True, timeout=60)


def test_clean_keeps_ensembles(layout):
    proc = _make(layout, "clean")
    assert proc.returncode == 0, proc.stderr
    out = layout / "outputs"
    assert (out / "ensembles" / "over_para_deep_20_15_15_10" / "store.json").is_file()
    assert (out / "ensembles" / "over_para_deep_20_15_15_10.g0of1.lock").is_file()
    assert sorted(p.name for p in out.iterdir()) == [".gitkeep", "ensembles"]
    assert not (layout / "multirun").exists()


def test_clean_ensembles_needs_confirmation(layout):
    assert _make(layout, "clean-ensembles").returncode != 0
    assert (layout / "outputs" / "ensembles" / "over_para_deep_20_15_15_10" / "store.json").is_file()
    assert _make(layout, "clean-ensembles", "CONFIRM=yes").returncode == 0
    assert not (layout / "outputs" / "ensembles").exists()
