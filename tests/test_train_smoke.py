"""CPU smoke runs of train.py: run(cfg) in-process, and a 2-job Hydra multirun in a subprocess."""

import json
import os
import subprocess
import sys

from conftest import ROOT

from weightspace.apps.train import run


def test_run_one_epoch_with_wandb_offline(make_cfg, tmp_path):
    cfg = make_cfg("train", ["scenario.n_train=1000", "scenario.epochs=1", "runs=2", "logger=wandb"])
    metrics = run(cfg)
    assert 0.1 < metrics["test_acc_sampled_best"] <= 1 and metrics["epochs"] == 1
    for name in ("metrics.json", "history.csv", "learning_curves.png", "result.npz"):
        assert (tmp_path / name).is_file(), name
    assert json.loads((tmp_path / "metrics.json").read_text())["epochs"] == 1
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and list(runs[0].glob("*.wandb"))


def test_multirun_subprocess(tmp_path):
    env = dict(os.environ, WANDB_SILENT="true")
    cmd = [
        sys.executable, "train.py", "-m", "seed=1,2", "scenario=over_para", "scenario.epochs=1", "logger=csv",
        f"hydra.sweep.dir={tmp_path}",
    ]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    for job in ("0", "1"):
        assert (tmp_path / job / "metrics.json").is_file()
        assert (tmp_path / job / "csv" / "metrics.csv").is_file()


def test_typo_on_command_line_exits_with_valid_keys():
    proc = subprocess.run(
        [sys.executable, "train.py", "scenario.epoch=1"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode != 0
    assert "valid keys under scenario" in proc.stderr and "epochs" in proc.stderr
