"""Experiments: real-valued nets, frozen layers, double descent / depth aggregation, t-SNE."""

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import ROOT, compose_cfg
from omegaconf import OmegaConf

from weightspace.apps.train import run
from weightspace.data import Dataset
from weightspace.data.datasets import to_parity
from weightspace.experiments import tsne as ts
from weightspace.experiments.depth import crossover_width
from weightspace.experiments.double_descent import find_error_peak, interpolation_alpha
from weightspace.experiments.sweeps import curve
from weightspace.nets.batches import EnsembleBatches
from weightspace.nets.freeze import frozen_fields, frozen_layer_indices
from weightspace.nets.losses import per_network_loss
from weightspace.nets.module import MeanFieldNet, init_fields
from weightspace.nets.realnet import RealNet


def _numpy_forward(ws, x):
    a = x
    for l, w in enumerate(ws):
        z = a @ w.T
        a = z if l == len(ws) - 1 else np.where(z > 0, z, 0.1 * z) / math.sqrt(w.shape[1])
    return a


def _fit(model, x, y, batch, epochs):
    import lightning as L

    trainer = L.Trainer(
        max_epochs=epochs,
        logger=False,
        enable_progress_bar=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
    trainer.fit(model, train_dataloaders=EnsembleBatches(x, y, model.seeds, batch))


# ---- real-valued nets and losses ------------------------------------------------------------


def test_realnet_forward_and_losses_match_closed_forms():
    net = RealNet([5, 4, 3], seeds=[7, 8])
    x = torch.randn(6, 5)
    out = net(x).detach().numpy()
    for e in range(2):
        ref = _numpy_forward([w[e].detach().numpy() for w in net.weights], x.numpy())
        np.testing.assert_allclose(out[e], ref, rtol=1e-5, atol=1e-6)
    z = torch.tensor([[[2.0, 0.5], [0.0, 0.3]]])  # E=1, B=2, C=2
    y = torch.tensor([[0, 0]])
    hinge = [max(0.0, 1 - (2.0 - 0.5)) / 2, max(0.0, 1 - (0.0 - 0.3)) / 2]
    assert per_network_loss(z, y, "hinge").item() == pytest.approx(np.mean(hinge))
    ce = [-(2.0 - np.log(np.exp(2.0) + np.exp(0.5))), -(0.0 - np.log(1 + np.exp(0.3)))]
    assert per_network_loss(z, y, "ce").item() == pytest.approx(np.mean(ce), rel=1e-6)
    with pytest.raises(ValueError, match="loss="):
        per_network_loss(z, y, "mse")


def test_realnet_separates_linearly_separable_data_and_is_ensemble_independent():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 6, generator=g)
    teacher = torch.randn(2, 6, generator=g)
    score = x @ teacher.T
    keep = (score[:, 0] - score[:, 1]).abs() > 1.0  # a margin: separable, and fast to fit
    x, y = x[keep], score[keep].argmax(-1)
    pair = RealNet([6, 2], seeds=[3, 4], lr=0.1)
    pair.set_eval_data("train", x, y)
    _fit(pair, x, y, batch=len(x), epochs=60)
    assert (
        pair.history[-1]["train_acc"].min().item() == 1.0
    )  # separable by a linear net (no hidden layer)
    alone = RealNet([6, 2], seeds=[4], lr=0.1)
    _fit(alone, x, y, batch=len(x), epochs=60)
    torch.testing.assert_close(alone.weights[0][0], pair.weights[0][1], rtol=1e-4, atol=1e-5)


# ---- frozen layers ---------------------------------------------------------------------------


def test_frozen_layer_indices():
    w = [20, 15, 15, 15, 10]
    assert frozen_layer_indices(w, ["itr"]) == [1, 2]
    assert frozen_layer_indices(w, ["lb", "rb"]) == [0, 3]
    assert frozen_layer_indices(w, ["layer3"]) == [2]
    with pytest.raises(ValueError, match="part="):
        frozen_layer_indices(w, ["middle"])


def test_frozen_interior_stays_fixed_and_redraws_every_epoch():
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(400, 8, generator=g), torch.randint(0, 4, (400,), generator=g)
    seeds = [11, 12]
    fixed = MeanFieldNet([8, 30, 30, 4], seeds, frozen=["itr"])
    start = [t.detach().clone() for t in fixed.thetas]
    _fit(fixed, x, y, batch=50, epochs=2)
    assert torch.equal(fixed.thetas[1], start[1])  # never trained
    assert torch.equal(fixed.thetas[1].abs(), torch.full_like(start[1], 10.0))
    plus = (start[1] > 0).float().mean().item()  # 1800 fair signs: mean 0.5, std 0.012
    assert abs(plus - 0.5) < 0.05
    assert not torch.equal(fixed.thetas[0], start[0]) and not torch.equal(fixed.thetas[2], start[2])
    alone = MeanFieldNet([8, 30, 30, 4], [12], frozen=["itr"])
    assert torch.equal(alone.thetas[1][0], start[1][1])  # each network's signs from its own seed

    redrawn = MeanFieldNet([8, 30, 30, 4], seeds, frozen=["itr"], redraw_frozen="every_epoch")
    assert torch.equal(redrawn.thetas[1], start[1])
    _fit(redrawn, x, y, batch=50, epochs=2)
    torch.testing.assert_close(redrawn.thetas[1], frozen_fields((30, 30), seeds, 1, 10.0, 1))
    flipped = (torch.sign(redrawn.thetas[1]) != torch.sign(start[1])).float().mean().item()
    assert abs(flipped - 0.5) < 0.05  # independent redraw: half the signs change
    with pytest.raises(ValueError, match="freeze.layers"):
        MeanFieldNet([8, 4], seeds, frozen=["full"])
    with pytest.raises(ValueError, match="freeze.redraw"):
        MeanFieldNet([8, 4], seeds, redraw_frozen="sometimes")


def test_itr_freeze_quick_experiment(make_cfg, tmp_path):
    cfg = make_cfg("train", ["experiment=itr_freeze_quick", "logger=none", "scenario.epochs=1"])
    metrics = run(cfg)
    for name in ("trained", "itr_frozen", "itr_redrawn"):
        assert (tmp_path / name / "history.csv").is_file()
        assert 0.05 < metrics[f"{name}/final_mean"] <= 1
    assert metrics["trained/gap_to_reference"] == 0.0
    assert (tmp_path / "comparison.png").is_file() and (tmp_path / "comparison.csv").is_file()
    result = np.load(tmp_path / "itr_frozen" / "result.npz")
    assert np.all(np.abs(result["theta2"]) == 10.0)  # the interior of 20-15-15-10 is W^2


# ---- labels, aggregation, double descent, depth ------------------------------------------------


def test_parity_labels():
    y = np.arange(10)
    d = Dataset(
        "m", np.zeros((10, 2), np.float32), y, np.zeros((10, 2), np.float32), y[::-1].copy(), 10
    )
    p = to_parity(d)
    assert p.n_classes == 2 and list(p.y_train) == [0, 1] * 5 and list(p.y_test) == [1, 0] * 5


def test_interpolation_and_peak_detection():
    a = np.array([0.1, 0.3, 1.0, 3.0, 10.0])
    assert interpolation_alpha(a, np.array([0.5, 0.2, 0.0, 0.01, 0.0]), tol=1e-3) == 10.0
    assert interpolation_alpha(a[::-1], np.array([0.0, 0.0, 0.0, 0.2, 0.5]), tol=1e-3) == 1.0
    assert math.isnan(interpolation_alpha(a, np.full(5, 0.1)))
    where, prom = find_error_peak(a, np.array([0.5, 0.4, 0.45, 0.3, 0.2]))
    assert where == 1.0 and prom == pytest.approx(0.05)
    assert find_error_peak(a, np.array([0.5, 0.4, 0.3, 0.25, 0.2]))[1] == 0.0
    assert crossover_width(np.array([2, 4, 8, 16]), np.array([0.6, 0.75, 0.7, 0.8]), 0.72) == 16.0


def test_curve_pools_runs_with_total_variance():
    rows = [
        {"x": 1, "m": 0.2, "s": 0.1},
        {"x": 1, "m": 0.4, "s": 0.1},
        {"x": 0, "m": 0.5, "s": 0.0},
    ]
    c = curve(rows, "x", "m", "s")
    assert list(c["x"]) == [0, 1] and c["y"][1] == pytest.approx(0.3)
    assert c["std"][1] == pytest.approx(math.sqrt(0.01 + 0.01))  # within 0.1^2 + between 0.1^2


def _fake_job(root, k, overrides, metrics):
    cfg = compose_cfg("train", overrides, root / str(k))
    (root / str(k) / ".hydra").mkdir(parents=True)
    OmegaConf.save(
        OmegaConf.masked_copy(cfg, [c for c in cfg if c != "hydra"]),
        root / str(k) / ".hydra/config.yaml",
    )
    if metrics is not None:
        (root / str(k) / "metrics.json").write_text(json.dumps(metrics))


def test_aggregate_double_descent_and_depth(make_cfg, tmp_path):
    sweep = tmp_path / "sweep"
    base = ["experiment=double_descent_sweep", "runs=2"]
    for k, (task, h, tr, te) in enumerate(
        [
            ("train", 4, 0.6, 0.55),
            ("train", 32, 0.7, 0.65),
            ("train_real", 4, 0.8, 0.6),
            ("train_real", 32, 1.0, 0.5),
        ]
    ):
        keys = (
            ("train_acc_sampled_mean", "test_acc_sampled_mean")
            if task == "train"
            else ("train_acc", "test_acc")
        )
        _fake_job(sweep, k, [*base, f"task={task}", f"arch.hidden={h}"], {keys[0]: tr, keys[1]: te})
    _fake_job(sweep, 4, [*base, "arch.hidden=8"], None)  # a job that died: reported, not averaged
    cfg = make_cfg("train", ["task=aggregate", f"aggregate.dir={sweep}", "logger=none"])
    m = run(cfg)
    assert m["jobs"] == 4 and m["failed_jobs"] == 1
    assert m["train_real/interpolation_alpha"] == pytest.approx(
        (32 * 32 + 30 * 32) / 2000
    )  # N = h^2 + 30h
    assert math.isnan(m["train/interpolation_alpha"])
    assert m["train/min_test_error"] == pytest.approx(0.35)
    rows = (tmp_path / "double_descent.csv").read_text().splitlines()
    assert len(rows) == 5 and (tmp_path / "double_descent.png").is_file()

    depth = tmp_path / "depth_sweep"
    for k, (w, acc) in enumerate([("[20,10]", 0.7), ("[20,4,4,10]", 0.65), ("[20,16,16,10]", 0.8)]):
        _fake_job(
            depth,
            k,
            ["experiment=deep_vs_shallow", f"arch.widths={w}"],
            {"test_acc_sampled_best": acc, "test_acc_sampled_best_std": 0.01},
        )
    cfg = make_cfg(
        "train", ["task=aggregate", f"aggregate.dir={depth}", "aggregate.kind=depth", "logger=none"]
    )
    m = run(cfg)
    assert m["shallow_acc"] == pytest.approx(0.7) and m["crossover_h"] == 16.0


def test_double_descent_sweep_quick_multirun_aggregates(tmp_path):
    env = dict(os.environ, WANDB_SILENT="true")
    cmd = [
        sys.executable,
        "train.py",
        "-m",
        "experiment=double_descent_sweep_quick",
        "arch.hidden=2,16",
        "real.epochs=5",
        "logger=csv",  # W&B in a multirun: test_cluster.py
        f"hydra.sweep.dir={tmp_path}",
    ]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    m = json.loads((tmp_path / "aggregate" / "metrics.json").read_text())
    assert m["jobs"] == 4 and m["failed_jobs"] == 0
    assert (tmp_path / "aggregate" / "double_descent.png").is_file()
    real = json.loads((tmp_path / "3" / "metrics.json").read_text())  # task=train_real, h=16
    assert real["epochs"] == 5 and 0 <= real["train_acc"] <= 1


# ---- double descent as the authors ran it: one batched, padded model ---------------------------


def test_padded_nets_compute_each_net_exactly():
    """Net e of the padded batch is the K-h_e-h_e-C net of its unpadded weights (real forward and
    sampled binary forward), and its padded entries get exactly zero gradient (real and
    mean-field), so padding never changes what a net learns."""
    from weightspace.experiments import double_descent as dd

    torch.manual_seed(0)
    hidden, K, C = [1, 3, 5], 4, 3
    masks, scales = dd.padded_masks(hidden, K, C)
    ws = [torch.randn(m.shape, dtype=torch.float64) * m for m in masks]
    x = torch.randn(7, K, dtype=torch.float64)
    logits = dd.padded_logits(ws, masks, scales, x)
    for e, h in enumerate(hidden):
        own = [ws[0][e, :h, :], ws[1][e, :h, :h], ws[2][e, :, :h]]
        want = _numpy_forward([w.numpy() for w in own], x.numpy())
        np.testing.assert_allclose(logits[e].numpy(), want, atol=1e-12)
        assert dd.n_weights(h, K, C) == sum(w.numel() for w in own)
    for fwd in (
        lambda p: dd.padded_logits(p, masks, scales, x),
        lambda p: dd.padded_meanfield_logits(p, masks, scales, x, torch.Generator().manual_seed(1)),
    ):
        params = [w.clone().requires_grad_(True) for w in ws]
        grads = torch.autograd.grad(fwd(params).square().sum(), params)
        for g, m in zip(grads, masks):
            assert (g[m == 0] == 0).all() and (g[m == 1] != 0).any()


def test_standard_parametrization_is_gd_on_rescaled_weights():
    """One GD step on W' = W/sqrt(N_{l-1}) (the usual layer, no activation scale) equals the
    'standard' step on W (lr x N_{l-1} in the two scaled layers)."""
    from weightspace.experiments import double_descent as dd

    torch.manual_seed(1)
    hidden, K, C, lr = [2, 4], 5, 3, 0.1
    masks, scales = dd.padded_masks(hidden, K, C)
    ws = [torch.randn(m.shape, dtype=torch.float64) * m for m in masks]
    x, y = torch.randn(9, K, dtype=torch.float64), torch.randint(0, C, (9,))
    fan = [
        torch.full((2, 1, 1), float(K), dtype=torch.float64),
        torch.tensor(hidden, dtype=torch.float64)[:, None, None],
    ]

    def plain(p):  # z = LReLU(z_prev) W'^T without scales
        z = x @ p[0].transpose(-1, -2)
        for w in p[1:]:
            z = torch.nn.functional.leaky_relu(z, 0.1) @ w.transpose(-1, -2)
        return z

    primed = [(w / f.sqrt()).requires_grad_(True) for w, f in zip(ws[:2], fan)]
    primed.append(ws[2].clone().requires_grad_(True))
    g = torch.autograd.grad(dd.loss_and_error(plain(primed), y, "ce")[0].sum(), primed)
    after = [w - lr * gw for w, gw in zip(primed, g)]
    p = [w.clone().requires_grad_(True) for w in ws]
    g = torch.autograd.grad(dd.loss_and_error(dd.padded_logits(p, masks, scales, x), y, "ce")[0].sum(), p)
    step = [w - lr * f * gw for w, gw, f in zip(ws, g, dd.lr_multipliers(hidden, K, "standard"))]
    for a, b, f in zip(after, step, [fan[0].sqrt(), fan[1].sqrt(), 1.0]):
        torch.testing.assert_close(a * f, b)
    assert dd.learning_rate(24_999, 0.01, 0.1, 25_000) == 0.01
    assert math.isclose(dd.learning_rate(50_000, 0.01, 0.1, 25_000), 1e-4)
    assert dd.snapshot_epochs(1000, 1) == [1, 10, 100, 1000]


def test_double_descent_adam_is_torch_adam(tmp_path, one_thread):
    """optimizer binary=adam: three epochs of the batched model equal torch.optim.Adam (coupled L2)
    on the same mean-field gradients with the same noise, padding stays exactly zero; its checkpoint
    does not resume under gd; and Adam with the standard parametrization (GD's lr factors) is refused."""
    from weightspace.experiments import double_descent as dd

    g = torch.Generator().manual_seed(3)
    x, y = torch.randn(16, 4, generator=g), torch.randint(0, 3, (16,), generator=g)
    decay = {"real": 0.0, "binary": 0.01}
    p = dd.Protocol(hidden=[1, 3], runs=1, epochs={"real": 0, "binary": 3}, lr=0.05, weight_decay=decay)
    model = dd.BatchedDoubleDescent(p, 4, 3)
    ref = dd.BatchedDoubleDescent(p, 4, 3)
    params = [w.detach().clone().requires_grad_(True) for w in ref.params["binary"]]
    opt = torch.optim.Adam(params, lr=0.05, weight_decay=0.01)
    model.train({"train": (x, y), "test": (x, y)}, 3)
    for _ in range(3):
        logits = dd.padded_meanfield_logits(params, ref.masks, ref.scales, x, ref.generator)
        opt.zero_grad()
        dd.loss_and_error(logits, y, "ce")[0].sum().backward()
        opt.step()
    for a, b, m in zip(model.params["binary"], params, model.masks):
        torch.testing.assert_close(a.detach(), b.detach(), rtol=1e-5, atol=1e-6)
        assert (a[m == 0] == 0).all()
    assert not torch.equal(model.params["binary"][0], ref.params["binary"][0])  # it did move
    model.save(tmp_path / "adam.pt")
    gd = dd.BatchedDoubleDescent(dd.Protocol(hidden=[1, 3], runs=1, epochs={"real": 0, "binary": 3},
                                             optimizer={"real": "gd", "binary": "gd"}), 4, 3)
    with pytest.raises(ValueError, match="checkpoint trained with optimizer"):  # no silent switch on resume
        gd.load(tmp_path / "adam.pt")
    with pytest.raises(ValueError, match="optimizer.real=adam needs parametrization.real=ntk"):
        dd.BatchedDoubleDescent(dd.Protocol(hidden=[1], runs=1, epochs={"real": 1, "binary": 1},
                                            optimizer={"real": "adam", "binary": "gd"}), 4, 3)


def test_batched_double_descent_resumes_bit_for_bit(tmp_path, one_thread):
    """Stopped at epoch 7 (a snapshot there, checkpointed) and resumed to 12: the weights and the
    history at the grid epochs equal one straight run's (binary nets with Adam: its moments too)."""
    from weightspace.experiments import double_descent as dd

    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(40, 5, generator=g), torch.randint(0, 3, (40,), generator=g)
    data = {"train": (x, y), "test": (x[:10], y[:10])}
    p = dd.Protocol(hidden=[1, 3], runs=2, epochs={"real": 12, "binary": 10}, lr=0.5)
    straight = dd.BatchedDoubleDescent(p, 5, 3)
    straight.train(data, 12)
    part = dd.BatchedDoubleDescent(p, 5, 3)
    part.train(data, 7, checkpoint=tmp_path / "c.pt")
    assert [int(r["epoch"]) for r in part.history["binary"]][-1] == 7
    resumed = dd.BatchedDoubleDescent(p, 5, 3)
    resumed.load(tmp_path / "c.pt")
    resumed.train(data, 12)
    for kind in dd.KINDS:
        for a, b in zip(straight.params[kind], resumed.params[kind]):
            assert torch.equal(a, b)
        grid = [r for r in resumed.history[kind] if int(r["epoch"]) != 7]
        assert len(grid) == len(straight.history[kind])
        for a, b in zip(straight.history[kind], grid):
            assert all(np.array_equal(a[k], b[k]) for k in a)


def test_double_descent_progress_counts_from_the_resumed_epoch(tmp_path, one_thread, capsys):
    """The progress bar (rate, ETA between the log-spaced snapshots) starts at the checkpoint's epoch."""
    from weightspace.experiments import double_descent as dd

    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(20, 5, generator=g), torch.randint(0, 3, (20,), generator=g)
    p = dd.Protocol(hidden=[1], runs=1, epochs={"real": 9, "binary": 0}, lr=0.5)
    first = dd.BatchedDoubleDescent(p, 5, 3)
    first.train({"train": (x, y), "test": (x, y)}, 4, checkpoint=tmp_path / "c.pt")
    assert "4/4" in capsys.readouterr().err  # the run stops at `until`
    resumed = dd.BatchedDoubleDescent(p, 5, 3)
    resumed.load(tmp_path / "c.pt")
    resumed.train({"train": (x, y), "test": (x, y)}, 9)
    err = capsys.readouterr().err
    assert "double descent:  44%" in err and "4/9" in err and "9/9" in err and "epoch/s" in err


def test_merged_double_descent_runs_equal_their_parts(tmp_path, one_thread):
    """scripts/double_descent_merge.py on a narrow run (h = 1, 2; both kinds) and a wide one
    (h = 4; real only) gives, per kind, every net's own numbers at the epochs both reached (the
    binary row from the narrow run alone), and on one run the model's own summary."""
    import csv as csv_

    from weightspace.experiments import double_descent as dd

    sys.path.insert(0, str(ROOT / "scripts"))
    import double_descent_merge

    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(30, 4, generator=g), torch.randint(0, 3, (30,), generator=g)
    data = {"train": (x, y), "test": (x[:10], y[:10])}
    narrow = dd.BatchedDoubleDescent(dd.Protocol(hidden=[1, 2], runs=2, epochs={"real": 10, "binary": 6}, lr=0.5), 4, 3)
    wide = dd.BatchedDoubleDescent(dd.Protocol(hidden=[4], runs=3, epochs={"real": 10, "binary": 0}, lr=0.5), 4, 3)
    for model, name in ((narrow, "narrow"), (wide, "wide")):
        model.train(data, 10)
        rows = dd.history_rows(model)
        (tmp_path / name).mkdir()
        with (tmp_path / name / "double_descent_history.csv").open("w", newline="") as f:
            w = csv_.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    assert not wide.history["binary"]
    runs = [str(tmp_path / "narrow"), str(tmp_path / "wide")]
    assert double_descent_merge.main([*runs, "--out", str(tmp_path / "m")]) == 0
    with (tmp_path / "narrow" / "double_descent_history.csv").open() as f:
        narrow_rows = list(csv_.DictReader(f))
    with (tmp_path / "wide" / "double_descent_history.csv").open() as f:
        wide_rows = list(csv_.DictReader(f))
    hidden, alpha, history = dd.history_from_tables([narrow_rows, wide_rows])
    assert hidden["real"].tolist() == [1, 1, 2, 2, 4, 4, 4] and hidden["binary"].tolist() == [1, 1, 2, 2]
    np.testing.assert_allclose(alpha["real"], np.concatenate([narrow.alpha, wide.alpha]))
    assert [int(s["epoch"]) for s in history["real"]] == dd.snapshot_epochs(10)
    assert [int(s["epoch"]) for s in history["binary"]] == dd.snapshot_epochs(6)
    for got, a, b in zip(history["real"], narrow.history["real"], wide.history["real"]):
        np.testing.assert_allclose(got["test_loss"], np.concatenate([a["test_loss"], b["test_loss"]]), rtol=1e-6)
    for got, a in zip(history["binary"], narrow.history["binary"]):
        np.testing.assert_allclose(got["train_error"], a["train_error"], rtol=1e-6)
    final = list(csv_.DictReader((tmp_path / "m" / "double_descent_final.csv").open()))
    wide4 = [r for r in final if r["kind"] == "real" and r["hidden"] == "4"][0]
    assert wide4["runs"] == "3"
    want_loss = float(wide.history["real"][-1]["test_loss"].mean())
    assert float(wide4["test_loss_mean"]) == pytest.approx(want_loss, rel=1e-6)
    assert (tmp_path / "m" / "double_descent_epochs.png").is_file()
    merged = json.loads((tmp_path / "m" / "summary.json").read_text())
    assert merged["binary/min_train_error"] == pytest.approx(dd.summary(narrow)["binary/min_train_error"], rel=1e-6)
    _, one_alpha, one_history = dd.history_from_tables([narrow_rows])
    one = dd.summarize(one_history, one_alpha)
    want = {k: v for k, v in dd.summary(narrow).items() if "seconds" not in k}
    assert one.keys() == want.keys()
    for k in want:
        assert one[k] == pytest.approx(want[k], rel=1e-6, nan_ok=True)


def test_merged_figure_is_titled_from_the_runs_config(make_cfg, tmp_path):
    """The merge titles the figure from the first run's saved config: the parity variant is 20-h-h-2
    with the hinge loss (a fixed 10-class cross-entropy title mislabelled it)."""
    from omegaconf import OmegaConf

    sys.path.insert(0, str(ROOT / "scripts"))
    import double_descent_merge

    run = tmp_path / "run"
    (run / ".hydra").mkdir(parents=True)
    OmegaConf.save(make_cfg("train", ["experiment=parity_double_descent"]), run / ".hydra" / "config.yaml")
    assert double_descent_merge.title_of(run) == (
        "20-h-h-2, mnist_pca20, parity labels, P = 2000, full-batch GD, loss hinge")


@pytest.mark.slow
def test_double_descent_task_resumes_bit_for_bit(tmp_path):
    """experiment=double_descent_quick stopped at epoch 12 (a snapshot there) and resumed to the
    end gives the same history as one straight run; metrics name the interpolation and peak of
    each kind."""
    quick = ["experiment=double_descent_quick", "logger=none"]
    m = run(compose_cfg("train", quick, tmp_path / "straight"))
    assert m["real/epoch"] == 30 and m["binary/epoch"] == 20
    assert {"real/test_loss_peak_alpha", "binary/interpolation_alpha", "real/seconds_per_epoch"} <= set(m)
    run(compose_cfg("train", [*quick, "double_descent.until=12"], tmp_path / "part"))
    run(compose_cfg("train", [*quick, f"double_descent.resume={tmp_path / 'part'}"], tmp_path / "rest"))
    history = (tmp_path / "straight" / "double_descent_history.csv").read_text()
    resumed = (tmp_path / "part" / "double_descent_history.csv").read_text().splitlines()
    stop_rows = [r for r in resumed if r.split(",")[1] == "12"]  # the snapshot where it stopped
    assert len(stop_rows) == 12 and history.splitlines() == [r for r in resumed if r not in stop_rows]
    snapshots = len({1, 2, 3, 6, 10, 18, 30}) + len({1, 2, 3, 6, 10, 18, 20})
    assert len(history.splitlines()) == 1 + 6 * snapshots  # 3 widths x 2 runs per snapshot
    assert (tmp_path / "part" / "double_descent_epochs.png").is_file()


# ---- t-SNE --------------------------------------------------------------------------------------


def test_overlap_purity_and_initial_configs():
    rng = np.random.default_rng(0)
    c = rng.choice([-1, 1], size=(30, 50)).astype(np.int8)
    brute = np.mean([c[a] @ c[b] / 50 for a in range(30) for b in range(30) if a != b])
    assert ts.mean_overlap(c) == pytest.approx(brute)
    pts = np.r_[rng.normal(0, 1, (50, 2)), rng.normal(20, 1, (50, 2))]
    labels = np.r_[np.zeros(50, int), np.ones(50, int)]
    assert ts.knn_purity(pts, labels) == 1.0
    assert abs(ts.knn_purity(pts, rng.permutation(labels)) - 0.5) < 0.1
    widths, seeds = [6, 4, 3], [5, 9, 13]
    init = ts.initial_configs(
        widths, seeds, init_std=20.0, sample_seed=0
    )  # |theta| >> 1: w = sign(theta)
    theta = torch.cat([t.flatten(1) for t in init_fields(widths, seeds, 20.0)], 1).numpy()
    assert (init == np.sign(theta)).mean() > 0.95


def test_tsne_separates_solutions_from_random_starts(make_cfg, tmp_path):
    rng = np.random.default_rng(1)
    n = 20 * 15 + 15 * 15 + 15 * 10
    center = rng.choice([-1, 1], n)
    sols = np.where(rng.random((60, n)) < 0.1, -center, center).astype(
        np.int8
    )  # a cluster (q ~ 0.64)
    np.save(tmp_path / "sols.npy", sols)
    cfg = make_cfg(
        "train",
        [
            "experiment=tsne_quick",
            f"tsne.configs={tmp_path / 'sols.npy'}",
            "tsne.n_test=500",
            "logger=none",
        ],
    )
    m = run(cfg)
    assert m["n_each"] == 60 and m["knn_purity"] > 0.95
    assert (
        m["overlap_solutions"] == pytest.approx(0.64, abs=0.05) and abs(m["overlap_initial"]) < 0.02
    )
    assert 0.0 < m["acc_initial_mean"] < 0.3 and (tmp_path / "tsne.png").is_file()
