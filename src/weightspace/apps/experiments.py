"""``python train.py task=<name>`` for the experiments beyond training (``train``, ``compare``:
:mod:`.train`; ``collect``: :mod:`.collect`): each ``task(cfg, out, loggers)`` writes its
figure, table (CSV + W&B) and ``metrics.json`` to the run dir and returns the metrics.

- ``train_real``: real-valued-weight nets (:class:`weightspace.nets.realnet.RealNet`).
- ``double_descent``: Fig. 17 as the authors ran it, every net in one batched model
  (:class:`weightspace.experiments.double_descent.BatchedDoubleDescent`), resumable.
- ``aggregate``: figure + table of a multirun dir (``aggregate.kind``: double_descent, depth).
- ``tsne``: t-SNE of initial vs learned configurations of an ensemble store (Fig. 2(b)).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import torch
from omegaconf import DictConfig

from ..ensemble.configs import load_configs
from ..ensemble.store import EnsembleStore
from ..experiments import double_descent as dd
from ..experiments import tsne as ts
from ..experiments.depth import crossover_width, plot_depth
from ..experiments.freeze import plot_mean_std, write_history
from ..experiments.sweeps import curve, read_sweep
from ..nets.batches import EnsembleBatches
from ..nets.realnet import RealNet
from ..nets.spins import n_spins
from . import tracking
from .common import load_data, write_json

Task = Callable[[DictConfig, Path, list], dict[str, float]]

# metrics.json keys of the train / test accuracy of each training task (mean over networks, std)
ACC_KEYS = {
    "train": ("train_acc_sampled_mean", "test_acc_sampled_mean"),
    "train_real": ("train_acc", "test_acc"),
}


def train_real(cfg: DictConfig, out: Path, loggers: list) -> dict[str, float]:
    """Train ``runs`` real-valued nets of ``arch.widths`` (options under ``real``, data from
    ``scenario``); train/test accuracy per epoch, final means and stds over networks."""
    data = load_data(cfg)
    r = cfg.real
    seeds = [int(cfg.seed) + k for k in range(int(cfg.runs))]
    model = RealNet(cfg.arch.widths, seeds, r.lr, r.weight_decay, r.init_std, cfg.loss)
    x_tr, y_tr = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train)
    model.set_eval_data("train", x_tr, y_tr)
    model.set_eval_data("test", torch.from_numpy(data.x_test), torch.from_numpy(data.y_test))
    trainer = hydra.utils.instantiate(
        cfg.trainer, logger=loggers or False, max_epochs=int(r.epochs)
    )
    t0 = time.perf_counter()
    trainer.fit(model, train_dataloaders=EnsembleBatches(x_tr, y_tr, seeds, int(r.batch_size)))
    wall = time.perf_counter() - t0
    curves = {k: torch.stack([row[k] for row in model.history]).numpy() for k in model.history[0]}
    write_history(out / "history.csv", curves)
    title = (
        f"real-valued {list(cfg.arch.widths)}, {data.name}, P={len(data.x_train)}, E={len(seeds)}"
    )
    epochs = np.arange(1, len(curves["test_acc"]) + 1)
    series = {
        s: (epochs, curves[f"{s}_acc"].mean(1), curves[f"{s}_acc"].std(1))
        for s in ("train", "test")
    }
    fig = plot_mean_std(series, out / "learning_curves.png", "accuracy", title)
    tracking.log_figure(loggers, "learning_curves", fig)
    metrics = {
        "train_acc": float(curves["train_acc"][-1].mean()),
        "train_acc_std": float(curves["train_acc"][-1].std()),
        "test_acc": float(curves["test_acc"][-1].mean()),
        "test_acc_std": float(curves["test_acc"][-1].std()),
        "train_loss": float(curves["train_loss"][-1].mean()),
        "epochs": float(len(model.epoch_seconds)),
        "seconds_per_epoch": float(np.mean(model.epoch_seconds)),
        "wall_seconds": wall,
    }
    write_json(out / "metrics.json", metrics)
    tracking.log_metrics(loggers, {f"final/{k}": v for k, v in metrics.items()})
    print(
        f"\nweightspace train_real: {len(seeds)} real-valued nets {list(cfg.arch.widths)} on "
        f"{data.name} (P={len(data.x_train)}), {len(model.epoch_seconds)} epochs: train acc "
        f"{metrics['train_acc']:.4f}, test acc {metrics['test_acc']:.4f}"
        f" ± {metrics['test_acc_std']:.4f}\n"
        f"  run dir: {out}"
    )
    return metrics


def double_descent(cfg: DictConfig, out: Path, loggers: list) -> dict[str, float]:
    """Paper Fig. 17 / App. F protocol (options under ``double_descent``): real-valued and binary
    20-h-h-10 nets, full-batch gradient descent; snapshots of train/test loss and error vs alpha
    at log-spaced epochs. ``double_descent.resume=<run dir>`` continues that run (its checkpoint,
    history and figures); ``double_descent.until`` stops early (checkpointed)."""
    c = cfg.double_descent
    data = load_data(cfg)
    device = c.device if c.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    protocol = dd.Protocol(
        hidden=[int(h) for h in c.hidden],
        runs=int(cfg.runs),
        epochs={k: int(v) for k, v in c.epochs.items()},
        lr=float(c.lr),
        lr_decay=float(c.lr_decay),
        lr_every=int(c.lr_every),
        init_std={k: float(v) for k, v in c.init_std.items()},
        eval_samples=int(c.eval_samples),
        parametrization={k: str(v) for k, v in c.parametrization.items()},
        optimizer={k: str(v) for k, v in c.optimizer.items()},
        weight_decay={k: float(v) for k, v in c.weight_decay.items()},
        loss=str(cfg.loss),
        seed=int(cfg.seed),
    )
    widths = list(cfg.arch.widths)
    model = dd.BatchedDoubleDescent(protocol, int(widths[0]), int(widths[-1]), device)
    work = Path(str(c.resume)) if c.resume else out
    checkpoint = work / "checkpoint.pt"
    if c.resume:
        if not checkpoint.is_file():
            raise ValueError(f"double_descent.resume={c.resume}: no checkpoint.pt there; give a run dir of this task")
        model.load(checkpoint)
    sets = {
        split: (torch.from_numpy(x).to(model.device), torch.from_numpy(y).to(model.device))
        for split, x, y in (("train", data.x_train, data.y_train), ("test", data.x_test, data.y_test))
    }
    title = dd.epochs_title(widths, data.name, cfg.labels, len(data.x_train), cfg.loss) + f", runs {cfg.runs}"

    def on_snapshot(m: dd.BatchedDoubleDescent) -> None:
        tracking.log_table([], "double_descent", dd.history_rows(m), work / "double_descent_history.csv")
        if math.log10(m.epoch).is_integer():  # the figure at every decade of epochs
            dd.plot_epochs(m.history, m.alpha, work / "double_descent_epochs.png", title)
        print(f"double_descent: epoch {m.epoch}, " + ", ".join(
            f"{k} {v:.4g}" for k, v in dd.summary(m).items() if "peak" not in k), flush=True)

    until = int(c.until) if c.until else max(protocol.epochs.values())
    model.train(sets, until, on_snapshot, checkpoint, float(c.checkpoint_every_s))
    fig = dd.plot_epochs(model.history, model.alpha, work / "double_descent_epochs.png", title)
    tracking.log_figure(loggers, "double_descent_epochs", fig)
    tracking.log_table(loggers, "double_descent", dd.history_rows(model), work / "double_descent_history.csv")
    metrics = dd.summary(model) | {"device_cuda": float(model.device.type == "cuda")}
    write_json(out / "metrics.json", metrics)
    tracking.log_metrics(loggers, metrics)
    print(f"\nweightspace double_descent ({device}), epoch {model.epoch}:")
    for k, v in metrics.items():
        print(f"  {k}: {v:.6g}")
    print(f"  run dir: {work}")
    return metrics


def _with_errors(row: dict[str, Any]) -> dict[str, Any]:
    """Row plus ``train_error``, ``test_error`` and their stds from the task's accuracy keys."""
    if row["task"] not in ACC_KEYS:
        raise ValueError(
            f"aggregate: job {row['job']}: task={row['task']} is not one of {list(ACC_KEYS)}"
        )
    out = dict(row)
    for split, key in zip(("train", "test"), ACC_KEYS[row["task"]]):
        if key not in row:
            raise ValueError(
                f"aggregate: job {row['job']}: no {key} in metrics.json; rerun it with this version"
            )
        out[f"{split}_error"] = 1.0 - row[key]
        out[f"{split}_error_std"] = row.get(f"{key}_std", 0.0)
    return out


def _aggregate_double_descent(
    rows: list[dict[str, Any]], out: Path, loggers: list
) -> tuple[dict, list]:
    rows = [_with_errors(r) for r in rows]
    curves, metrics = {}, {}
    for task in sorted({r["task"] for r in rows}):
        sub = [r for r in rows if r["task"] == task]
        c = {s: curve(sub, "alpha", f"{s}_error", f"{s}_error_std") for s in ("train", "test")}
        curves[task] = c
        peak_alpha, prominence = dd.find_error_peak(c["test"]["x"], c["test"]["y"])
        metrics |= {
            f"{task}/interpolation_alpha": dd.interpolation_alpha(c["train"]["x"], c["train"]["y"]),
            f"{task}/peak_alpha": peak_alpha,
            f"{task}/peak_prominence": prominence,
            f"{task}/min_train_error": float(c["train"]["y"].min()),
            f"{task}/min_test_error": float(c["test"]["y"].min()),
        }
    r0 = rows[0]
    title = f"{r0['labels']}, loss {r0['loss']}, P={r0['n_train']}"
    fig = dd.plot_double_descent(curves, out / "double_descent.png", title)
    tracking.log_figure(loggers, "double_descent", fig)
    keys = (
        "task",
        "hidden",
        "n_params",
        "n_train",
        "alpha",
        "train_error",
        "train_error_std",
        "test_error",
        "test_error_std",
    )
    table = [{k: r[k] for k in keys} for r in sorted(rows, key=lambda r: (r["task"], r["alpha"]))]
    return metrics, table


def _aggregate_depth(rows: list[dict[str, Any]], out: Path, loggers: list) -> tuple[dict, list]:
    key = "test_acc_sampled_best"
    deep = [r for r in rows if r["depth"] > 1]
    shallow = [r for r in rows if r["depth"] == 1]
    if not deep:
        raise ValueError("aggregate.kind=depth: the multirun has no net with hidden layers")
    c = curve(deep, "hidden", key, f"{key}_std")
    sh = curve(shallow, "depth", key, f"{key}_std") if shallow else None
    band = {"y": float(sh["y"][0]), "std": float(sh["std"][0])} if sh else {}
    fig = plot_depth(c, band, out / "depth.png", f"binary nets, P={rows[0]['n_train']}")
    tracking.log_figure(loggers, "depth", fig)
    metrics = {
        "shallow_acc": band.get("y", float("nan")),
        "shallow_acc_std": band.get("std", float("nan")),
        "deep_acc_max": float(c["y"].max()),
        "crossover_h": crossover_width(c["x"], c["y"], band["y"]) if band else float("nan"),
    }
    table = [
        {
            "widths": "-".join(map(str, r["widths"])),
            "hidden": r["hidden"],
            "n_params": r["n_params"],
            key: r[key],
            f"{key}_std": r.get(f"{key}_std", 0.0),
            "runs": r["runs"],
        }
        for r in sorted(rows, key=lambda r: (r["depth"], r["hidden"]))
    ]
    return metrics, table


AGGREGATIONS = {"double_descent": _aggregate_double_descent, "depth": _aggregate_depth}


def aggregate(cfg: DictConfig, out: Path, loggers: list) -> dict[str, float]:
    """Figure and table of the multirun dir ``aggregate.dir`` (``aggregate.kind``)."""
    ac = cfg.aggregate
    if not ac.dir:
        raise ValueError(
            "aggregate.dir is not set: give the multirun dir, e.g. aggregate.dir=multirun/<time>"
        )
    if ac.kind not in AGGREGATIONS:
        raise ValueError(f"aggregate.kind={ac.kind!r}: choose one of {list(AGGREGATIONS)}")
    rows, failed = read_sweep(ac.dir)
    if not rows:
        raise ValueError(
            f"aggregate.dir={ac.dir}: no job finished (no metrics.json); jobs: {failed}"
        )
    metrics, table = AGGREGATIONS[ac.kind](rows, out, loggers)
    metrics |= {"jobs": float(len(rows)), "failed_jobs": float(len(failed))}
    tracking.log_table(loggers, ac.kind, table, out / f"{ac.kind}.csv")
    tracking.log_metrics(loggers, metrics)
    write_json(out / "metrics.json", metrics)
    print(
        f"\nweightspace aggregate ({ac.kind}) of {ac.dir}: {len(rows)} jobs"
        + (f", {len(failed)} FAILED (no metrics.json): {failed}" if failed else "")
    )
    for k, v in metrics.items():
        print(f"  {k}: {v:.6g}")
    print(f"  run dir: {out}")
    return metrics


def _solutions(tc: DictConfig, widths: list[int]) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """``(configs, trial seeds, widths)``: a store carries its seeds; a .npy gets seeds 0..M-1."""
    path = Path(str(tc.configs))
    if path.is_dir():
        configs, widths = load_configs(path, widths, limit=int(tc.n), option="tsne.configs")
        seeds = EnsembleStore(path).load(limit=int(tc.n)).seed
        return configs, seeds, widths
    configs, widths = load_configs(path, widths, limit=int(tc.n), option="tsne.configs")
    return configs, np.arange(len(configs)), widths


def tsne(cfg: DictConfig, out: Path, loggers: list) -> dict[str, float]:
    """Fig. 2(b): t-SNE of each solution's trial-initial configuration and of the solutions."""
    tc = cfg.tsne
    solutions, seeds, widths = _solutions(tc, list(cfg.arch.widths))
    if len(solutions) < 10:
        raise ValueError(
            f"tsne.configs={tc.configs}: only {len(solutions)} configurations; collect more"
        )
    if n_spins(widths) != solutions.shape[1]:
        raise ValueError(
            f"tsne.configs={tc.configs}: {solutions.shape[1]} spins do not match widths {widths}"
        )
    initial = ts.initial_configs(
        widths, [int(s) for s in seeds], float(cfg.scenario.init_std), int(tc.seed)
    )
    data = load_data(cfg)
    x, y = data.x_test[: int(tc.n_test)], data.y_test[: int(tc.n_test)]
    acc_init, acc_sol = (
        ts.configs_accuracy(initial, widths, x, y),
        ts.configs_accuracy(solutions, widths, x, y),
    )
    both = np.concatenate([initial, solutions])
    is_sol = np.r_[np.zeros(len(initial), bool), np.ones(len(solutions), bool)]
    t0 = time.perf_counter()
    emb = ts.embed(both, int(tc.pca_dims), float(tc.perplexity), int(tc.seed))
    seconds = time.perf_counter() - t0
    acc = np.r_[acc_init, acc_sol]
    np.savez(
        out / "tsne.npz", embedding=emb, is_solution=is_sol, test_acc=acc, seeds=np.asarray(seeds)
    )
    fig = ts.plot_tsne(
        emb,
        is_sol,
        acc,
        out / "tsne.png",
        f"{len(solutions)} solutions vs initial, N={both.shape[1]}",
    )
    tracking.log_figure(loggers, "tsne", fig)
    metrics = {
        "n_each": float(len(solutions)),
        "acc_initial_mean": float(acc_init.mean()),
        "acc_solutions_mean": float(acc_sol.mean()),
        "overlap_initial": ts.mean_overlap(initial),
        "overlap_solutions": ts.mean_overlap(solutions),
        "knn_purity": ts.knn_purity(emb, is_sol.astype(int)),
        "tsne_seconds": seconds,
    }
    write_json(out / "metrics.json", metrics)
    tracking.log_metrics(loggers, metrics)
    print(
        "\nweightspace tsne: "
        + ", ".join(f"{k} {v:.4g}" for k, v in metrics.items())
        + f"\n  run dir: {out}"
    )
    return metrics


TASKS: dict[str, Task] = {
    "train_real": train_real,
    "double_descent": double_descent,
    "aggregate": aggregate,
    "tsne": tsne,
}
