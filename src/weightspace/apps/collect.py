"""``python train.py task=collect``: collect an ensemble of binary weight configurations
(paper Sec. II; docs/design.md §3.2) into the store at ``collect.store`` (see :mod:`weightspace.ensemble.store`).

One *trial*: fresh init from its seed, ``scenario.epochs`` epochs of mean-field training, draw
``eval.n_samples`` (10) binary nets from the final fields, keep the best if its test accuracy
reaches ``scenario.threshold``, else record the seed as rejected. Trials run E at a time as one
:class:`~weightspace.nets.module.MeanFieldNet` (rounds of E), trained with its lean fused loop
(:meth:`~weightspace.nets.module.MeanFieldNet.fit_manual`).

**Re-deriving a trial**: everything a trial draws comes from counter-based streams keyed by its
seed alone (:mod:`weightspace.nets.batches`, :mod:`weightspace.streams`), the same on every device,
so ``MeanFieldNet(arch.widths, [seed], lr, weight_decay, init_std)`` trained ``scenario.epochs``
epochs on the scenario's data (``fit_manual``, or ``Trainer.fit``) and evaluated with ``evaluate()``
reproduces the stored configuration and accuracy, whatever E and position it had and on CPU or
CUDA, up to float rounding (which can flip a borderline sample). The store records the stream
version (``stream_version`` in store.json); a store of another version is refused for appending
(its seeds would re-derive other configurations) and stays readable for fitting and landscapes.

**Processes**: ``collect.devices`` x ``collect.num_nodes`` processes are launched by Lightning Fabric
(DDP launcher and cluster detection, *no* model wrapping, so no gradient averaging: every rank
trains its own sub-ensemble). With ``collect.array_size`` = A (SLURM array tasks / independent
jobs) there are G = A x world global ranks; rank g = array_index x world + rank uses the seeds
``seed + g + k G`` (``seed_sequence``) and fills its class to its share ``rank_quota(target, g, G)``
(counting kept seeds of its residue class already in the store), so concurrent or resumed runs
reach the target without duplicating a seed, whenever each process starts.
Each process holds ``flock`` locks in files next to the store, ``<store>.G<G>.lock`` and
``<store>.g<g>of<G>.lock`` (see :func:`_lock_seeds`): a second process of the same seed class (e.g.
the same command in another shell), or a run with another G while one is active, stops with a
one-line error naming the holder's pid instead of re-running trials in flight. Concurrent runs
must use the same G (give each shell its own ``collect.array_index``). The files are removed when
the run ends; one left by ``kill -9`` holds no lock (the OS releases it) and is reused.

**Resume** verifies every shard in full first: damaged ones are moved to ``<store>/damaged/`` and
reported, and their trials run again (same seeds, same configurations), so the store then holds
exactly the configurations it reports.

**Failures** (:mod:`.ranks`): ranks die with the launcher, SIGINT/SIGTERM reach every rank (each
flushes its shard writer), a failed rank stops the others with its own one-line error; the store
and its parent must be writable before anything starts.
"""

from __future__ import annotations

import fcntl
import math
import os
import signal
import socket
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from omegaconf import DictConfig, OmegaConf  # noqa: E402
from tqdm import tqdm  # noqa: E402

from ..ensemble.store import EnsembleStore, check_writable, open_store, rank_quota, seed_sequence  # noqa: E402
from ..ensemble.summary import summarize  # noqa: E402
from ..errors import ConfigError, Interrupted, StoreError  # noqa: E402
from ..nets.module import MeanFieldNet  # noqa: E402
from ..nets.spins import n_spins  # noqa: E402
from ..streams import VERSION as STREAM_VERSION  # noqa: E402
from . import lineage, options, ranks, tracking  # noqa: E402
from .common import load_data, write_json  # noqa: E402

CPU_STEP_ROWS = 3_200  # auto E on CPU = this / batch (16 at batch 200: fastest of 16/32/64; docs/benchmarks.md)
CPU_MAX_ENSEMBLE = 256
GPU_MEMORY_FRACTION = 0.5  # share of free device memory the auto E may plan to use
MAX_ENSEMBLE = 65536


def bytes_per_network(widths: Sequence[int], batch: int, n_train: int, n_test: int = 10_000) -> int:
    """Estimated float32 working memory of one network in an ensemble: a step's noise (and its
    int64 Philox words), data order (int64, with the eager Feistel pass's temporaries), per-step
    activations and gradients, fields + Adam state, and the sampled-net evaluation."""
    w = [int(v) for v in widths]
    outs = sum(w[1:])
    noise = batch * outs * (4 + 3 * 8)
    order = n_train * (5 * 8 + 1)
    acts = sum(batch * (3 * i + 6 * o) for i, o in zip(w[:-1], w[1:])) * 4 * 2
    params = 6 * n_spins(w) * 4
    evaluation = 3 * n_test * outs * 4
    return noise + order + acts + params + evaluation


def auto_ensemble_size(
    widths: Sequence[int], batch: int, n_train: int, device: torch.device, n_test: int = 10_000
) -> int:
    """E from free device memory (CUDA: ``GPU_MEMORY_FRACTION`` of ``mem_get_info``, rounded down to
    a multiple of 64); on CPU ``CPU_STEP_ROWS / batch``, at most ``CPU_MAX_ENSEMBLE``."""
    if device.type != "cuda":
        return max(1, min(CPU_MAX_ENSEMBLE, CPU_STEP_ROWS // batch))
    free, _ = torch.cuda.mem_get_info(device)
    e = int(GPU_MEMORY_FRACTION * free // bytes_per_network(widths, batch, n_train, n_test))
    return max(1, min(MAX_ENSEMBLE, e // 64 * 64 or e))


def best_of_samples(acc: torch.Tensor, configs: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Per network, the best of K sampled nets: ``acc [K, E]``, ``configs [K, E, N]`` ->
    (accuracy ``[E]`` float32, configuration ``[E, N]`` int8 ±1)."""
    best = acc.argmax(0)
    cols = torch.arange(acc.shape[1], device=acc.device)
    return acc[best, cols].cpu().numpy().astype(np.float32), configs[best, cols].cpu().numpy().astype(np.int8)


def run_trials(
    seeds: Sequence[int],
    cfg: DictConfig,
    data: tuple[torch.Tensor, ...],
    *,
    compile: bool = False,
    on_epoch: Any = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Train one network per seed (one round) and return each one's best-of-K sampled test accuracy
    and configuration (:func:`best_of_samples`). ``data`` = (x_train, y_train, x_test, y_test) on
    the training device."""
    sc = cfg.scenario
    x, y, xt, yt = data
    model = MeanFieldNet(cfg.arch.widths, seeds, sc.lr, sc.weight_decay, sc.init_std, cfg.eval.n_samples)
    model.to(x.device)
    model.set_eval_data(xt, yt)
    model.fit_manual(x, y, sc.batch_size, sc.epochs, compile=compile, on_epoch=on_epoch)
    ev = model.evaluate(compile=compile)
    return best_of_samples(ev["acc_sampled"], ev["configs"])


def split_round(
    acc: np.ndarray, threshold: float, need: int, budget: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """Trials of a round used in seed order until ``need`` are kept or ``budget`` trials are spent:
    (kept indices, rejected indices, trials used). Unused trials are not recorded (re-run later)."""
    ok = acc >= threshold
    n_use = min(len(acc), budget)
    if need < ok[:n_use].sum():
        n_use = int(np.flatnonzero(ok)[need - 1]) + 1 if need > 0 else 0
    idx = np.arange(n_use)
    return idx[ok[:n_use]], idx[~ok[:n_use]], n_use


def plot_accuracy_histogram(acc: np.ndarray, threshold: float, path: Path, title: str) -> Path:
    """Histogram of kept accuracies with the acceptance threshold marked; written to ``path``."""
    fig, ax = plt.subplots(figsize=(5, 3.2))
    if acc.size:
        ax.hist(acc, bins=min(50, max(5, int(np.sqrt(acc.size)))), color="C0")
    ax.axvline(threshold, color="C3", ls="--", label=f"threshold {threshold:g}")
    ax.set(xlabel="test accuracy of kept configuration", ylabel="count", title=title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _own_progress(seeds: np.ndarray, base: int, g: int, world: int) -> tuple[int, int]:
    """(kept seeds of rank g's residue class, kept seeds outside every class, i.e. < base)."""
    above = seeds[seeds >= base]
    return int(np.count_nonzero((above - base) % world == g)), int(np.count_nonzero(seeds < base))


def _provenance(cfg: DictConfig) -> dict[str, Any]:
    """The run config without Hydra's own node, resolved (stored once in the store's metadata)."""
    keep = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])
    return OmegaConf.to_container(keep, resolve=True)  # type: ignore[return-value]


def _flock(path: Path, mode: int) -> Any:
    """``path`` opened and flock-ed without blocking (BlockingIOError if held); retried when a
    previous holder removed the file in between, so the lock is on the file ``path`` names."""
    while True:
        f = open(path, "a+")  # noqa: SIM115 - held for the whole collection
        try:
            fcntl.flock(f, mode | fcntl.LOCK_NB)
        except BlockingIOError:
            f.close()
            raise
        try:
            if os.stat(path).st_ino == os.fstat(f.fileno()).st_ino:
                return f
        except FileNotFoundError:
            pass
        f.close()


def _holder(path: Path) -> str:
    words = path.read_text().split() if path.is_file() else []
    return f" (pid {words[0]} on {words[1]})" if len(words) == 2 else ""


def _lock_seeds(store: Path, g: int, world: int) -> list[Any]:
    """Locks (open files; keep them, release with :func:`_unlock_seeds`) that stop two processes
    from running the same trial seeds: a shared ``flock`` on ``<store>.G<world>.lock`` (runs with
    another G active are refused) and an exclusive one on ``<store>.g<g>of<world>.lock`` (a second
    process of seed class g is refused; the file names the holder's pid)."""
    d, name = store.parent, store.name
    d.mkdir(parents=True, exist_ok=True)
    own_path = d / f"{name}.G{world}.lock"
    own = _flock(own_path, fcntl.LOCK_SH)
    for other in sorted(d.glob(f"{name}.G*.lock")):
        if other == own_path:
            continue
        try:
            stale = _flock(other, fcntl.LOCK_EX)
        except BlockingIOError:
            _unlock(own)
            raise StoreError(
                f"{other}: a collection with another number of seed classes "
                f"({other.name.split('.G')[-1][:-5]}) is writing to {store}; concurrent runs must "
                f"use the same collect.array_size x processes (this one: {world})"
            ) from None
        except FileNotFoundError:
            continue
        _unlock(stale)  # left by a killed run: nobody holds it
    path = d / f"{name}.g{g}of{world}.lock"
    try:
        cls = _flock(path, fcntl.LOCK_EX)
    except BlockingIOError:
        _unlock(own)
        raise StoreError(
            f"{path}: another process{_holder(path)} is collecting seed class {g} of {world} into "
            f"{store}; wait for it, or run this one with another collect.array_index (same collect.array_size)"
        ) from None
    cls.truncate(0)
    cls.write(f"{os.getpid()} {socket.gethostname()}\n")
    cls.flush()
    return [own, cls]


def _unlock(f: Any) -> None:
    """Release a lock from :func:`_flock`; its file is removed when no one else holds it."""
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a shared lock others still hold stays
        if os.stat(f.name).st_ino == os.fstat(f.fileno()).st_ino:
            os.unlink(f.name)
    except (BlockingIOError, FileNotFoundError):
        pass
    finally:
        f.close()


def _unlock_seeds(locks: list[Any]) -> None:
    for f in reversed(locks):
        if not f.closed:
            _unlock(f)


def _interrupted(store: Path, signum: int) -> Interrupted:
    try:
        held = f"the store {store} holds {EnsembleStore(store).count()} configurations"
    except StoreError:
        held = f"nothing was written to {store}"
    return Interrupted(f"{held} (every flushed shard is kept); rerun the same command to resume", signum)


def _fabric(cc: DictConfig) -> Any:
    from lightning.fabric import Fabric

    procs = int(cc.devices) * int(cc.num_nodes)
    strategy = "ddp" if procs > 1 else "auto"
    try:
        fabric = Fabric(accelerator=cc.accelerator, devices=cc.devices, num_nodes=cc.num_nodes, strategy=strategy)
    except Exception as e:
        if type(e).__name__ != "MisconfigurationException":
            raise
        raise ConfigError(f"collect.accelerator={cc.accelerator}, collect.devices={cc.devices}: {e}") from None
    ranks.launch(fabric)
    return fabric


def _validate(cfg: DictConfig) -> None:
    options.check(cfg, "collect.")
    cc = cfg.collect
    if not cc.array_index < cc.array_size:
        raise ConfigError(
            f"collect.array_index={cc.array_index}, array_size={cc.array_size}: need 0 <= index < size"
        )


def collect(cfg: DictConfig, out: Path) -> dict[str, float]:
    """Collect until the store at ``collect.store`` holds ``collect.target`` configurations (or the
    trial budget is spent); returns this process's metrics."""
    _validate(cfg)
    cc = cfg.collect
    store_path = Path(cc.store)
    for d in (store_path, store_path.parent):  # the store and its lock files
        check_writable(d, "collect.store")
    try:
        with ranks.lifecycle(out):
            fabric = _fabric(cc)
            rank, world = fabric.global_rank, fabric.world_size
            g, G = int(cc.array_index) * world + rank, int(cc.array_size) * world
            torch.set_num_threads(int(cc.threads or cfg.get("threads") or torch.get_num_threads()))
            locks = _lock_seeds(store_path, g, G)
            try:
                if rank != 0:  # one W&B run per job (e.g. per array task), on the job's first process
                    return _collect(cfg, out, fabric, g, G, [])
                with tracking.session(cfg) as loggers:
                    metrics = _collect(cfg, out, fabric, g, G, loggers)
                    if loggers:
                        policy = (f"trial seeds seed + g + k*G with seed={int(cfg.seed)}, G={G} seed classes "
                                  f"(collect.array_size x processes); no seed, kept or rejected, is tried twice")
                        lineage.log_ensemble(loggers, cc.store, policy)
                    return metrics
            finally:
                _unlock_seeds(locks)
    except KeyboardInterrupt as e:
        raise _interrupted(store_path, getattr(e, "signum", signal.SIGINT)) from e


def _collect(cfg: DictConfig, out: Path, fabric: Any, g: int, G: int, loggers: list) -> dict[str, float]:
    cc, sc = cfg.collect, cfg.scenario
    data = load_data(cfg)
    dev = fabric.device
    tensors = tuple(
        torch.from_numpy(a).to(dev) for a in (data.x_train, data.y_train, data.x_test, data.y_test)
    )
    store = open_store(
        cc.store, arch=cfg.arch.widths, scenario=sc.name, dataset=data.name, config=_provenance(cfg),
        stream_version=STREAM_VERSION,
    )
    good, set_aside = store.set_aside_damaged()  # resume trusts verified shards only
    for line in set_aside if ranks.rank() == 0 else []:
        print(f"collect: set aside a damaged shard, its trials will run again: {line}", flush=True)
    rec = store.records(good)
    held = rec.seed.size
    target, base = int(cc.target), int(cfg.seed)
    remaining = max(target - held, 0)
    have, extra = _own_progress(rec.seed, base, g, G)
    quota = min(max(0, rank_quota(max(0, target - extra), g, G) - have), remaining)
    budget_total = int(cc.max_trials) if cc.max_trials is not None else 10 * remaining
    budget = rank_quota(budget_total, g, G)
    tried = np.concatenate([rec.seed, rec.rejected])
    ranks.barrier(fabric)  # every rank has read the store before any rank writes to it
    e = int(cc.ensemble_size or auto_ensemble_size(cfg.arch.widths, sc.batch_size, len(data.x_train), dev))
    e = max(1, min(e, budget))
    mem = bytes_per_network(cfg.arch.widths, sc.batch_size, len(data.x_train), len(data.x_test))
    compile_ = bool(cc.compile)
    print(
        f"collect [rank {g}/{G}] {sc.name} {cfg.arch.name} -> {store.path}: store holds {held} of "
        f"{target}; this rank adds {quota} (trial budget {budget}); E={e} on {dev} "
        f"(~{mem / 2**20:.2f} MiB/network), compile={compile_}, threads={torch.get_num_threads()}",
        flush=True,
    )
    tracking.log_metrics(loggers, {"collect/ensemble_size": e, "collect/mib_per_network": mem / 2**20}, step=0)
    seeds_iter = seed_sequence(g, G, base=base, skip=tried)
    kept_acc: list[np.ndarray] = []
    n_kept = n_rej = n_tried = rnd = 0
    t_start = time.perf_counter()
    hist_png = out / ("accuracy_histogram.png" if G == 1 else f"accuracy_histogram_rank{g}.png")
    bar = tqdm(total=quota, unit="cfg", desc=f"collect r{g}", mininterval=5, disable=quota == 0)
    with bar, store.writer(f"{sc.name}-g{g}of{G}", flush_every_s=float(cc.flush_every_s)) as writer:
        while n_kept < quota and n_tried < budget:
            seeds = [next(seeds_iter) for _ in range(e)]
            t0 = time.perf_counter()

            def on_epoch(epoch: int, r: int = rnd) -> None:
                ranks.check()  # another rank stopped: stop too, with its message
                bar.set_postfix_str(f"round {r} epoch {epoch + 1}/{sc.epochs}", refresh=False)
                bar.update(0)

            acc, configs = run_trials(seeds, cfg, tensors, compile=compile_, on_epoch=on_epoch)
            keep, rej, used = split_round(acc, float(sc.threshold), quota - n_kept, budget - n_tried)
            sd = np.asarray(seeds, np.int64)
            if keep.size:
                writer.add_batch(configs[keep], acc[keep], sd[keep])
            for s in sd[rej]:
                writer.reject(int(s))
            dt = time.perf_counter() - t0
            n_kept, n_rej, n_tried, rnd = n_kept + keep.size, n_rej + rej.size, n_tried + used, rnd + 1
            kept_acc.append(acc[keep])
            bar.update(keep.size)
            tracking.log_metrics(
                loggers,
                {
                    "collect/trials_per_s": used / dt,
                    "collect/acceptance_round": keep.size / max(used, 1),
                    "collect/acceptance": n_kept / max(n_tried, 1),
                    "collect/kept": n_kept,
                    "collect/acc_mean_round": float(acc[keep].mean()) if keep.size else float("nan"),
                }
                | ({"collect/peak_mib_per_network": torch.cuda.max_memory_allocated(dev) / e / 2**20}
                   if dev.type == "cuda" else {}),
                step=rnd,
            )
            if loggers and (rnd % int(cc.plot_every) == 0):
                accs = np.concatenate(kept_acc)
                tracking.log_figure(
                    loggers, "collect/accuracy_histogram",
                    plot_accuracy_histogram(accs, sc.threshold, hist_png, f"{sc.name}: {accs.size} kept"),
                )
    wall = time.perf_counter() - t_start
    accs = np.concatenate([np.zeros(0, np.float32), *kept_acc])
    plot_accuracy_histogram(accs, sc.threshold, hist_png, f"{sc.name}: {accs.size} kept (rank {g})")
    tracking.log_figure(loggers, "collect/accuracy_histogram", hist_png)
    complete = n_kept >= quota
    metrics = {
        "kept": float(n_kept),
        "rejected": float(n_rej),
        "trials": float(n_tried),
        "acceptance": n_kept / n_tried if n_tried else float("nan"),
        "trials_per_s": n_tried / wall if n_tried else float("nan"),
        "acc_min": float(accs.min()) if accs.size else float("nan"),
        "acc_max": float(accs.max()) if accs.size else float("nan"),
        # the best-of-K sampled test accuracy, averaged over kept trials (train.py returns it to Hydra)
        "test_acc_sampled_best": float(accs.mean()) if accs.size else float("nan"),
        "ensemble_size": float(e),
        "complete": float(complete),
        "wall_seconds": wall,
    }
    write_json(out / (f"collect_rank{g}.json" if G > 1 else "collect.json"), metrics)
    tracking.log_metrics(loggers, {f"final/{k}": v for k, v in metrics.items()})
    if not complete:
        print(
            f"collect [rank {g}]: STOPPED after the trial budget of {budget} trials with {n_kept} of {quota} "
            f"configurations kept (acceptance {metrics['acceptance']:.1%} at scenario.threshold={sc.threshold}); "
            "raise collect.max_trials or lower scenario.threshold, then rerun to resume",
            flush=True,
        )
    ranks.barrier(fabric)
    if g == 0:
        line, _ = summarize(store.path)
        rate = n_tried / wall if wall > 0 and n_tried else math.nan
        print(f"{line}\n  this run: {n_tried} trials at {rate:.2f} trials/s on rank 0, run dir {out}", flush=True)
    return metrics
