"""``python train.py``: train mean-field binary networks (paper Sec. II, App. A, D).

``task=train`` and ``task=compare`` (below); ``task=collect`` collects an ensemble into a store
(:mod:`.collect`); the other tasks are in :mod:`.experiments`.

``runs`` independent networks are trained together as one ensemble module; the run dir gets
``history.csv`` (per-epoch means and stds), ``learning_curves.png`` (Fig. 2(a) style),
``result.npz`` (final fields, best sampled configuration per network and its accuracy) and
``metrics.json``; the same metrics and figure go to the configured loggers.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from ..errors import ConfigError
from ..experiments.freeze import gap_to_reference, plot_mean_std, read_history, write_history
from ..nets.batches import EnsembleBatches
from ..nets.freeze import REDRAW
from ..nets.losses import LOSSES
from ..nets.module import MeanFieldNet
from ..nets.realnet import ensemble_accuracy
from ..nets.spins import config_to_layers
from ..plots.training import plot_learning_curves
from . import tracking
from .cli import Choices
from .collect import collect
from .common import LABELS, load_data, output_dir, write_json
from .experiments import AGGREGATIONS, Task
from .experiments import TASKS as EXPERIMENTS


def train(cfg: DictConfig, out: Path, loggers: list) -> dict[str, float]:
    data = load_data(cfg)
    sc, fz = cfg.scenario, cfg.freeze
    seeds = [int(cfg.seed) + k for k in range(int(cfg.runs))]
    model = MeanFieldNet(
        cfg.arch.widths,
        seeds,
        sc.lr,
        sc.weight_decay,
        sc.init_std,
        cfg.eval.n_samples,
        loss=cfg.loss,
        frozen=list(fz.layers),
        redraw_frozen=fz.redraw,
        frozen_field=fz.field,
    )
    model.set_eval_data(torch.from_numpy(data.x_test), torch.from_numpy(data.y_test))
    batches = EnsembleBatches(torch.from_numpy(data.x_train), torch.from_numpy(data.y_train), seeds, sc.batch_size)
    trainer = hydra.utils.instantiate(cfg.trainer, logger=loggers or False)
    t0 = time.perf_counter()
    trainer.fit(model, train_dataloaders=batches)
    wall = time.perf_counter() - t0

    final = model.evaluate()
    acc = final["acc_sampled"].cpu().numpy()  # [K, E]
    best = acc.argmax(0)
    layers = config_to_layers(final["configs"].float(), list(cfg.arch.widths))  # [K, E, N_l, N_{l-1}]
    x_tr, y_tr = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train)
    train_acc = torch.stack([ensemble_accuracy([w[k] for w in layers], x_tr, y_tr) for k in range(len(acc))]).numpy()
    configs = final["configs"].cpu().numpy()[best, np.arange(len(seeds))].astype(np.int8)
    np.savez(
        out / "result.npz",
        seeds=np.array(seeds),
        widths=np.array(cfg.arch.widths),
        configs=configs,
        acc_sampled=acc,
        acc_meanfield=final["acc_meanfield"].cpu().numpy(),
        **{f"theta{l + 1}": t.detach().cpu().numpy() for l, t in enumerate(model.thetas)},
    )
    curves = {k: torch.stack([row[k] for row in model.history]).numpy() for k in model.history[0]}
    write_history(out / "history.csv", curves)
    fig = plot_learning_curves(
        curves, out / "learning_curves.png", f"{cfg.arch.name}, {data.name}, P={len(data.x_train)}", cfg.loss
    )
    tracking.log_figure(loggers, "learning_curves", fig)
    epochs = len(model.epoch_seconds)
    metrics = {
        "test_acc_sampled_best": float(acc.max(0).mean()),
        "test_acc_sampled_best_std": float(acc.max(0).std()),
        "test_acc_sampled_mean": float(acc.mean()),
        "test_acc_sampled_mean_std": float(acc.mean(0).std()),
        "train_acc_sampled_mean": float(train_acc.mean()),  # the same samples on the training set
        "train_acc_sampled_mean_std": float(train_acc.mean(0).std()),
        "test_acc_meanfield": float(final["acc_meanfield"].mean()),
        "train_loss": float(curves["train_loss"][-1].mean()),
        "epochs": float(epochs),
        "seconds_per_epoch": float(np.mean(model.epoch_seconds)) if epochs else float("nan"),
        "wall_seconds": wall,
    }
    write_json(out / "metrics.json", metrics)
    tracking.log_metrics(loggers, {f"final/{k}": v for k, v in metrics.items()})
    n = len(seeds)
    print(
        f"\nweightspace train: {n} network{'s' * (n > 1)} {cfg.arch.name} on {data.name} "
        f"(P={len(data.x_train)}), {epochs} epochs, {metrics['seconds_per_epoch']:.3f} s/epoch\n"
        f"  binary test accuracy: best of {acc.shape[0]} samples {metrics['test_acc_sampled_best']:.4f}"
        + (f" ± {metrics['test_acc_sampled_best_std']:.4f}" if n > 1 else "")
        + f" (mean sample {metrics['test_acc_sampled_mean']:.4f}); mean-field {metrics['test_acc_meanfield']:.4f}\n"
        f"  run dir: {out}"
    )
    return metrics


def compare(cfg: DictConfig, out: Path, loggers: list) -> dict[str, float]:
    """Train each variant of ``compare.variants`` (name -> config overrides) with ``task=train``
    into ``out/<name>``; plot ``compare.key`` mean ± std per epoch; table of final numbers."""
    cc = cfg.compare
    if not cc.variants:
        raise ValueError(
            "compare.variants is empty: give name -> overrides, e.g. experiment=itr_freeze"
        )
    histories: dict[str, dict[str, np.ndarray]] = {}
    rows: list[dict[str, Any]] = []
    for name, overrides in cc.variants.items():
        vcfg = OmegaConf.merge(cfg, overrides)
        vdir = out / str(name)
        vdir.mkdir(parents=True, exist_ok=True)
        m = train(vcfg, vdir, [])
        histories[str(name)] = read_history(vdir / "history.csv")
        rows.append(
            {
                "variant": str(name),
                "frozen": " ".join(map(str, vcfg.freeze.layers)) or "-",
                "redraw": str(vcfg.freeze.redraw),
                "final_mean": m[cc.key],
                "final_std": m[f"{cc.key}_std"] if f"{cc.key}_std" in m else float("nan"),
                "seconds_per_epoch": m["seconds_per_epoch"],
            }
        )
    if cc.reference not in histories:
        raise ValueError(
            f"compare.reference={cc.reference!r}: not one of the variants {list(histories)}"
        )
    gaps = gap_to_reference(histories, str(cc.reference), str(cc.key))
    for row in rows:
        row["gap_to_reference"] = gaps[row["variant"]]
    title = f"{cfg.arch.name}, {cfg.dataset.name}, {int(cfg.runs)} runs each"
    series = {
        n: (h["epoch"], h[f"{cc.key}_mean"], h[f"{cc.key}_std"]) for n, h in histories.items()
    }
    fig = plot_mean_std(series, out / "comparison.png", str(cc.key).replace("_", " "), title)
    tracking.log_figure(loggers, "comparison", fig)
    tracking.log_table(loggers, "comparison", rows, out / "comparison.csv")
    epochs = len(next(iter(histories.values()))["epoch"])
    for t in range(epochs):  # per-epoch curves of every variant, one monotone step axis
        tracking.log_metrics(
            loggers, {f"{n}/{cc.key}": h[f"{cc.key}_mean"][t] for n, h in histories.items()}, t
        )
    metrics = {
        f"{r['variant']}/{k}": float(r[k])
        for r in rows
        for k in ("final_mean", "final_std", "gap_to_reference", "seconds_per_epoch")
    }
    write_json(out / "metrics.json", metrics)
    print("\nweightspace compare (" + str(cc.key) + ", final epoch):")
    for r in rows:
        print(
            f"  {r['variant']:>14}: {r['final_mean']:.4f} ± {r['final_std']:.4f} "
            f"(gap {r['gap_to_reference']:+.4f}), {r['seconds_per_epoch']:.3f} s/epoch"
        )
    print(f"  run dir: {out}")
    return metrics


TASKS: dict[str, Task] = {"train": train, "compare": compare, **EXPERIMENTS}
CHOICES: Choices = {
    "task": ("collect", *TASKS),
    "loss": LOSSES,
    "labels": LABELS,
    "freeze.redraw": REDRAW,
    "aggregate.kind": tuple(AGGREGATIONS),
}


def run(cfg: DictConfig) -> dict[str, float]:
    """Entry point of ``train.py``: dispatch on ``cfg.task``; returns the final metrics."""
    out = output_dir(cfg)
    if cfg.get("threads"):
        torch.set_num_threads(int(cfg.threads))
    if cfg.task == "collect":
        return collect(cfg, out)  # W&B run per job on its rank 0 (see collect)
    if cfg.task not in TASKS:
        raise ConfigError(f"task={cfg.task!r}: choose one of collect, {', '.join(TASKS)}")
    with tracking.session(cfg) as loggers:
        return TASKS[cfg.task](cfg, out, loggers)
