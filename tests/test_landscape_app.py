"""landscape.py as a command: analysis selection and dispatch."""

import json
import subprocess
import sys

from conftest import ROOT


def _landscape(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "landscape.py", *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_function_space_via_landscape(tmp_path):
    proc = _landscape("analysis=function_space", "analysis.function_space.sections=[majk]", "logger=csv",
                      f"hydra.run.dir={tmp_path}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert abs(metrics["function_space/majk_p_c"] - 1 / 6) < 0.005


def test_missing_model_or_unknown_analysis_is_a_clear_error(tmp_path):
    proc = _landscape("logger=none", f"hydra.run.dir={tmp_path}", f"paths.root_dir={tmp_path}")
    assert proc.returncode != 0 and "run fit_ising.py scenario=under_para" in proc.stderr
    proc = _landscape("analysis=nope", "logger=none", f"hydra.run.dir={tmp_path}")
    assert proc.returncode != 0 and "function_space" in proc.stderr
