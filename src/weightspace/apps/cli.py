"""The apps' command line, read the way Hydra reads it.

``python <app>.py [flags] [overrides]`` is parsed with Hydra's own argument parser
(:func:`parse`), so every Hydra flag (``--cfg job``, ``-c job``, ``--info defaults``, ``-cn``,
``-cp``, ``-cd``, ``--resolve``, ``--package``, ``-m``, ...) means what Hydra says and reaches
Hydra untouched. Before Hydra runs, :func:`check` looks at every job the command would run --
one for a plain run; with ``-m`` each job of the sweep, expanded as Hydra's basic sweeper does
(``key=a,b``, ``range()``, ``choice()``, ``glob()``, group sweeps, and the ``hydra.sweeper.params``
an experiment brings) -- and returns the first problem as one line:

- an ``experiment=`` that belongs to another app (its ``app`` key), naming the right command;
- a group option that does not exist (``analysis=entropi``), naming the options;
- a key the config does not have (``scenario.epoch``), naming the valid keys at that level;
- a value outside an app's ``choices`` (``method=bethee``), naming the valid values;
- a sweep (``key=a,b``) without ``-m``.

Every job is composed in full: its group options once per distinct combination (cached for the
process), then its other overrides applied to a copy the way Hydra applies them -- a fraction of
the cost of Hydra composing each job from scratch. :func:`job_configs` returns those configs.
"""

from __future__ import annotations

import argparse
import copy
import functools
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from hydra._internal.config_loader_impl import ConfigLoaderImpl
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra._internal.utils import create_automatic_config_search_path, get_args_parser
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

# key -> allowed values, or a function of the composed config giving them (e.g. the parts of an arch)
Choices = Mapping[str, Sequence[str] | Callable[[DictConfig], Sequence[str]]]

BACKENDS = ("auto", "numpy", "cupy")
_NO_CHECK_FLAGS = ("help", "hydra_help", "shell_completion", "experimental_rerun")


def parse(argv: Sequence[str]) -> argparse.Namespace:
    """``argv`` (without the program name) read by Hydra's own parser (exits 2 on a bad flag, as Hydra)."""
    return get_args_parser().parse_args(list(argv))


def config_loader(args: argparse.Namespace, conf_dir: Path) -> ConfigLoaderImpl:
    """Hydra's config loader with the search path the app will use (``-cp`` / ``-cd`` included)."""
    path = args.config_path if args.config_path is not None else str(conf_dir)
    extra = None if args.config_dir is None else os.path.abspath(args.config_dir)
    return _loader(path, extra)


@functools.lru_cache(maxsize=8)
def _loader(path: str, config_dir: str | None) -> ConfigLoaderImpl:
    search_path = create_automatic_config_search_path(__file__, None, path)
    if config_dir is not None:
        search_path.prepend(provider="command-line", path=f"file://{config_dir}")
    return ConfigLoaderImpl(config_search_path=search_path)


def _one_line(exc: BaseException) -> str:
    return " ".join(line.strip() for line in str(exc).splitlines() if line.strip())


def expand_jobs(loader: ConfigLoaderImpl, config_name: str, overrides: list[str]) -> list[list[str]]:
    """The override lists of the jobs of a multirun, as Hydra's basic sweeper makes them (the
    ``hydra.sweeper.params`` of the composed config first, then the command line). With another
    sweeper, or a sweep the basic sweeper does not expand (``interval()``), one job with each
    sweep's key only (its values are the sweeper's business)."""
    params: list[str] = []
    try:
        master = loader.load_configuration(config_name, overrides, RunMode.MULTIRUN)
        sweeper = master.hydra.get("sweeper") or {}
        if "BasicSweeper" not in str(sweeper.get("_target_", "")):
            return [_keys_only(overrides)]
        params = [f"{k}={v}" for k, v in (sweeper.get("params") or {}).items()]
    except Exception:  # noqa: BLE001 - the per-job check reports it in its own words
        pass
    parsed = OverridesParser.create(config_loader=loader).parse_overrides(params + overrides)
    if any(o.is_sweep_override() and not o.is_discrete_sweep() for o in parsed):
        return [_keys_only(params + overrides)]
    return [list(job) for job in BasicSweeper.split_arguments(parsed, None)[0]]


def _keys_only(overrides: list[str]) -> list[str]:
    """Overrides with every sweep replaced by nothing but its key's first discrete value, if any."""
    out = []
    for o in OverridesParser.create().parse_overrides(overrides):
        if not o.is_sweep_override():
            out.append(o.input_line)
        elif o.is_discrete_sweep():
            out.append(f"{o.get_key_element()}={next(iter(o.sweep_string_iterator()))}")
    return out


_COMPOSED: dict[tuple[int, str, tuple[str, ...]], DictConfig | str] = {}  # per loader, config, group options


class _Checker:
    """Checks job override lists against one primary config (compositions of group options are
    cached for the process: the config files do not change while it runs)."""

    def __init__(self, loader: ConfigLoaderImpl, config_name: str, choices: Choices) -> None:
        self.loader, self.config_name, self.choices = loader, config_name, choices
        primary = loader.repository.load_config(config_name)
        self.app = str((primary.config if primary else {}).get("app", config_name))

    def is_group(self, key: str) -> bool:
        return self.loader.repository.group_exists(key)

    def experiment_app(self, name: str) -> str | None:
        found = self.loader.repository.load_config(f"experiment/{name}")
        return None if found is None else found.config.get("app")

    def compose(self, group_overrides: tuple[str, ...]) -> DictConfig | str:
        key = (id(self.loader), self.config_name, group_overrides)
        if key not in _COMPOSED:
            try:
                _COMPOSED[key] = self.loader.load_configuration(self.config_name, list(group_overrides), RunMode.RUN)
            except Exception as exc:  # noqa: BLE001 - Hydra's own message, on one line
                _COMPOSED[key] = _one_line(exc)
        return _COMPOSED[key]

    def group_option(self, o: Override) -> str | None:
        """A group override naming options the group does not have, or an experiment of another app."""
        if o.is_delete():
            return None
        group = o.key_or_group
        value = o.value()
        values = value if isinstance(value, list) else [value]
        options = self.loader.get_group_options(group)
        bad = [v for v in values if isinstance(v, str) and v not in options]
        if bad:
            return f"{group}={bad[0]}: no such option; choose one of {', '.join(sorted(options))}"
        if group == "experiment" and isinstance(value, str):
            owner = self.experiment_app(value)
            if owner is not None and owner != self.app:
                return (f"experiment={value} belongs to {owner}.py, not {self.app}.py: run "
                        f"`python {owner}.py experiment={value}`")
        return None

    def job_config(self, job: list[str]) -> DictConfig | str:
        """The composed config of one job (group options composed, then the other overrides applied
        as Hydra applies them), or the first problem as one line."""
        parsed = OverridesParser.create().parse_overrides(job)
        groups = [o for o in parsed if self.is_group(o.key_or_group)]
        plain = [o for o in parsed if not self.is_group(o.key_or_group)]
        for o in groups:
            problem = self.group_option(o)
            if problem:
                return problem
        base = self.compose(tuple(o.input_line for o in groups))
        if isinstance(base, str):
            return base
        for o in plain:
            if not (o.key_or_group.startswith("hydra") or o.is_add() or o.is_delete()):
                problem = unknown_key(base, o.key_or_group)
                if problem:
                    return problem
        cfg = copy.deepcopy(base)
        try:
            ConfigLoaderImpl._apply_overrides_to_config(plain, cfg)
        except Exception as exc:  # noqa: BLE001 - e.g. a bad deletion: Hydra's message
            return _one_line(exc)
        for key, allowed in self.choices.items():
            problem = check_choice(cfg, key, allowed)
            if problem:
                return problem
        return cfg


def unknown_key(cfg: DictConfig, key: str) -> str | None:
    """A one-line message when ``key`` (dotted) is not in ``cfg``; leaves are not read (they may
    interpolate ``${hydra:...}``)."""
    node: Any = cfg
    parts = key.split(".")
    for depth, part in enumerate(parts):
        if not isinstance(node, DictConfig) or part not in node:
            where = ".".join(parts[:depth]) or "<top level>"
            valid = sorted(map(str, node.keys())) if isinstance(node, DictConfig) else []
            return f"unknown config key '{key}': valid keys under {where} are {', '.join(valid)}"
        if depth < len(parts) - 1:
            node = node[part]
    return None


def check_choice(
    cfg: DictConfig, key: str, allowed: Sequence[str] | Callable[[DictConfig], Sequence[str]]
) -> str | None:
    """``key``'s value in the job's config outside ``allowed`` (values only Hydra's run can
    resolve are left to it)."""
    try:
        value = OmegaConf.select(cfg, key, throw_on_missing=False)
    except Exception:  # noqa: BLE001 - an interpolation of ${hydra:...}
        return None
    if value is None:
        return None
    options = [str(a) for a in (allowed(cfg) if callable(allowed) else allowed)]
    if str(value) not in options:
        return f"{key}={value}: not a valid value; choose one of {', '.join(options)}"
    return None


def _jobs(config_name: str, argv: Sequence[str], conf_dir: Path) -> tuple[str, list[list[str]], ConfigLoaderImpl]:
    """(primary config name, override list of every job, loader) of a command line."""
    args = parse(argv)
    loader = config_loader(args, conf_dir)
    name = args.config_name or config_name
    jobs = expand_jobs(loader, name, list(args.overrides)) if args.multirun else [list(args.overrides)]
    return name, jobs, loader


def job_configs(
    config_name: str, argv: Sequence[str], conf_dir: Path, choices: Choices | None = None
) -> list[DictConfig]:
    """The composed config of every job of the command line ``argv`` (what ``--cfg job`` shows
    for a plain run; each job of the sweep with ``-m``); raises ValueError with the first problem
    (module docstring) as one line."""
    args = parse(argv)
    if not args.multirun:
        sweeps = [o for o in OverridesParser.create().parse_overrides(list(args.overrides)) if o.is_sweep_override()]
        if sweeps:
            raise ValueError(f"'{sweeps[0].input_line}' is a sweep: add -m (--multirun) to run one job per value, "
                             "or write a list as key=[a,b]")
    name, jobs, loader = _jobs(config_name, argv, conf_dir)
    checker = _Checker(loader, name, choices or {})
    configs = []
    for job in jobs:
        cfg = checker.job_config(job)
        if isinstance(cfg, str):
            raise ValueError(cfg)
        configs.append(cfg)
    return configs


def check(
    config_name: str, argv: Sequence[str], conf_dir: Path, choices: Choices | None = None
) -> str | None:
    """The first problem of the command line ``argv`` of the app whose primary config is
    ``config_name`` (module docstring), as one line; None when every job composes (or the
    flags ask Hydra for help, not for a run)."""
    args = parse(argv)
    if any(getattr(args, flag, None) for flag in _NO_CHECK_FLAGS) or args.info == "searchpath":
        return None
    if args.config_name not in (None, config_name):  # another primary config: the app's choices do not apply
        choices = None
    try:
        job_configs(config_name, argv, conf_dir, choices)
    except ValueError as exc:
        return str(exc)
    return None
