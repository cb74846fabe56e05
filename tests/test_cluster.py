"""The cluster path, run here: a submitit job array (``hydra/launcher=submitit_local``: the same
submitit code as ``hydra/launcher=slurm`` with the local executor) collecting into one store."""

import subprocess
import sys

import numpy as np
from conftest import ROOT

from weightspace.apps.wandb_offline import find_runs, read_run
from weightspace.ensemble.store import EnsembleStore


def test_submitit_array_collects_one_store_and_groups_its_runs(tmp_path):
    store, sweep = tmp_path / "store", tmp_path / "sweep"
    cmd = [
        sys.executable, "train.py", "-m", "hydra/launcher=submitit_local", "task=collect", "scenario=over_para",
        "scenario.n_train=200", "scenario.epochs=1", "scenario.threshold=0", "arch.widths=[20,3,10]", "arch.name=tiny",
        "collect.target=8", "collect.ensemble_size=4", "collect.compile=false", "collect.accelerator=cpu",
        "collect.array_size=2", "collect.array_index=range(0,2)", f"collect.store={store}", "logger=wandb",
        f"hydra.sweep.dir={sweep}",
    ]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    st = EnsembleStore(store)
    _, rec, problems = st.check()
    assert problems == [] and rec.seed.size == 8 and np.unique(rec.seed).size == 8  # no duplicate trial
    assert {s.writer for s in st.shard_infos()} == {"over_para-g0of2", "over_para-g1of2"}  # both tasks wrote
    runs = [read_run(d) for d in find_runs(sweep)]
    assert len(runs) == 2 and all(r.exit_code == 0 for r in runs)
    assert {r.group for r in runs} == {"train-sweep-sweep"}  # one group: the sweep
    assert {r.job_type for r in runs} == {"collect"}
    names = sorted(r.name for r in runs)  # job number and the job's overrides
    assert names[0].startswith("0:") and "collect.array_index=0" in names[0] and "collect.array_index=1" in names[1]
    assert all(r.config["hydra_job"]["mode"] == "multirun" for r in runs)
