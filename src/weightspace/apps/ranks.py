"""Lifecycle of the processes (ranks) of a multi-process collection: they start, stop and fail together.

Lightning Fabric's launcher runs the script again for ranks 1..n-1 as child processes of the
launcher (rank 0). This module adds what it lacks:

- **Children die with the launcher** (:func:`die_with_parent`, called at every app start): on
  Linux ``prctl(PR_SET_PDEATHSIG, SIGTERM)``, elsewhere a thread watching the parent pid; a child
  whose launcher is already gone stops at once. ``kill -9`` of the launcher leaves no rank behind.
- **Signals reach every rank** (:func:`lifecycle`): the first SIGINT or SIGTERM is forwarded as
  SIGTERM to every child and raised as :class:`~weightspace.errors.Interrupted`, so each rank
  flushes its shard writer and exits; repeats are ignored while that happens.
- **A failed rank stops the run with its own message**: Lightning's observer SIGKILLs the launcher
  within 5 s of any child exiting with a non-zero code (Ctrl-C included), losing its unflushed
  results and printing nothing. It is replaced (:func:`launch`) by :func:`check`, called per epoch
  and at barriers, which raises :class:`~weightspace.errors.RankError` with the child's one-line
  error (written by the error boundary to ``<run dir>/rank<r>_error.txt``). Only if the launcher
  is stuck in a call that cannot be interrupted (waiting for a rank that never joined) does a
  watchdog thread print that line and exit after ``GRACE_S``.
- On leaving :func:`lifecycle` the launcher waits for its children (after an error it first sends
  them SIGTERM; SIGKILL after ``GRACE_S``).
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import Interrupted, RankError

LAUNCHER_ENV = "WEIGHTSPACE_LAUNCHER_PID"
GRACE_S = 30.0
_PR_SET_PDEATHSIG = 1


@dataclass
class _State:
    procs: list[subprocess.Popen] = field(default_factory=list)
    out: Path | None = None
    rank: int | None = None
    stopping: bool = False  # the launcher is shutting down on its own (error, signal, or done)
    signum: int = 0  # the first signal received (0: none)


_state = _State()


def rank() -> int:
    """Global rank of this process: the one Fabric assigned, else from the launch environment."""
    if _state.rank is not None:
        return _state.rank
    for key in ("RANK", "LOCAL_RANK", "SLURM_PROCID"):
        if os.environ.get(key, "").isdigit():
            return int(os.environ[key])
    return 0


def error_file(out: Path, r: int) -> Path:
    """Where rank ``r`` leaves its one-line error for rank 0."""
    return Path(out) / f"rank{r}_error.txt"


def die_with_parent() -> None:
    """In a child rank: get SIGTERM when the launcher dies; stop now if it is already gone."""
    pid = os.environ.pop(LAUNCHER_ENV, None)
    if not pid or int(pid) == os.getpid():
        return
    parent = int(pid)
    if not _set_pdeathsig(signal.SIGTERM):
        threading.Thread(target=_watch_parent, args=(parent,), daemon=True, name="watch-launcher").start()
    if os.getppid() != parent:  # died before the signal was armed
        os.kill(os.getpid(), signal.SIGTERM)


def _set_pdeathsig(sig: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        return ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1.0)
    os.kill(os.getpid(), signal.SIGTERM)


def launch(fabric: Any) -> None:
    """``fabric.launch()`` with this module's child handling instead of Lightning's observer
    (``subprocess_script._launch_process_observer``, Lightning >= 2.1; without it, nothing to
    replace)."""
    from lightning.fabric.strategies.launchers import subprocess_script

    hook = "_launch_process_observer"
    observer = getattr(subprocess_script, hook, None)
    if observer is not None:
        setattr(subprocess_script, hook, lambda procs: None)
    os.environ[LAUNCHER_ENV] = str(os.getpid())  # children read it in die_with_parent
    try:
        fabric.launch()
    finally:
        if observer is not None:
            setattr(subprocess_script, hook, observer)
        os.environ.pop(LAUNCHER_ENV, None)
    _state.rank = int(fabric.global_rank)
    procs = list(getattr(fabric.strategy.launcher, "procs", None) or [])
    if procs:
        _state.procs = procs
        threading.Thread(target=_watchdog, args=(procs,), daemon=True, name="watch-ranks").start()


def _failed_child() -> tuple[int, int] | None:
    """(local rank, exit code) of the first child that exited with a non-zero code."""
    for i, p in enumerate(_state.procs):
        rc = p.poll()
        if rc:
            return i + 1, rc
    return None


def _failure(r: int, rc: int) -> str:
    if _state.out is not None and error_file(_state.out, r).is_file():
        return f"rank {r} stopped: {error_file(_state.out, r).read_text().strip()}"
    how = f"was killed by {signal.Signals(-rc).name}" if rc < 0 else f"stopped with exit code {rc}"
    return (
        f"rank {r} {how} (out of memory? kill?); the shards it flushed are kept: "
        "rerun the same command to resume"
    )


def _watchdog(procs: list[subprocess.Popen]) -> None:
    while not _state.stopping and _state.procs is procs:
        time.sleep(0.5)
        failed = _failed_child()
        if failed is None:
            if all(p.poll() == 0 for p in procs):
                return
            continue
        deadline = time.monotonic() + GRACE_S
        while time.monotonic() < deadline:
            if _state.stopping or _state.procs is not procs:
                return
            time.sleep(0.5)
        print(f"{Path(sys.argv[0]).name}: {_failure(*failed)}", file=sys.stderr, flush=True)
        _stop(procs, signal.SIGKILL)
        os._exit(1)


def check(wait_s: float = 0.0) -> None:
    """Raise RankError if a child rank stopped (polls for up to ``wait_s`` seconds)."""
    deadline = time.monotonic() + wait_s
    while True:
        failed = _failed_child()
        if failed is not None:
            _state.stopping = True
            raise RankError(_failure(*failed))
        if time.monotonic() >= deadline:
            return
        time.sleep(0.2)


def barrier(fabric: Any) -> None:
    """``fabric.barrier()``; if it fails because a rank stopped, say which rank and why."""
    try:
        fabric.barrier()
    except Exception:
        if _state.signum:
            raise Interrupted(signum=_state.signum) from None
        check(wait_s=10.0 if _state.procs else 0.0)
        if _state.rank:  # a child whose peer (the launcher) is gone
            raise RankError("rank 0 stopped; this rank stopped with it") from None
        raise


def _on_signal(signum: int, frame: Any) -> None:
    if _state.signum:  # already stopping: let the shard writers flush
        return
    _state.signum = signum
    _state.stopping = True
    _stop(_state.procs, signal.SIGTERM)
    raise Interrupted(signum=signum)


def _stop(procs: list[subprocess.Popen], sig: int) -> None:
    for p in procs:
        if p.poll() is None:
            try:
                p.send_signal(sig)
            except ProcessLookupError:
                pass


@contextmanager
def lifecycle(out: Path) -> Iterator[None]:
    """Scope of a (possibly multi-process) collection: signal forwarding, child handling, and on
    exit the children waited for (stopped first if this process failed)."""
    global _state
    _state = _State(out=Path(out))
    handlers = {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    ok = False
    try:
        yield
        ok = True
    finally:
        _state.stopping = True
        if not ok:
            _stop(_state.procs, signal.SIGTERM)
        deadline = time.monotonic() + GRACE_S
        for p in _state.procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for s, h in handlers.items():
            signal.signal(s, h)
