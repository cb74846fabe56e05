"""``python train.py``: train mean-field binary networks (paper Sec. II, App. A, D).

``task=train`` (below); ``task=collect`` collects an ensemble into a store (:mod:`.collect`).

``runs`` independent networks are trained together as one ensemble module; the run dir gets
``history.csv`` (per-epoch means and stds), ``learning_curves.png`` (Fig. 2(a) style),
``result.npz`` (final fields, best sampled configuration per network and its accuracy) and
``metrics.json``; the same metrics and figure go to the configured loggers.
"""

from __future__ import annotations

import csv
import time
from pathlib import Path

import hydra
import numpy as np
import torch
from omegaconf import DictConfig

from ..nets.batches import EnsembleBatches
from ..nets.module import MeanFieldNet
from ..nets.realnet import ensemble_accuracy
from ..nets.spins import config_to_layers
from ..plots.training import plot_learning_curves
from . import tracking
from .collect import collect
from .common import load_data, output_dir, write_json


def write_history(path: Path, curves: dict[str, np.ndarray]) -> None:
    keys = list(curves)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["epoch"] + [f"{k}_{s}" for k in keys for s in ("mean", "std")])
        for t in range(len(curves[keys[0]])):
            w.writerow([t + 1] + [f"{v:.6f}" for k in keys for v in (curves[k][t].mean(), curves[k][t].std())])


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


def run(cfg: DictConfig) -> dict[str, float]:
    """Entry point of ``train.py``: dispatch on ``cfg.task``; returns the final metrics."""
    out = output_dir(cfg)
    if cfg.get("threads"):
        torch.set_num_threads(int(cfg.threads))
    if cfg.task == "collect":
        return collect(cfg, out)  # makes its loggers on rank 0 only
    from .experiments import TASKS  # imports this module (train) itself

    if cfg.task not in ("train", *TASKS):
        raise ValueError(f"task={cfg.task!r}: choose one of train, collect, {', '.join(TASKS)}")
    loggers = tracking.make_loggers(cfg.get("logger"))
    try:
        tracking.log_config(loggers, cfg)
        return (train if cfg.task == "train" else TASKS[cfg.task])(cfg, out, loggers)
    finally:
        tracking.finish(loggers)
