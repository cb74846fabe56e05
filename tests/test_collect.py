"""Ensemble collection: fused gradient vs autograd, trial independence and reproducibility, the
collect app (append/resume, trial budget, array tasks) and a 2-process DDP run into one store."""

import os
import subprocess
import sys

import lightning as L
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import ROOT

from weightspace.apps.collect import run_trials, split_round
from weightspace.apps.train import run
from weightspace.data.datasets import load_embedded
from weightspace.ensemble.store import EnsembleStore, StoreError
from weightspace.nets.batches import EnsembleBatches
from weightspace.nets.meanfield import meanfield_grads, meanfield_logits
from weightspace.nets.module import MeanFieldNet, _accuracy, _accuracy_fused, init_fields

WIDTHS = [20, 15, 15, 10]


@pytest.fixture(scope="module")
def tiny():
    """P = 200 training examples (batch 20) and 500 test examples of the embedded MNIST-PCA20."""
    a, _ = load_embedded()
    t = {k: torch.from_numpy(np.asarray(v)) for k, v in a.items() if k in ("x_train", "y_train", "x_test", "y_test")}
    return t["x_train"][:200].float(), t["y_train"][:200].long(), t["x_test"][:500].float(), t["y_test"][:500].long()


def _collect_cfg(make_cfg, store, *extra):
    base = [
        "task=collect", "scenario=over_para", "scenario.n_train=200", "scenario.epochs=1", "logger=none",
        "collect.ensemble_size=4", "collect.compile=false", f"collect.store={store}",
    ]
    return make_cfg("train", base + list(extra))


def test_fused_gradient_matches_autograd():
    torch.manual_seed(0)
    th = [t.double().requires_grad_() for t in init_fields(WIDTHS, [3, 4], 0.7)]
    x = torch.randn(2, 30, 20, dtype=torch.float64)
    y = torch.randint(0, 10, (2, 30))
    eps = [torch.randn(2, 30, n, dtype=torch.float64) for n in WIDTHS[1:]]
    ce = F.cross_entropy(meanfield_logits(th, x, eps).flatten(0, 1), y.flatten(), reduction="none").view(2, 30).mean(1)
    ce.sum().backward()
    ce2, grads = meanfield_grads([t.detach() for t in th], x, y, [e.transpose(1, 2) for e in eps])
    assert torch.allclose(ce, ce2, rtol=1e-12)
    for t, g in zip(th, grads):
        # forward.lrelu builds its 0.1 slope in float32, hence 1e-7 and not 1e-12 in float64
        assert torch.allclose(t.grad, g, rtol=1e-7, atol=1e-7 * t.grad.abs().max().item())


def test_feature_major_evaluation_equals_plain_forward():
    # the collection's (compiled) best-of-K evaluation path vs forward.fixed_forward, per network
    g = torch.Generator().manual_seed(0)
    ws = [torch.where(torch.rand(5, o, i, generator=g) < 0.5, -1.0, 1.0) for o, i in zip(WIDTHS[1:], WIDTHS[:-1])]
    x, y = torch.randn(300, WIDTHS[0], generator=g), torch.randint(0, 10, (300,), generator=g)
    acc = _accuracy_fused(ws, x, y)
    assert torch.equal(acc, _accuracy(ws, x, y))
    assert acc.shape == (5,) and len(set(acc.tolist())) > 1  # per network, not pooled


def test_lone_network_lightning_equals_fused_loop(tiny):
    # E = 1: Lightning Trainer + autograd (the foundation module) vs the fused manual loop, same seed
    x, y, *_ = tiny
    a = MeanFieldNet(WIDTHS, [5])
    trainer = L.Trainer(max_epochs=2, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, accelerator="cpu", num_sanity_val_steps=0, limit_val_batches=0)
    trainer.fit(a, train_dataloaders=EnsembleBatches(x, y, [5], 20))
    b = MeanFieldNet(WIDTHS, [5])
    b.fit_manual(x, y, 20, 2)
    for ra, rb in zip(a.history, b.history, strict=True):
        assert torch.allclose(ra["train_loss"], rb["train_loss"], rtol=1e-5)
    assert not torch.allclose(a.history[0]["train_loss"], a.history[1]["train_loss"], rtol=1e-3)  # it did learn
    for ta, tb in zip(a.thetas, b.thetas):
        assert torch.allclose(ta, tb, atol=1e-4)


def test_ensemble_member_equals_lone_network_and_seeds_matter(tiny):
    x, y, xt, yt = tiny
    ens = MeanFieldNet(WIDTHS, [4, 5, 6])
    ens.fit_manual(x, y, 20, 2)
    ens.set_eval_data(xt, yt)
    lone = MeanFieldNet(WIDTHS, [5])
    lone.fit_manual(x, y, 20, 2)
    lone.set_eval_data(xt, yt)
    for te, tl in zip(ens.thetas, lone.thetas):
        assert torch.allclose(te[1], tl[0], atol=1e-5)
        assert not torch.allclose(te[0], te[1], atol=1e-2)
    assert torch.allclose(torch.stack([h["train_loss"][1] for h in ens.history]),
                          torch.stack([h["train_loss"][0] for h in lone.history]), rtol=1e-5)
    ev_e, ev_l = ens.evaluate(), lone.evaluate()
    assert torch.equal(ev_e["configs"][:, 1], ev_l["configs"][:, 0])  # same samples from the same seed
    assert not torch.equal(ev_e["configs"][:, 0], ev_e["configs"][:, 1])
    assert torch.allclose(ev_e["acc_sampled"][:, 1], ev_l["acc_sampled"][:, 0])
    again = MeanFieldNet(WIDTHS, [4, 5, 6])
    again.fit_manual(x, y, 20, 2)
    assert all(torch.equal(p, q) for p, q in zip(ens.thetas, again.thetas))  # same seeds: identical


def test_split_round_keeps_in_seed_order():
    acc = np.array([0.9, 0.5, 0.8, 0.95, 0.6])
    keep, rej, used = split_round(acc, 0.7, need=2, budget=10)
    assert keep.tolist() == [0, 2] and rej.tolist() == [1] and used == 3
    keep, rej, used = split_round(acc, 0.7, need=10, budget=4)
    assert keep.tolist() == [0, 2, 3] and rej.tolist() == [1] and used == 4


def test_collect_appends_resumes_and_rederives(make_cfg, tmp_path, tiny):
    store_dir = tmp_path / "store"
    m = run(_collect_cfg(make_cfg, store_dir, "collect.target=6", "scenario.threshold=0"))
    assert m["kept"] == 6 and m["complete"] == 1
    m = run(_collect_cfg(make_cfg, store_dir, "collect.target=10", "scenario.threshold=0"))
    assert m["kept"] == 4 and m["trials"] == 4
    store = EnsembleStore(store_dir)
    good, rec, problems = store.check()
    assert problems == [] and sorted(rec.seed.tolist()) == list(range(10))  # no seed twice, none skipped
    assert run(_collect_cfg(make_cfg, store_dir, "collect.target=10"))["trials"] == 0  # already full
    # a stored configuration is re-derived from its trial seed alone
    chunk = store.load()
    k = int(np.flatnonzero(chunk.seed == 7)[0])
    cfg = _collect_cfg(make_cfg, store_dir, "collect.target=10")
    a, _ = load_embedded()
    data = tuple(torch.from_numpy(np.asarray(a[n])) for n in ("x_train", "y_train", "x_test", "y_test"))
    data = (data[0][:200].float(), data[1][:200].long(), data[2].float(), data[3].long())
    acc, configs = run_trials([7], cfg, data)
    assert np.array_equal(configs[0], chunk.spins[k]) and acc[0] == pytest.approx(chunk.acc[k], abs=1e-6)


def test_threshold_one_stops_at_max_trials(make_cfg, tmp_path, capsys):
    store_dir = tmp_path / "store"
    m = run(_collect_cfg(make_cfg, store_dir, "collect.target=5", "scenario.threshold=1.0", "collect.max_trials=6"))
    assert m["complete"] == 0 and m["kept"] == 0 and m["rejected"] == 6 and m["trials"] == 6
    assert "STOPPED after the trial budget of 6 trials" in capsys.readouterr().out
    rec = EnsembleStore(store_dir).records()
    assert rec.seed.size == 0 and sorted(rec.rejected.tolist()) == list(range(6))


def test_array_tasks_fill_disjoint_shares(make_cfg, tmp_path):
    store_dir = tmp_path / "store"
    for i in (1, 0):  # order does not matter: each task fills its own residue class
        run(_collect_cfg(make_cfg, store_dir, "collect.target=5", "scenario.threshold=0",
                         "collect.array_size=2", f"collect.array_index={i}"))
    rec = EnsembleStore(store_dir).records()
    assert sorted(rec.seed.tolist()) == [0, 1, 2, 3, 4]  # shares 3 (even seeds) + 2 (odd seeds)


def test_bad_collect_option_is_one_line_error(make_cfg, tmp_path):
    with pytest.raises(ValueError, match="collect.target=0"):
        run(_collect_cfg(make_cfg, tmp_path / "s", "collect.target=0"))


def test_ddp_two_processes_fill_store_without_duplicates(tmp_path):
    store_dir = tmp_path / "store"
    env = dict(os.environ, WANDB_SILENT="true")
    cmd = [
        sys.executable, "train.py", "task=collect", "scenario=over_para", "scenario.n_train=200",
        "scenario.epochs=1", "scenario.threshold=0", "logger=none", "collect.target=9",
        "collect.ensemble_size=3", "collect.compile=false", "collect.devices=2", "collect.accelerator=cpu",
        f"collect.store={store_dir}", f"hydra.run.dir={tmp_path / 'run'}",
    ]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    good, rec, problems = EnsembleStore(store_dir).check()
    assert problems == [] and rec.seed.size == 9
    assert len({s.writer for s in good}) == 2  # one writer per rank
    assert {int(s) % 2 for s in rec.seed} == {0, 1}  # both seed ranges
    assert (tmp_path / "run" / "collect_rank0.json").is_file() and (tmp_path / "run" / "collect_rank1.json").is_file()


def test_concurrent_runs_over_the_same_seeds_are_refused(make_cfg, tmp_path):
    from weightspace.apps.collect import _lock_seeds

    store_dir = tmp_path / "store"
    held = _lock_seeds(store_dir, 0, 1)  # as if the same command ran in another shell
    with pytest.raises(StoreError, match="another process .* is collecting seed class 0 of 1"):
        run(_collect_cfg(make_cfg, store_dir, "collect.target=2"))
    with pytest.raises(StoreError, match="another number of seed classes"):  # G = 2 while G = 1 runs
        run(_collect_cfg(make_cfg, store_dir, "collect.target=2", "collect.array_size=2"))
    for f in held:
        f.close()
    assert run(_collect_cfg(make_cfg, store_dir, "collect.target=2", "scenario.threshold=0"))["kept"] == 2


@pytest.mark.slow  # torch.compile of the step: ~30-60 s
def test_compiled_step_trains_like_the_eager_step(tiny):
    x, y, *_ = tiny
    eager, compiled = MeanFieldNet(WIDTHS, [4, 5]), MeanFieldNet(WIDTHS, [4, 5])
    eager.fit_manual(x, y, 20, 2)
    compiled.fit_manual(x, y, 20, 2, compile=True)  # guards skipped after each epoch's first step
    for te, tc in zip(eager.thetas, compiled.thetas, strict=True):
        assert torch.allclose(te, tc, atol=1e-4)
    for he, hc in zip(eager.history, compiled.history, strict=True):
        assert torch.allclose(he["train_loss"], hc["train_loss"], rtol=1e-5)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_ensemble_trains_like_cpu(tiny):
    # same streams on both devices: a trial trained on CUDA is the CPU trial up to float rounding
    x, y, xt, yt = tiny
    cpu, gpu = MeanFieldNet(WIDTHS, [4, 5]), MeanFieldNet(WIDTHS, [4, 5]).to("cuda")
    cpu.fit_manual(x, y, 20, 2)
    gpu.fit_manual(x.cuda(), y.cuda(), 20, 2)
    for tc, tg in zip(cpu.thetas, gpu.thetas, strict=True):
        assert torch.allclose(tc, tg.cpu(), atol=1e-3)
    cpu.set_eval_data(xt, yt)
    gpu.set_eval_data(xt, yt)
    agree = (cpu.evaluate()["configs"] == gpu.evaluate()["configs"].cpu()).float().mean().item()
    assert agree > 0.999  # a sample differs only where u_i is within rounding of sigmoid(theta_i)
