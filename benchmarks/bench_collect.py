"""Trials/s of the under-para collection protocol (P = 60 000, batch 200, 50 epochs): ensemble
trainer vs the single-network NumPy baseline (``numpy_baseline.py``), timed in the same run.

Both are timed over ``--steps`` optimizer steps after a warm-up (and, for the ensemble, after
``torch.compile``); a trial = 50 epochs x 300 steps, so trials/s = E / (15 000 x seconds per step);
the best-of-10 evaluation (~0.1% of a trial's work) is left out of both. The baseline runs on
one core, as the paper's authors ran it; the ensemble runs ``--procs`` processes at once (one per
core, ``--threads`` each, the way ``collect.devices=2`` runs on CPU) and their rates are summed.

    .venv/bin/python benchmarks/bench_collect.py [--ensemble 64] [--procs 2] [--steps 60]
    .venv/bin/python benchmarks/bench_collect.py --device cuda          # E from free GPU memory
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time

import numpy as np
import torch
from numpy_baseline import load_under_para, run_trial

from weightspace.apps.collect import auto_ensemble_size, bytes_per_network
from weightspace.nets.module import MeanFieldNet

WIDTHS = [20, 15, 15, 10]
BATCH, EPOCHS, P = 200, 50, 60_000
STEPS_PER_TRIAL = EPOCHS * P // BATCH


def time_baseline(data: tuple[np.ndarray, ...], steps: int) -> float:
    """Seconds per step of the NumPy baseline (one network, one core)."""
    run_trial(data, WIDTHS, 0, epochs=1, max_steps=20)  # warm-up
    t0 = time.perf_counter()
    run_trial(data, WIDTHS, 1, epochs=1, max_steps=steps, n_samples=0)
    return (time.perf_counter() - t0) / steps


def time_ensemble(data: tuple[np.ndarray, ...], e: int, steps: int, device: str, compile: bool) -> tuple[float, float]:
    """(seconds per step of E networks, seconds of the first epoch incl. compile) on ``device``."""
    x = torch.from_numpy(data[0][: steps * BATCH]).float().to(device)
    y = torch.from_numpy(data[1][: steps * BATCH]).to(device)
    model = MeanFieldNet(WIDTHS, list(range(e))).to(device)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    t0 = time.perf_counter()
    model.fit_manual(x, y, BATCH, 1, compile=compile)
    sync()
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    model.fit_manual(x, y, BATCH, 1, compile=compile)
    sync()
    return (time.perf_counter() - t0) / steps, first


def _worker(args: tuple) -> tuple[float, float]:
    e, steps, device, compile, threads, barrier = args
    torch.set_num_threads(threads)
    data = load_under_para()
    barrier.wait()
    return time_ensemble(data, e, steps, device, compile)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ensemble", type=int, default=None, help="E (default: auto from device memory)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per process")
    ap.add_argument("--procs", type=int, default=1, help="ensemble processes run at once (CPU)")
    ap.add_argument("--steps", type=int, default=60, help="timed optimizer steps")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--skip-baseline", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = load_under_para()
    e = args.ensemble or auto_ensemble_size(WIDTHS, BATCH, P, torch.device(args.device))
    mem = bytes_per_network(WIDTHS, BATCH, P)
    if args.procs == 1:
        results = [time_ensemble(data, e, args.steps, args.device, not args.no_compile)]
    else:
        ctx = mp.get_context("spawn")
        barrier = ctx.Manager().Barrier(args.procs)
        job = (e, args.steps, args.device, not args.no_compile, args.threads, barrier)
        with ctx.Pool(args.procs) as pool:
            results = pool.map(_worker, [job] * args.procs)
    ens = sum(e / (STEPS_PER_TRIAL * step) for step, _ in results)
    for step, first in results:
        print(
            f"ensemble process ({args.device}, {args.threads} thread(s), E={e}, compile={not args.no_compile}): "
            f"{step * 1e3:.2f} ms/step = {step / e * 1e6:.1f} us per network-step "
            f"(first epoch incl. compile {first:.1f} s)"
        )
    print(
        f"ensemble total: {args.procs} process(es) x E={e} -> {ens:.3f} trials/s; "
        f"est. memory {mem / 2**20:.2f} MiB/network"
    )
    if args.device.startswith("cuda"):
        peak = torch.cuda.max_memory_allocated() / e
        print(f"  measured peak GPU memory {peak / 2**20:.2f} MiB/network; {ens * 3600:.0f} trials/hour")
    if not args.skip_baseline:
        torch.set_num_threads(1)
        b = time_baseline(data, args.steps)
        base = 1 / (STEPS_PER_TRIAL * b)
        print(
            f"numpy baseline (1 network, float64, 1 core): {b * 1e3:.3f} ms/step = {b * 300:.3f} s/epoch "
            f"-> {base:.4f} trials/s\nratio ensemble/baseline: {ens / base:.1f}x"
        )


if __name__ == "__main__":
    main()
