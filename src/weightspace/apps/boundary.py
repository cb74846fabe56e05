"""The error boundary of the entry points: every failure becomes one line a user can act on.

:func:`weightspace.apps.common.launch` runs the command-line checks and Hydra under :func:`guard`
and the app itself under :func:`run`. A failure prints ``<app>.py: <message>`` on stderr -- the
message names the option or file and what to do -- and exits with:

====  ==========================================================================================
code  failure
====  ==========================================================================================
2     usage: an unknown key or config option, a malformed override, an invalid option value
      (:class:`~weightspace.errors.ConfigError`, Hydra and OmegaConf config errors); numeric
      options are checked (:mod:`.options`) before any data is loaded
1     the run could not proceed: store, input file, non-convergence, another rank stopped, an
      OS error (disk full, permission), or an unexpected error (a bug: the line says so and
      where the traceback is)
130   interrupted by Ctrl-C (128 + signal number: 143 for SIGTERM); the line says what was kept
====  ==========================================================================================

The traceback always goes to the run's log file (Hydra's ``<run dir>/<job name>.log``);
``HYDRA_FULL_ERROR=1`` or ``hydra.verbose=true`` also prints it. Loggers are closed by the apps
(W&B runs marked failed, :func:`weightspace.apps.tracking.finishing`) before the line is printed.
Under DDP only global rank 0 prints: any other rank logs its traceback, leaves its line in
``<run dir>/rank<r>_error.txt`` for rank 0 (:mod:`.ranks`) and exits quietly. In a Hydra multirun a
failed job is recorded as a compact Hydra error, so the other jobs still run and the failed job's
overrides and line are printed at the end.
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hydra.errors import CompactHydraException, HydraException
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from ..errors import NonConvergenceError, WeightspaceError
from . import options, ranks

FULL_ERROR_ENV = "HYDRA_FULL_ERROR"
_USAGE_TYPES = ("MisconfigurationException",)  # Lightning's, e.g. collect.accelerator=gpu without a GPU
_debug = False


class JobFailed(CompactHydraException):
    """One failed job of a Hydra multirun: Hydra prints ``str()`` (the one line) at the end."""

    def __init__(self, line: str, code: int) -> None:
        super().__init__(line)
        self.code = code


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def _os_advice(err: OSError) -> str:
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return "free disk space and rerun (a collection resumes)"
    if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "make it writable or choose another path (hydra.run.dir=..., collect.store=...)"
    if err.errno == errno.ENOENT:
        return "check the path"
    if err.errno in (errno.ENOTDIR, errno.EEXIST, errno.EISDIR):
        return "a file or directory is in the way: choose another path"
    return "check the file and rerun"


def describe(exc: BaseException, out: Path | None = None) -> tuple[str, int, bool]:
    """(one-line message, exit code, expected) for ``exc``; unexpected errors are likely bugs."""
    if isinstance(exc, KeyboardInterrupt):
        signum = int(getattr(exc, "signum", signal.SIGINT))
        how = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
        kept = f"the run dir {out} keeps what was written" if out else "files already written are kept"
        return f"interrupted ({how}): {_one_line(str(exc)) or kept + '; rerun the command'}", 128 + signum, True
    if isinstance(exc, JobFailed):
        return str(exc), exc.code, True
    if isinstance(exc, WeightspaceError):
        return _one_line(str(exc)), exc.exit_code, True
    if isinstance(exc, HydraException | OmegaConfBaseException) or any(
        c.__name__ in _USAGE_TYPES for c in type(exc).__mro__
    ):
        where = f"{exc.override}: " if isinstance(getattr(exc, "override", None), str) else ""
        return where + _one_line(str(exc)), 2, True
    if type(exc).__name__ in ("LinAlgError", "FloatingPointError"):  # NumPy's linalg, np.seterr
        nc = NonConvergenceError(f"numerical failure ({type(exc).__name__}: {_one_line(str(exc))}): the "
                                 "input may be degenerate or hold NaN/inf; check it, or change the method")
        return str(nc), nc.exit_code, True
    if isinstance(exc, OSError):  # a bare message (e.g. a missing dataset) already says what to do
        if exc.filename:
            return f"{exc.filename}: {exc.strerror or exc}; {_os_advice(exc)}", 1, True
        return _one_line(str(exc)), 1, True
    if isinstance(exc, ValueError):  # the project's own ValueErrors name the option and the fix
        return _one_line(str(exc)), 1, True
    return f"unexpected {type(exc).__name__}: {_one_line(str(exc))}", 1, False


def _file_handlers() -> list[logging.FileHandler]:
    return [h for h in logging.getLogger().handlers
            if isinstance(h, logging.FileHandler) and h.baseFilename != os.devnull]


def _log(line: str, exc: BaseException) -> None:
    """The line and the traceback to the run's log file(s) only (not the console handler)."""
    record = logging.LogRecord(
        "weightspace.boundary", logging.ERROR, __file__, 0, line, None, (type(exc), exc, exc.__traceback__)
    )
    for h in _file_handlers():
        h.handle(record)


def _multirun() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def report(app: str, exc: BaseException, out: Path | None = None) -> None:
    """Print ``exc`` as one line (rank 0 only), log its traceback, and exit with its code."""
    line, code, expected = describe(exc, out)
    if isinstance(exc, JobFailed):  # a multirun job's line, raised again by Hydra after the sweep
        print(line, file=sys.stderr, flush=True)
        raise SystemExit(code) from None
    _log(line, exc)
    if not expected:
        logs = _file_handlers()
        line += (f" -- a bug? The traceback is in {logs[0].baseFilename}" if logs
                 else f" -- a bug? Rerun with {FULL_ERROR_ENV}=1 for the traceback")
    r = ranks.rank()
    if r != 0:  # rank 0 reports; leave this rank's line for it unless all ranks were stopped together
        if out is not None and not isinstance(exc, KeyboardInterrupt):
            ranks.error_file(out, r).write_text(line + "\n")
        raise SystemExit(code) from None
    text = f"{app}.py: {line}"
    if _debug:
        traceback.print_exception(exc)
    if not isinstance(exc, KeyboardInterrupt) and _multirun():
        raise JobFailed(text, code) from exc
    print(text, file=sys.stderr, flush=True)
    raise SystemExit(code) from None


def _verbose_requested(argv: list[str]) -> bool:
    flags = [a.split("=", 1)[1] for a in argv if a.startswith("hydra.verbose=")]
    return any(f.strip().lower() not in ("", "false", "null", "none", "[]") for f in flags)


@contextmanager
def guard(app: str) -> Iterator[None]:
    """Scope of an entry point (command-line checks, then Hydra): failures as in the module
    docstring. Hydra's own errors reach it (``HYDRA_FULL_ERROR`` is set inside), so a run dir that
    cannot be created or a bad override is one line too."""
    global _debug
    ranks.die_with_parent()
    user = os.environ.get(FULL_ERROR_ENV)
    _debug = user == "1" or _verbose_requested(sys.argv[1:])
    os.environ[FULL_ERROR_ENV] = "1"
    try:
        yield
    except SystemExit:
        raise
    except BaseException as exc:  # noqa: BLE001 - the boundary: every failure is reported
        report(app, exc)
    finally:
        if user is None:
            os.environ.pop(FULL_ERROR_ENV, None)
        else:
            os.environ[FULL_ERROR_ENV] = user


def run(app: str, fn: Callable[[DictConfig], Any], cfg: DictConfig) -> Any:
    """``fn(cfg)`` after the typed option checks; a failure is reported (and exits) here, inside the
    Hydra job, where the run's log file and config are known."""
    out = None
    try:
        out = Path(cfg.paths.output_dir) if "paths" in cfg else None
        options.check(cfg)
        return fn(cfg)
    except SystemExit:
        raise
    except BaseException as exc:  # noqa: BLE001
        report(app, exc, out)
