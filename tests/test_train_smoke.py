"""CPU smoke run of train.py: run(cfg) in-process with an offline W&B run (the command line: test_cli.py)."""

import json

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
