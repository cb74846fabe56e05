"""Lineage of the pipeline: ensemble store -> fitted Ising models -> landscapes, in files and in W&B.

**Artifacts** (why this layout: ``docs/design.md``, "Experiment tracking and lineage"):

- ``ensemble-<store dir name>``, type ``ensemble``: ``store.json`` plus a reference (not a copy)
  to each complete shard of the store; metadata: configurations, trials, acceptance, accuracy
  range, seeds policy, the store's identity and digest. Logged by ``collect`` at its end.
- ``ising-<scenario>-<arch>-<method>-<part>``, type ``ising-model``: one artifact per part, holding
  ``model_<part>.npz``; metadata: the part's errors and the ensemble it came from.
- ``landscape-<scenario>-<arch>``, type ``landscape``: the ``landscape.npz`` files of one run.

Every version carries the alias ``sha-<16 hex>`` of a digest of its content that needs no W&B
(:func:`store_digest`, :func:`file_digest`), so a consumer knows the exact version it read from the
file alone. Each output file carries the digest of its input (``ensemble_digest`` in the model
file, ``model_digest`` in ``landscape.npz``) and each run records its inputs (name, type, digest,
alias, path) in its config under ``inputs``.

W&B refuses ``use_artifact`` offline, so the graph edges are declared after the fact by this
module's command, once online::

    python -m weightspace.apps.lineage outputs/            # wandb sync each offline run, producers
                                                           # first, then declare its recorded inputs
    python -m weightspace.apps.lineage --dry-run outputs/  # print the plan only
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..ensemble.store import EnsembleStore
from . import tracking
from .wandb_offline import OfflineRun, find_runs, read_run

ENSEMBLE, MODEL, LANDSCAPE = "ensemble", "ising-model", "landscape"


def file_digest(path: str | Path) -> str:
    """SHA-256 (hex) of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def store_digest(path: str | Path) -> str:
    """Digest of an ensemble store's content (:meth:`~weightspace.ensemble.store.EnsembleStore.digest`)."""
    return EnsembleStore(path).digest()


def alias(digest: str) -> str:
    """The W&B alias of the artifact version whose content has ``digest``."""
    return f"sha-{digest[:16]}"


def ensemble_name(store: str | Path) -> str:
    return f"ensemble-{Path(store).resolve().name}"


def model_name(scenario: str, arch: str, method: str, part: str) -> str:
    return f"ising-{scenario}-{arch}-{method}-{part}"


def landscape_name(scenario: str, arch: str) -> str:
    return f"landscape-{scenario}-{arch}"


def ensemble_input(store: str | Path, digest: str | None = None) -> dict[str, Any]:
    """The ``inputs`` record of a run that read the store at ``store``."""
    d = digest or store_digest(store)
    return {"name": ensemble_name(store), "type": ENSEMBLE, "digest": d, "alias": alias(d),
            "path": str(Path(store).resolve())}


def model_input(path: str | Path) -> dict[str, Any]:
    """The ``inputs`` record of a run that read the model file ``path`` (its artifact name is
    stored in the file by ``fit_ising``; older files get a name from their method and part)."""
    with np.load(path, allow_pickle=False) as z:
        name = str(z["artifact"]) if "artifact" in z.files else \
            f"ising-{z['method'] if 'method' in z.files else 'unknown'}-{z['part'] if 'part' in z.files else 'full'}"
    d = file_digest(path)
    return {"name": name, "type": MODEL, "digest": d, "alias": alias(d), "path": str(Path(path).resolve())}


def log_ensemble(loggers: list, store: str | Path, seeds_policy: str) -> dict[str, Any]:
    """Log the store as an ``ensemble`` artifact (module docstring); returns its metadata."""
    st = EnsembleStore(store)
    shards = st.shard_paths()
    rec = st.records()
    kept, rejected = int(rec.seed.size), int(rec.rejected.size)
    digest = st.digest()
    meta = {
        "configurations": kept, "trials": kept + rejected,
        "acceptance": kept / (kept + rejected) if kept + rejected else float("nan"),
        "acc_min": float(rec.acc.min()) if kept else float("nan"),
        "acc_max": float(rec.acc.max()) if kept else float("nan"),
        "acc_mean": float(np.mean(rec.acc, dtype=np.float64)) if kept else float("nan"),
        "seeds_policy": seeds_policy, "shards": len(shards), "digest": digest,
        **{k: st.meta[k] for k in ("arch", "n_spins", "scenario", "dataset") if k in st.meta},
        "path": str(st.path.resolve()),
    }
    refs = [(p.resolve().as_uri(), f"shards/{p.name}") for p in shards]
    tracking.log_artifact(loggers, ensemble_name(store), ENSEMBLE, [st.path / "store.json"], meta,
                          references=refs, aliases=[alias(digest)])
    return meta


# ---- after the fact: sync offline runs and declare their inputs --------------------------------------------


@dataclass
class SyncStep:
    """One offline run to upload, and the ``name:alias`` artifact references to declare as its inputs."""

    run_dir: Path
    run: OfflineRun
    declare: list[str] = field(default_factory=list)


def plan(*roots: str | Path) -> list[SyncStep]:
    """Every offline run under ``roots``, ordered so that a run producing an artifact version that
    another run records as input comes first (ties: directory order)."""
    dirs = find_runs(*roots)
    runs = [read_run(d) for d in dirs]
    steps = [SyncStep(d, r, [f"{v['name']}:{v['alias']}" for v in r.inputs.values()]) for d, r in zip(dirs, runs)]
    produced = {f"{a['name']}:{al}": i for i, r in enumerate(runs) for a in r.artifacts for al in a["aliases"]}
    before = {i: {produced[ref] for ref in s.declare if ref in produced} - {i} for i, s in enumerate(steps)}
    order: list[int] = []
    while len(order) < len(steps):
        ready = [i for i in range(len(steps)) if i not in order and before[i] <= set(order)]
        if not ready:  # a cycle cannot come from real runs; keep directory order for the rest
            ready = [i for i in range(len(steps)) if i not in order]
        order.append(ready[0])
    return [steps[i] for i in order]


def wandb_sync(run_dir: Path, project: str | None, entity: str | None) -> None:
    """``wandb sync`` one offline run dir (raises when it fails)."""
    cmd = ["wandb", "sync", str(run_dir)] + (["--project", project] if project else []) + \
        (["--entity", entity] if entity else [])
    subprocess.run(cmd, check=True)


def use_artifacts(run: OfflineRun, refs: Sequence[str], project: str | None, entity: str | None) -> None:
    """Resume the synced run and declare ``refs`` as its inputs; close it with its own exit code."""
    import wandb

    resumed = wandb.init(id=run.run_id, project=project or run.project, entity=entity or run.entity or None,
                         resume="must")
    try:
        for ref in refs:
            resumed.use_artifact(ref)
    finally:
        resumed.finish(exit_code=run.exit_code or 0)


def execute(
    steps: Sequence[SyncStep],
    sync: Callable[[Path], None],
    declare: Callable[[OfflineRun, Sequence[str]], None],
) -> None:
    for s in steps:
        sync(s.run_dir)
        if s.declare:
            declare(s.run, s.declare)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m weightspace.apps.lineage",
                                description="wandb sync offline runs (producers first) and declare their recorded "
                                            "inputs with use_artifact, so W&B shows the lineage ensemble -> fit -> "
                                            "landscape. Needs `wandb login`.")
    p.add_argument("roots", nargs="+", help="directories searched for wandb/offline-run-* (e.g. outputs)")
    p.add_argument("--dry-run", action="store_true", help="print what would be synced and declared")
    p.add_argument("--project", help="W&B project (default: the one each run was logged with)")
    p.add_argument("--entity", help="W&B entity (default: yours)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    steps = plan(*args.roots)
    if not steps:
        print(f"no offline W&B runs under {', '.join(args.roots)}", file=sys.stderr)
        return 1
    for s in steps:
        inputs = f"  inputs: {', '.join(s.declare)}" if s.declare else ""
        print(f"{s.run_dir}  [{s.run.job_type} {s.run.name}]{inputs}")
    if not args.dry_run:
        execute(steps, lambda d: wandb_sync(d, args.project, args.entity),
                lambda r, refs: use_artifacts(r, refs, args.project, args.entity))
    return 0


if __name__ == "__main__":
    sys.exit(main())
