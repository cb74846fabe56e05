"""W&B records of a tiny collect -> fit -> landscape chain, read back from the offline run files:
the lineage (inputs name the artifact versions their producers logged), the fit's scalars, a
failed run's exit code, and the after-the-fact sync plan."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from conftest import compose_cfg

from weightspace.apps import fit_ising, landscape, lineage, train
from weightspace.apps.wandb_offline import OfflineRun, find_runs, read_run
from weightspace.ensemble.store import EnsembleStore
from weightspace.errors import StoreError

ARCH = ["arch.widths=[20,3,10]", "arch.name=tiny"]  # 60 + 30 = 90 spins


def _run(d: Path) -> OfflineRun:
    (found,) = find_runs(d)
    return read_run(found)


def _logged(run: OfflineRun, kind: str) -> list[dict]:
    """The run's artifacts of one type (W&B also logs tables and charts as artifacts)."""
    return [a for a in run.artifacts if a["type"] == kind]


@pytest.fixture(scope="module")
def chain(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("chain")
    store = root / "ensembles" / "tiny_store"
    train.run(compose_cfg("train", [
        "task=collect", "scenario=over_para", "scenario.n_train=200", "scenario.epochs=1", "scenario.threshold=0",
        "collect.target=64", "collect.ensemble_size=64", "collect.compile=false", f"collect.store={store}",
        "logger=wandb", *ARCH], root / "collect"))
    fit_ising.run(compose_cfg("fit_ising", [
        "scenario=over_para", f"ensemble={store}", "part=full", "logger=wandb", "bethe.max_steps=20",
        "verify.chains=32", "verify.sweeps=40", "verify.burn_in=10", "verify.three_spin=false", *ARCH], root / "fit"))
    landscape.run(compose_cfg("landscape", [
        "scenario=over_para", "analysis=entropy", f"model={root / 'fit' / 'model_full.npz'}", "references.count=2",
        "analysis.entropy.x.step=1.0", "analysis.entropy.progress=false", "backend=numpy", "logger=wandb", *ARCH],
        root / "landscape"))
    with pytest.raises(StoreError):  # no store of this scenario under paths.outputs
        fit_ising.run(compose_cfg("fit_ising", ["scenario=shallow", "logger=wandb", f"paths.outputs={root}/none"],
                                  root / "failed"))
    return root


def test_chain_lineage_in_the_run_files(chain):
    collect, fit, land = _run(chain / "collect"), _run(chain / "fit"), _run(chain / "landscape")
    assert (collect.job_type, fit.job_type, land.job_type) == ("collect", "fit_ising", "landscape")
    assert collect.exit_code == fit.exit_code == land.exit_code == 0

    store = EnsembleStore(chain / "ensembles" / "tiny_store")
    (ens,) = _logged(collect, "ensemble")
    assert (ens["name"], ens["type"]) == ("ensemble-tiny_store", "ensemble")
    assert ens["metadata"]["configurations"] == store.count() == 64 and ens["metadata"]["trials"] == 64
    assert ens["metadata"]["digest"] == store.digest() and lineage.alias(store.digest()) in ens["aliases"]

    used = fit.inputs["ensemble"]
    assert used["name"] == ens["name"] and used["alias"] in ens["aliases"]  # the exact version collect logged
    model_file = chain / "fit" / "model_full.npz"
    with np.load(model_file) as z:
        assert str(z["ensemble_digest"]) == ens["metadata"]["digest"]
    (model,) = _logged(fit, "ising-model")
    assert (model["name"], model["type"]) == ("ising-over_para-tiny-bethe-full", "ising-model")
    delta_mc = fit.summary["full/delta_mc"]  # a sortable scalar, equal to the file's and the artifact's
    assert isinstance(delta_mc, float) and math.isfinite(delta_mc)
    assert delta_mc == pytest.approx(float(np.load(model_file)["delta_mc"])) == model["metadata"]["delta_mc"]
    assert {"full/delta_bp", "full/delta_mc_noise", "full/seconds", "full/zero_couplings"} <= set(fit.summary)

    (read,) = land.inputs.values()
    assert read["name"] == model["name"] and read["alias"] in model["aliases"]
    assert land.config["analysis"]["entropy"]["model"]["resolved"] == [str(model_file)]
    (out,) = _logged(land, "landscape")
    assert (out["name"], out["type"]) == ("landscape-over_para-tiny", "landscape")
    with np.load(chain / "landscape" / "full" / "landscape.npz") as z:
        assert str(z["model_digest"]) == read["digest"] == lineage.file_digest(model_file)
    assert "landscape/s_of_d" in land.summary


def test_failed_run_is_marked_failed(chain):
    failed = _run(chain / "failed")
    assert failed.exit_code == 1 and failed.job_type == "fit_ising"


def _sha(artifact: dict) -> str:
    return f"{artifact['name']}:{next(a for a in artifact['aliases'] if a.startswith('sha-'))}"


def test_sync_plan_declares_recorded_inputs_producers_first(chain, capsys):
    steps = lineage.plan(chain)
    order = [s.run_dir.parents[1].name for s in steps]
    assert sorted(order) == ["collect", "failed", "fit", "landscape"]
    assert order.index("collect") < order.index("fit") < order.index("landscape")
    declared = {s.run_dir.parents[1].name: s.declare for s in steps}
    fit, land = _run(chain / "fit"), _run(chain / "landscape")
    assert declared["fit"] == [_sha(_logged(_run(chain / "collect"), "ensemble")[0])]
    assert declared["landscape"] == [_sha(_logged(fit, "ising-model")[0])] and declared["failed"] == []

    calls: list[tuple] = []  # the online calls, mocked: wandb sync per run dir, use_artifact per resumed run
    lineage.execute(steps, lambda d: calls.append(("sync", d)),
                    lambda run, refs: calls.append(("use", run.run_id, refs)))
    assert [c[1] for c in calls if c[0] == "sync"] == [s.run_dir for s in steps]
    uses = [c[1:] for c in calls if c[0] == "use"]
    assert uses == [(fit.run_id, declared["fit"]), (land.run_id, declared["landscape"])]
    for k, c in enumerate(calls):  # a run's inputs are declared right after its own upload
        if c[0] == "use":
            assert calls[k - 1][0] == "sync" and calls[k - 1][1].name.endswith(f"-{c[1]}")

    assert lineage.main(["--dry-run", str(chain)]) == 0
    out = capsys.readouterr().out
    assert out.count("offline-run-") == 4 and declared["fit"][0] in out
