"""The command line of the three apps is Hydra's: every flag form, sweeps, one-line errors before any work."""

from __future__ import annotations

import json
import runpy
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from weightspace.apps import fit_ising, landscape, train
from weightspace.apps.cli import check
from weightspace.apps.common import CONF_DIR

APPS = {"train": train.CHOICES, "fit_ising": fit_ising.CHOICES, "landscape": landscape.CHOICES}


def run_script(app: str, argv: list[str], monkeypatch) -> int:
    """Run ``python <app>.py argv`` in this process; its exit status."""
    monkeypatch.setattr(sys, "argv", [f"{app}.py", *argv])
    GlobalHydra.instance().clear()
    try:
        runpy.run_path(str(ROOT / f"{app}.py"), run_name="__main__")
    except SystemExit as exc:  # the error boundary has printed its line to stderr
        return exc.code if isinstance(exc.code, int) else 1
    finally:
        GlobalHydra.instance().clear()
    return 0


@pytest.mark.usefixtures("hydra_logging")
@pytest.mark.parametrize("app", list(APPS))
@pytest.mark.parametrize("flags", [["--cfg", "job"], ["-c", "job"], ["--cfg=job", "--resolve", "--package", "scenario"],
                                   ["--info", "defaults"]])
def test_hydra_flags_pass_through(app, flags, monkeypatch, capsys):
    assert run_script(app, flags, monkeypatch) == 0
    out = capsys.readouterr().out
    if "--package" in flags:  # resolved, one package: the scenario node only
        assert "n_train:" in out and "task:" not in out
    elif flags[0] != "--info":
        assert OmegaConf.create(out)["app"] == app
    else:
        assert "Defaults List" in out


def test_config_name_and_typo(tmp_path, monkeypatch, capsys, hydra_logging):
    """``-cn`` switches the primary config (checked against it); a mistyped key in a sweep is a
    usage error (exit 2, one line naming the valid keys), before anything is written."""
    assert run_script("train", ["-cn", "fit_ising", "-c", "job", "method=mc"], monkeypatch) == 0
    assert OmegaConf.create(capsys.readouterr().out)["method"] == "mc"
    code = run_script("train", ["-m", "scenario.epoch=1,2", f"hydra.sweep.dir={tmp_path}/s"], monkeypatch)
    err = capsys.readouterr().err
    assert code == 2 and not (tmp_path / "s").exists()
    (line,) = err.strip().splitlines()
    assert line.startswith("train.py: unknown config key 'scenario.epoch'") and "epochs" in line


@pytest.mark.parametrize(
    "app,argv",
    [
        ("train", ["-m", "scenario=over_para,shallow", "debug=fast_dev_run", "logger=none"]),
        ("train", ["-m", "seed=range(0,3)", "scenario=over_para"]),
        ("train", ["-m", "experiment=double_descent_sweep_quick"]),  # the experiment's hydra.sweeper.params
        ("train", ["-m", "hydra/launcher=submitit_local", "task=collect", "collect.array_size=2",
                   "collect.array_index=range(0,2)"]),
        ("fit_ising", ["-m", "method=bethe,mc", "part=choice(full,itr)"]),
        ("fit_ising", ["part=layer3", "+extra=1", "~pseudolikelihood.tol"]),
        ("landscape", ["-m", "experiment=fig13,fig14"]),
        ("landscape", ["-m", "analysis=glob(*)"]),
        ("landscape", ["analysis=[entropy,tap]", "references.count=5"]),
    ],
)
def test_valid_command_lines_pass(app, argv):
    assert check(app, argv, CONF_DIR, APPS[app]) is None


@pytest.mark.parametrize(
    "app,argv,expected",
    [
        ("train", ["scenario=over_para,shallow"], "add -m"),
        ("train", ["-m", "scenario.epoch=1,2"], "valid keys under scenario are batch_size, epochs"),
        ("train", ["-m", "seed=0,1", "scenario=over_para,shalow"], "scenario=shalow: no such option; choose one of"),
        ("train", ["task=colect"], "task=colect: not a valid value; choose one of collect, train"),
        ("train", ["experiment=fig5"], "experiment=fig5 belongs to landscape.py, not train.py: run `python landscape"),
        ("landscape", ["experiment=fig2a"], "experiment=fig2a belongs to train.py"),
        ("landscape", ["-m", "experiment=fig13,fig2a"], "experiment=fig2a belongs to train.py"),
        ("landscape", ["analysis=entropi"], "analysis=entropi: no such option; choose one of entropy, function_space"),
        ("landscape", ["-m", "analysis=entropy,entropi"], "analysis=entropi: no such option"),
        ("landscape", ["analysis=[entropy,tapp]"], "analysis=tapp: no such option"),
        ("landscape", ["-m", "references.level=low,hihg"], "references.level=hihg: not a valid value"),
        ("landscape", ["backend=gpu"], "backend=gpu: not a valid value; choose one of auto, numpy, cupy"),
        ("fit_ising", ["method=bethee"], "method=bethee: not a valid value; choose one of bethe, pseudolikelihood, mc"),
        ("fit_ising", ["-m", "part=full,layer4"], "part=layer4: not a valid value"),
        ("fit_ising", ["arch=shallow_20_10", "part=itr"], "part=itr: not a valid value"),
        ("fit_ising", ["debug=fast_dev_run"], "debug"),
        ("fit_ising", ["~max_configs"], "Could not delete from config"),  # Hydra's own check, before any work
    ],
)
def test_bad_command_lines_get_one_line(app, argv, expected):
    msg = check(app, argv, CONF_DIR, APPS[app])
    assert msg is not None and expected in msg and "\n" not in msg


def test_every_experiment_names_its_app():
    for path in sorted((CONF_DIR / "experiment").glob("*.yaml")):
        app = OmegaConf.load(path).get("app")
        assert app in APPS, f"{path.name}: app={app}"  # and it composes under that app: test_config


def test_group_sweep_runs_both_jobs(tmp_path):
    """As the README runs it: no paths.outputs or hydra.sweep.dir given, so the sweep dir resolves
    ``${hydra:runtime.cwd}`` before any job (it failed with "HydraConfig was not set")."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "train.py"), "-m", "scenario=over_para,shallow", "debug=fast_dev_run",
         "logger=none"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    sweeps = list((tmp_path / "outputs" / "train" / "multirun").iterdir())
    assert len(sweeps) == 1  # both jobs in one sweep dir, whatever scenario each has
    widths = {job: OmegaConf.load(sweeps[0] / job / ".hydra" / "config.yaml").arch.widths for job in ("0", "1")}
    assert widths == {"0": [20, 15, 15, 10], "1": [20, 10]}
    assert all((sweeps[0] / job / "metrics.json").is_file() for job in ("0", "1"))


def test_landscape_sweep_over_analyses_on_a_tiny_model(tmp_path):
    rng = np.random.default_rng(0)
    J = np.triu(rng.normal(0, 0.2, (6, 6)), 1)
    np.savez(tmp_path / "model_full.npz", J=J + J.T, h=rng.normal(0, 0.2, 6), part="full", method="bethe")
    np.save(tmp_path / "refs.npy", np.where(rng.random((2, 6)) < 0.5, 1, -1).astype(np.int8))
    proc = subprocess.run(
        [sys.executable, "landscape.py", "-m", "analysis=entropy,tap", f"model={tmp_path}/model_full.npz",
         f"references.path={tmp_path}/refs.npy", "logger=none", "backend=numpy", f"hydra.sweep.dir={tmp_path}/s"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / "s" / "0" / "full" / "landscape.npz").is_file()
    assert any(k.startswith("tap/") for k in json.loads((tmp_path / "s" / "1" / "metrics.json").read_text()))
