"""Fence agent exit codes and the exception that carries one to the runtime.

The numbers are those of ClusterLabs fence-agents (``EC_*`` in its
``fencing.py``). Two differences are deliberate: ``2`` is only ever the
answer of ``status`` for a powered-off target (Pacemaker reads it so), so bad
arguments exit ``1`` as fence-agents' ``fail_usage`` does; and the failure
codes are really returned (fence-agents logs them but exits ``1``).
"""

from __future__ import annotations

import enum

__all__ = ["ExitCode", "FenceError", "UsageError"]


class ExitCode(enum.IntEnum):
    """Exit statuses of a fence agent."""

    OK = 0
    GENERIC_ERROR = 1
    STATUS_OFF = 2
    LOGIN_DENIED = 3
    CONNECTION_LOST = 4
    TIMED_OUT = 5
    WAITING_ON = 6
    WAITING_OFF = 7
    STATUS = 8
    PASSWORD_MISSING = 10
    INVALID_PRIVILEGES = 11


_TRANSIENT = frozenset({ExitCode.CONNECTION_LOST, ExitCode.TIMED_OUT})


class FenceError(Exception):
    """Ends an action with ``code``; ``message`` is the one line shown to the user.

    ``transient`` errors (lost connection, timeout by default) may go away on
    their own: the action runtime keeps polling through them until its
    ``power_timeout`` runs out, and fails at once on the others.
    """

    def __init__(self, code: ExitCode, message: str, *, transient: bool | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.transient = code in _TRANSIENT if transient is None else transient


class UsageError(FenceError):
    """Bad options or parameters: exit 1 with one line naming the problem."""

    def __init__(self, message: str) -> None:
        super().__init__(ExitCode.GENERIC_ERROR, message, transient=False)
