"""Trials/s of the under-para collection protocol (P = 60 000, batch 200, 50 epochs): ensemble
trainer vs the single-network NumPy baseline (``numpy_baseline.py``), like for like per core.

Both sides run as ``--procs`` processes at once, one per core (``--threads`` torch threads per
ensemble process, one NumPy thread per baseline process), their rates summed, so the ratio is per
core: ``ratio_per_core = ensemble trials/s / baseline trials/s`` on the same cores. Each process
times ``--steps`` optimizer steps after a warm-up (the ensemble also after ``torch.compile``); a
trial = 50 epochs x 300 steps, so trials/s = E / (15 000 x seconds per step). The ensemble trains
on the first ``steps x batch`` examples (default 300 steps: all 60 000, as in a real collection,
since the gathers of a batch from a larger data set miss the caches more), one epoch including
its data orders; the best-of-10 evaluation (~0.1% of a trial's work) is left out of both.
``--repeats R`` alternates ensemble and baseline R times (a loaded machine drifts) and reports the
median of the R ratios; ``ratio_per_core_cpu_time`` is the same ratio from the processes' CPU time
(single-threaded processes: what the ratio would be on otherwise idle cores). The last line
printed is a JSON object with the numbers.

    .venv/bin/python benchmarks/bench_collect.py [--ensemble 16] [--procs 2] [--steps 100] [--repeats 3]
    .venv/bin/python benchmarks/bench_collect.py --device cuda          # E from free GPU memory
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # the baseline: one core
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from numpy_baseline import load_under_para, run_trial  # noqa: E402

from weightspace.apps.collect import auto_ensemble_size, bytes_per_network  # noqa: E402
from weightspace.nets.module import MeanFieldNet  # noqa: E402

WIDTHS = [20, 15, 15, 10]
BATCH, EPOCHS, P = 200, 50, 60_000
STEPS_PER_TRIAL = EPOCHS * P // BATCH


def time_baseline(data: tuple[np.ndarray, ...], steps: int) -> tuple[float, float]:
    """(wall, CPU) seconds per step of the NumPy baseline (one network, one core)."""
    run_trial(data, WIDTHS, 0, epochs=1, max_steps=20)  # warm-up
    t0, c0 = time.perf_counter(), time.process_time()
    run_trial(data, WIDTHS, 1, epochs=1, max_steps=steps, n_samples=0)
    return (time.perf_counter() - t0) / steps, (time.process_time() - c0) / steps


def time_ensemble(
    data: tuple[np.ndarray, ...], e: int, steps: int, device: str, compile: bool
) -> tuple[float, float, float]:
    """(wall and CPU seconds per step of E networks, seconds of the first epoch incl. compile) on ``device``."""
    x = torch.from_numpy(data[0][: steps * BATCH]).float().to(device)  # epoch = steps (data orders included)
    y = torch.from_numpy(data[1][: steps * BATCH]).to(device)
    model = MeanFieldNet(WIDTHS, list(range(e))).to(device)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    t0 = time.perf_counter()
    model.fit_manual(x, y, BATCH, 1, compile=compile)
    sync()
    first = time.perf_counter() - t0
    t0, c0 = time.perf_counter(), time.process_time()
    model.fit_manual(x, y, BATCH, 1, compile=compile)
    sync()
    return (time.perf_counter() - t0) / steps, (time.process_time() - c0) / steps, first


def _worker(args: tuple) -> list[tuple]:
    """One process: ``repeats`` x (ensemble, baseline) in lock-step with the other processes."""
    e, steps, device, compile, threads, repeats, baseline, barrier = args
    torch.set_num_threads(threads)
    data = load_under_para()
    out = []
    for _ in range(repeats):
        barrier.wait()
        out.append(("ensemble", *time_ensemble(data, e, steps, device, compile)))
        if baseline:
            torch.set_num_threads(1)
            barrier.wait()
            out.append(("baseline", *time_baseline(data, steps), 0.0))
            torch.set_num_threads(threads)
    return out


class _NoBarrier:
    def wait(self) -> None:
        pass


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ensemble", type=int, default=None, help="E (default: auto from device memory)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per ensemble process")
    ap.add_argument("--procs", type=int, default=1, help="processes per side run at once (one per core)")
    ap.add_argument("--steps", type=int, default=P // BATCH, help="timed optimizer steps (default: one epoch)")
    ap.add_argument("--repeats", type=int, default=1, help="alternations ensemble/baseline (median ratio)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--skip-baseline", action="store_true")
    args = ap.parse_args()
    cuda = args.device.startswith("cuda")
    procs = 1 if cuda else args.procs
    e = args.ensemble or auto_ensemble_size(WIDTHS, BATCH, P, torch.device(args.device))
    mem = bytes_per_network(WIDTHS, BATCH, P)
    compile = not args.no_compile
    load0 = os.getloadavg()
    job = [e, args.steps, args.device, compile, args.threads, args.repeats, not args.skip_baseline]
    if procs == 1:
        rows = [_worker((*job, _NoBarrier()))]
    else:
        ctx = mp.get_context("spawn")
        barrier = ctx.Manager().Barrier(procs)
        with ctx.Pool(procs) as pool:
            rows = pool.map(_worker, [(*job, barrier)] * procs)
    ens_rates, base_rates, cpu_ratios = [], [], []
    for r in range(args.repeats):  # per repeat: rates summed over the processes
        per_rep = [proc[r * (1 + (not args.skip_baseline)) :][: 1 + (not args.skip_baseline)] for proc in rows]
        ens_rates.append(sum(e / (STEPS_PER_TRIAL * rep[0][1]) for rep in per_rep))
        for p, rep in enumerate(per_rep):
            step, first = rep[0][1], rep[0][3]
            print(
                f"repeat {r} process {p}: ensemble ({args.device}, {args.threads} thread(s), E={e}, compile={compile}) "
                f"{step * 1e3:.2f} ms/step = {step / e * 1e6:.1f} us per network-step, CPU {rep[0][2] / e * 1e6:.1f} "
                f"(first epoch {first:.1f} s)"
                + (f"; baseline {rep[1][1] * 1e3:.3f} ms/step, CPU {rep[1][2] * 1e3:.3f}" if len(rep) > 1 else "")
            )
        if not args.skip_baseline:
            base_rates.append(sum(1 / (STEPS_PER_TRIAL * rep[1][1]) for rep in per_rep))
            cpu_ratios.append(sum(e / rep[0][2] for rep in per_rep) / sum(1 / rep[1][2] for rep in per_rep))
    if cuda:
        peak = torch.cuda.max_memory_allocated() / e
        print(f"  measured peak GPU memory {peak / 2**20:.2f} MiB/network (estimated {mem / 2**20:.2f})")
    ratios = [a / b for a, b in zip(ens_rates, base_rates)]
    best = sorted(range(len(ratios)), key=ratios.__getitem__)[(len(ratios) - 1) // 2] if ratios else 0
    ens = ens_rates[best] if ratios else statistics.median(ens_rates)  # the repeat of the median ratio
    for r, (a, b) in enumerate(zip(ens_rates, base_rates)):
        print(f"repeat {r}: ensemble {a:.3f} trials/s, baseline {b:.4f} trials/s on {procs} core(s): {a / b:.2f}x")
    result = {
        "ratio_per_core": round(ratios[best], 3) if ratios else None,
        "ratios": [round(v, 3) for v in ratios],
        # the same from CPU time (each process is single-threaded): robust to other jobs sharing the cores
        "ratio_per_core_cpu_time": round(statistics.median(cpu_ratios), 3) if cpu_ratios else None,
        "ratios_cpu_time": [round(v, 3) for v in cpu_ratios],
        "trials_per_s": round(ens, 4),
        "baseline_trials_per_s": round(base_rates[best], 5) if ratios else None,
        "procs": procs,
        "threads": args.threads,
        "ensemble": e,
        "device": args.device,
        "compile": compile,
        "steps": args.steps,
        "repeats": args.repeats,
        "loadavg_before_after": [round(load0[0], 2), round(os.getloadavg()[0], 2)],
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
