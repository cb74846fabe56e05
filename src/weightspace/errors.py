"""Errors a user can act on (no Hydra, no torch, so physics and I/O modules may raise them).

The entry points' error boundary (:mod:`weightspace.apps.boundary`) prints each as one line on
stderr -- the message, which names the option or file and what to do -- and exits with the
class's ``exit_code``: 2 for usage errors (an unknown key or an invalid option value: fix the
command), 1 when the run could not proceed, 128 + signal number when interrupted.

The ``ValueError`` bases keep ``except ValueError`` callers working.
"""

from __future__ import annotations

import signal


class WeightspaceError(Exception):
    """Base class: the message is one line naming the option or file and what to do."""

    exit_code = 1


class ConfigError(WeightspaceError, ValueError):
    """An option's value is invalid (wrong type, out of range, unknown choice): a usage error."""

    exit_code = 2


class InputFileError(WeightspaceError, ValueError):
    """A file named by an option (``moments=``, ``model=``, ``references.path=``) cannot be used."""


class StoreError(WeightspaceError, ValueError):
    """An ensemble store or shard file that cannot be used; the message names the file and the fix."""


class DamagedShardError(StoreError):
    """A shard whose bytes are damaged (truncated, bad checksum, unreadable): its content is lost,
    unlike a shard that is intact but foreign (another store, architecture or format version)."""


class NonConvergenceError(WeightspaceError, ArithmeticError):
    """A numerical method gave no usable result (a solver that did not converge, a singular or
    non-finite matrix); the message says which and what to change."""


class RankError(WeightspaceError):
    """Another process (rank) of a multi-process run stopped; this one stopped with it."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or a termination signal; ``str()`` says what was kept and how to resume."""

    def __init__(self, message: str = "", signum: int = signal.SIGINT) -> None:
        super().__init__(message)
        self.signum = int(signum)

    @property
    def exit_code(self) -> int:
        return 128 + self.signum
