"""OCF exit codes and the exception that carries one to the runtime."""

from __future__ import annotations

import enum

__all__ = ["OcfError", "OcfRc"]


class OcfRc(enum.IntEnum):
    """OCF return codes (resource-agents ocf-returncodes, OCF 1.1 degraded codes)."""

    SUCCESS = 0
    ERR_GENERIC = 1
    ERR_ARGS = 2
    ERR_UNIMPLEMENTED = 3
    ERR_PERM = 4
    ERR_INSTALLED = 5
    ERR_CONFIGURED = 6
    NOT_RUNNING = 7
    RUNNING_PROMOTED = 8
    FAILED_PROMOTED = 9
    DEGRADED = 190
    DEGRADED_PROMOTED = 191


class OcfError(Exception):
    """Ends an action with ``rc``; ``reason`` becomes the ocf-exit-reason line."""

    def __init__(self, rc: OcfRc, reason: str) -> None:
        super().__init__(reason)
        self.rc = rc
        self.reason = reason
