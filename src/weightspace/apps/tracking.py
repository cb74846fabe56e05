"""Experiment tracking shared by every entry point (the one W&B-facing module).

Loggers are Lightning logger objects built from the ``logger`` config group (``wandb`` offline by
default, ``csv``, ``none``), so Lightning training and the plain NumPy analyses log the same way.
An app opens them with :func:`session`, which names the W&B run after the Hydra job
(:func:`run_identity`: group = the multirun, name = the job's overrides, ``job_type`` = the task,
tags = experiment, scenario, arch, method / analyses), puts the resolved config, the Hydra
overrides and group choices into the run config, and closes the run with the exit code of what
happened inside (non-zero when it raised: W&B shows the run as failed, and everything logged
so far is flushed).

Lineage (see ``docs/design.md``, "Experiment tracking"): :func:`declare_inputs` records the
artifacts a run read in its config (``inputs``) and, online, calls ``use_artifact`` on them;
:func:`log_artifact` logs outputs, aliased by the digest of their content.
"""

from __future__ import annotations

import csv
import math
import signal
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from lightning.pytorch.loggers import Logger, WandbLogger
from omegaconf import DictConfig, OmegaConf

IDENTITY_KEYS = ("group", "name", "job_type", "tags")


def hydra_job() -> dict[str, Any]:
    """The Hydra job of this process: mode, overrides, group choices, and in a multirun the sweep dir
    and job number (empty when no Hydra config is set)."""
    if not HydraConfig.initialized():
        return {}
    hc = HydraConfig.get()
    multirun = hc.mode == RunMode.MULTIRUN
    job = {
        "mode": "multirun" if multirun else "run",
        "overrides": list(hc.overrides.task),
        "choices": {k: v for k, v in OmegaConf.to_container(hc.runtime.choices).items()
                    if not str(k).startswith("hydra/")},
        "override_dirname": str(OmegaConf.select(hc, "job.override_dirname", default="", throw_on_missing=False)),
    }
    if multirun:
        job["sweep_dir"] = str(hc.sweep.dir)
        num = OmegaConf.select(hc, "job.num", throw_on_missing=False)
        if num is not None:  # None in the sweep's own callbacks (e.g. the aggregation run)
            job["num"] = int(num)
    return job


def run_identity(cfg: DictConfig) -> dict[str, Any]:
    """W&B group, name, job_type and tags of the run of ``cfg`` (module docstring). The group of a
    multirun job is ``<app>-sweep-<sweep dir name>``, shared by every job of that sweep (also
    when an array launcher runs them as separate processes); a single run has no group."""
    job = hydra_job()
    task = str(cfg.get("task") or cfg.get("app") or "run")
    scenario = str(OmegaConf.select(cfg, "scenario.name", default="") or "")
    arch = str(OmegaConf.select(cfg, "arch.name", default="") or "")
    base = "-".join(p for p in (task, scenario, arch) if p)
    group = f"{cfg.get('app', task)}-sweep-{Path(job['sweep_dir']).name}" if "sweep_dir" in job else None
    overrides = job.get("override_dirname", "")
    if "num" in job:
        name = f"{job['num']}:{overrides or base}"
    else:
        name = f"{base} {overrides}" if overrides else (f"{base} sweep" if group else base)
    choices = job.get("choices", {})
    tags = [str(choices["experiment"])] if choices.get("experiment") else []
    tags += [t for t in (scenario, arch, cfg.get("method")) if t]
    tags += [f"analysis:{a}" for a in (cfg.get("analysis") or {})]
    return {"group": group, "name": name, "job_type": task, "tags": [t[:64] for t in tags]}


def make_loggers(logger_cfg: DictConfig | None, identity: Mapping[str, Any] | None = None) -> list[Logger]:
    """Instantiate every ``_target_`` node under the ``logger`` config; a W&B logger's ``name``,
    ``group``, ``job_type`` and ``tags`` left null in the config come from ``identity``."""
    if not logger_cfg:
        return []
    loggers = []
    for node in logger_cfg.values():
        if "_target_" not in node:
            continue
        fill = {}
        if "WandbLogger" in str(node._target_) and identity:
            fill = {k: identity[k] for k in IDENTITY_KEYS if node.get(k) is None and identity.get(k) is not None}
        loggers.append(hydra.utils.instantiate(node, **fill))
    return loggers


def config_params(cfg: DictConfig) -> dict[str, Any]:
    """The run config as logged: the resolved config without Hydra's node, plus ``hydra_job``."""
    params = {k: OmegaConf.to_container(v, resolve=True) if isinstance(v, DictConfig) else v
              for k, v in cfg.items() if k != "hydra"}
    job = hydra_job()
    if job:
        params["hydra_job"] = job
    return params


def log_config(loggers: list[Logger], cfg: DictConfig) -> None:
    params = config_params(cfg)
    for lg in loggers:
        lg.log_hyperparams(params)


def exit_code(exc: BaseException | None) -> int:
    """The process exit code that ``exc`` stands for (0 without one; 128 + signal number when
    interrupted: 130 for Ctrl-C; a :class:`~weightspace.errors.WeightspaceError`'s ``exit_code``,
    e.g. 2 for a usage error; else 1), as :mod:`weightspace.apps.boundary` will exit."""
    if exc is None:
        return 0
    if isinstance(exc, SystemExit):
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    if isinstance(exc, KeyboardInterrupt):
        return 128 + int(getattr(exc, "signum", signal.SIGINT))
    return int(getattr(exc, "exit_code", 1))


def finish(loggers: list[Logger], code: int = 0) -> None:
    """Flush every logger and close the W&B run with exit code ``code`` (non-zero: the run is shown
    as failed; what was logged is kept). Always call it, e.g. through :func:`session`."""
    for lg in loggers:
        lg.finalize("success" if code == 0 else "failed")
        if isinstance(lg, WandbLogger) and lg._experiment is not None:
            lg._experiment.finish(exit_code=code)


@contextmanager
def finishing(loggers: list[Logger]) -> Iterator[list[Logger]]:
    """Scope of a run's loggers: closed by :func:`finish` on the way out, with the exit code of
    what left the block (Ctrl-C included: the run is marked failed), re-raising it."""
    try:
        yield loggers
    except BaseException as exc:
        finish(loggers, exit_code(exc))
        raise
    finish(loggers)


@contextmanager
def session(cfg: DictConfig) -> Iterator[list[Logger]]:
    """The loggers of one app run: made from ``cfg.logger`` with :func:`run_identity`, given the
    config, and closed by :func:`finishing`."""
    loggers = make_loggers(cfg.get("logger"), run_identity(cfg))
    with finishing(loggers):
        log_config(loggers, cfg)
        yield loggers


def log_metrics(loggers: list[Logger], metrics: Mapping[str, float], step: int | None = None) -> None:
    clean = {k: float(v) for k, v in metrics.items()}
    for lg in loggers:
        lg.log_metrics(clean, step=step)


def scalars(d: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """The int / float / bool entries of ``d`` (e.g. a fit's per-part results) as floats, keys
    prefixed; arrays, strings and nested values are left out."""
    return {f"{prefix}{k}": float(v) for k, v in d.items()
            if isinstance(v, int | float | bool) or (hasattr(v, "ndim") and v.ndim == 0 and v.dtype.kind in "biuf")}


def log_figure(loggers: list[Logger], key: str, path: str | Path) -> None:
    """Send a PNG already written under the run dir to the loggers that show images."""
    for lg in loggers:
        if isinstance(lg, WandbLogger):
            lg.log_image(key=key, images=[str(path)])


def log_table(loggers: list[Logger], key: str, rows: list[Mapping[str, Any]], path: str | Path | None) -> None:
    """Write ``rows`` as CSV at ``path`` (unless None) and log them as a W&B table (same key in
    several runs: W&B overlays them in one chart)."""
    if not rows:
        return
    cols = list(rows[0].keys())
    if path is not None:
        with open(path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=cols)
            w.writeheader()
            w.writerows(rows)
    for lg in loggers:
        if isinstance(lg, WandbLogger):
            lg.log_table(key=key, columns=cols, data=[[r[c] for c in cols] for r in rows])


def log_curves(loggers: list[Logger], key: str, curves: Mapping[str, Sequence[float]], x: str = "step") -> None:
    """Log series of equal length (e.g. a learning trace) as one W&B line chart against their index."""
    wandb_loggers = [lg for lg in loggers if isinstance(lg, WandbLogger)]
    if not wandb_loggers or not curves:
        return
    import wandb

    names = list(curves)
    ys = [[float(v) for v in curves[n]] for n in names]
    chart = wandb.plot.line_series(xs=list(range(len(ys[0]))), ys=ys, keys=names, title=key, xname=x)
    for lg in wandb_loggers:
        lg.experiment.log({key: chart})


def log_artifact(
    loggers: list[Logger],
    name: str,
    kind: str,
    files: Sequence[str | Path],
    metadata: Mapping[str, Any],
    *,
    references: Sequence[tuple[str, str]] = (),
    aliases: Sequence[str] = (),
    root: Path | None = None,
) -> None:
    """Log ``files`` (copied; named by their path relative to ``root``, else their file name) and
    ``references`` ((uri, name in the artifact), not copied) as one W&B artifact version with
    ``metadata`` and ``aliases`` besides ``latest``."""
    for lg in loggers:
        if isinstance(lg, WandbLogger):
            import wandb

            meta = {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in metadata.items()}
            art = wandb.Artifact(name=name, type=kind, metadata=meta)
            for p in files:
                art.add_file(str(p), name=str(Path(p).relative_to(root)) if root else Path(p).name)
            for uri, ref_name in references:
                art.add_reference(uri, name=ref_name, checksum=False)
            lg.experiment.log_artifact(art, aliases=["latest", *aliases])


def declare_inputs(loggers: list[Logger], inputs: Mapping[str, Mapping[str, Any]]) -> None:
    """Record the artifacts this run read (``inputs``: label -> name, type, digest, alias, path) in
    its config; online, also declare them with ``use_artifact`` (W&B refuses it offline: the
    lineage command declares them after ``wandb sync``, see :mod:`weightspace.apps.lineage`)."""
    if not inputs:
        return
    record = {k: dict(v) for k, v in inputs.items()}
    for lg in loggers:
        if isinstance(lg, WandbLogger):
            run = lg.experiment
            run.config.update({"inputs": record}, allow_val_change=True)
            if not run.offline:
                for v in record.values():
                    try:
                        run.use_artifact(f"{v['name']}:{v['alias']}")
                    except Exception as exc:  # noqa: BLE001 - e.g. the producer was never synced
                        print(f"W&B: could not declare input {v['name']}:{v['alias']} ({exc}); "
                              "declare it later with `python -m weightspace.apps.lineage`")
        else:
            lg.log_hyperparams({"inputs": record})
