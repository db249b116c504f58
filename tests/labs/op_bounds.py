"""Hold a live lab cluster's operation history to the documented action bounds.

    from labs.op_bounds import check_action_bounds
    check_action_bounds(lab.cluster)      # after a scenario, before the lab stops

reads ``cibadmin --query`` through the cluster lab driver, parses every
``lrm_rsc_op`` (:func:`instanceha.cluster.operations.parse_operations`) and
raises :class:`AssertionError` listing every operation that took longer than
its bound in :data:`instanceha.cib.bounds.BOUNDS` (``docs/actions.md``),
including operations still in flight for longer than their bound.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Sequence
from typing import Protocol

from instanceha.cib.bounds import BoundViolation, check_bounds
from instanceha.cluster.operations import OperationRecord, parse_operations

__all__ = ["CibReader", "check_action_bounds", "format_violations"]


class CibReader(Protocol):
    """What this needs of :class:`labs.cluster_lab.ClusterLab`: running a CLI on the cluster."""

    def run(
        self, argv: Sequence[str], *, timeout: float = ..., check: bool = ...,
        input: str | None = ...,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` on the controller; raise when it fails (``check``)."""
        ...


def format_violations(violations: Sequence[BoundViolation], checked: int) -> str:
    """The assertion message: a count, then one line per violation, slowest first."""
    lines = [
        f"{len(violations)} of {checked} recorded cluster operations exceeded their bound "
        "(docs/actions.md):"
    ]
    lines += [
        f"  {v.describe()}"
        for v in sorted(violations, key=lambda v: v.seconds - v.bound.seconds, reverse=True)
    ]
    return "\n".join(lines)


def check_action_bounds(cluster: CibReader, *, timeout: float = 30) -> list[OperationRecord]:
    """Check every recorded operation of the live cluster against its bound.

    Returns the records (for a test's own further checks) when none exceeds its
    bound; pending operations count from their start, compared with this
    machine's clock (the lab cluster runs on it).

    :raises AssertionError: listing every violation, one readable line each.
    """
    now = time.time()
    records = parse_operations(cluster.run(["cibadmin", "--query"], timeout=timeout).stdout)
    violations = check_bounds(records, now=now)
    if violations:
        raise AssertionError(format_violations(violations, len(records)))
    return records
