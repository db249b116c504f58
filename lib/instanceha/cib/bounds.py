"""How long each action our configuration runs may hold a transition, declared once.

While any action is in flight, pacemaker-controld starts no new transition:
a second host failing meanwhile waits, unfenced, until the action ends. Every
action of the configuration ``instanceha cib render`` writes therefore has a
bound in normal operation (:data:`BOUNDS`), far below its Pacemaker timeout,
which is only the last resort. ``docs/actions.md`` shows the same table
(:func:`markdown_table`; a unit test keeps them equal), and :func:`check_bounds`
holds a live cluster's operation history (:mod:`instanceha.cluster.operations`)
against it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from instanceha.cluster.operations import OperationRecord, OpStatus

__all__ = [
    "BOUNDS",
    "ActionBound",
    "BoundViolation",
    "action_label",
    "bound_for",
    "check_bounds",
    "markdown_table",
]

NOVA_COMPUTE = "ocf:instanceha:NovaCompute"
NOVA_EVACUATE = "ocf:instanceha:NovaEvacuate"
LIBVIRTD = "ocf:instanceha:libvirtd"
FENCE_IPMI = "stonith:fence_ipmi"
FENCE_NOVA = "stonith:fence_nova"
FENCE_HOLD = "stonith:fence_hold"
REMOTE = "ocf:pacemaker:remote"


@dataclass(frozen=True)
class ActionBound:
    """At most ``seconds`` for ``action`` of ``agent`` (``class:provider:type``) in normal
    operation. ``check_level`` is the ``OCF_CHECK_LEVEL`` of a monitor (0 otherwise)."""

    agent: str
    action: str
    seconds: float
    why: str
    check_level: int = 0


#: Every (agent, action) our configuration runs, with its bound and the reason for it.
BOUNDS: tuple[ActionBound, ...] = (
    ActionBound(NOVA_COMPUTE, "start", 15,
                "starts nova-compute (systemd unit or the daemon directly) and sets a node "
                "attribute; never waits for the evacuation"),
    ActionBound(NOVA_COMPUTE, "stop", 15,
                "stops nova-compute (systemd unit or the daemon directly) and clears a node "
                "attribute"),
    ActionBound(NOVA_COMPUTE, "monitor", 2,
                "the nova-compute process only; no Nova call", check_level=0),
    ActionBound(NOVA_COMPUTE, "monitor", 10,
                "one Nova call with its own deadline", check_level=10),
    ActionBound(NOVA_EVACUATE, "start", 5,
                "launches the worker and waits for its first heartbeat (under 2 s)"),
    ActionBound(NOVA_EVACUATE, "stop", 10,
                "stops the worker, which releases its claims for the next controller"),
    ActionBound(NOVA_EVACUATE, "monitor", 2,
                "the worker's pid and heartbeat age; evacuations run in the worker, outside "
                "any action"),
    ActionBound(LIBVIRTD, "start", 15,
                "starts libvirtd (systemd unit or the daemon directly) and waits for its socket"),
    ActionBound(LIBVIRTD, "stop", 15,
                "stops libvirtd and the socket units that would start it again"),
    ActionBound(LIBVIRTD, "monitor", 2,
                "process and socket only", check_level=0),
    ActionBound(LIBVIRTD, "monitor", 5,
                "one read-only libvirt API round trip with its own deadline", check_level=10),
    ActionBound(FENCE_IPMI, "start", 10,
                "pacemaker-fenced registers the device and runs one monitor"),
    ActionBound(FENCE_IPMI, "stop", 5,
                "pacemaker-fenced unregisters the device; the agent does not run"),
    ActionBound(FENCE_IPMI, "monitor", 10,
                "one IPMI lanplus login and power status read, each with its own deadline"),
    ActionBound(FENCE_NOVA, "start", 10,
                "pacemaker-fenced registers the device and runs one monitor"),
    ActionBound(FENCE_NOVA, "stop", 5,
                "pacemaker-fenced unregisters the device; the agent does not run"),
    ActionBound(FENCE_NOVA, "monitor", 10,
                "reads the evacuation requests from the CIB; no Nova call"),
    ActionBound(FENCE_HOLD, "start", 10,
                "pacemaker-fenced registers the device and runs one monitor"),
    ActionBound(FENCE_HOLD, "stop", 5,
                "pacemaker-fenced unregisters the device; the agent does not run"),
    ActionBound(FENCE_HOLD, "monitor", 10,
                "reads the CIB; no probe"),
    ActionBound(REMOTE, "start", 10,
                "pacemaker-controld opens the TLS connection to pacemaker-remoted"),
    ActionBound(REMOTE, "stop", 10,
                "closes the connection once the node's resources are stopped"),
    ActionBound(REMOTE, "monitor", 5,
                "one ping over the open connection"),
)


@dataclass(frozen=True)
class BoundViolation:
    """An operation that took ``seconds`` where ``bound`` allows fewer."""

    record: OperationRecord
    bound: ActionBound
    seconds: float

    def describe(self) -> str:
        """One readable line: where, what, how long, the bound and why."""
        r = self.record
        what = "still running after" if r.pending else "took"
        status = "" if r.pending else f", rc {r.rc}, {r.status_name}"
        kind = "probe" if r.is_probe else action_label(self.bound)
        interval = f" every {r.interval_ms / 1000:g}s" if r.interval_ms else ""
        failure = " (last failure)" if r.is_last_failure else ""
        reason = f": {r.exit_reason}" if r.exit_reason else ""
        return (
            f"{r.node}: {r.resource} ({r.agent}) {kind}{interval}{failure} {what} "
            f"{self.seconds:.1f}s, bound {self.bound.seconds:g}s "
            f"[call {r.call_id}{status}{reason}] — {self.bound.why}"
        )


def _levels(agent: str, action: str) -> list[int]:
    return [b.check_level for b in BOUNDS if b.agent == agent and b.action == action]


def action_label(bound: ActionBound) -> str:
    """The action as the table shows it: ``monitor (level 10)`` when the agent has several."""
    if bound.action == "monitor" and len(_levels(bound.agent, "monitor")) > 1:
        return f"monitor (level {bound.check_level})"
    return bound.action


def bound_for(agent: str, action: str, check_level: int = 0) -> ActionBound | None:
    """The bound of ``action`` (at ``check_level``) of ``agent``, None when it has none.

    As OCF agents do with a level they do not implement, a level without its
    own bound gets the bound of the highest declared level below it.
    """
    declared = [
        b for b in BOUNDS
        if b.agent == agent and b.action == action and b.check_level <= check_level
    ]
    return max(declared, key=lambda b: b.check_level, default=None)


def check_bounds(
    records: Iterable[OperationRecord], *, now: float | None = None
) -> list[BoundViolation]:
    """The operations that took longer than their bound, in the order given.

    Probes (monitors with interval 0) are held to the monitor bound of their
    level (0 unless an interval-0 monitor op sets ``OCF_CHECK_LEVEL``).
    Operations of agents or actions without a bound, cancelled operations and
    completed ones without an ``exec-time`` are skipped. A pending operation is
    checked only when ``now`` (UNIX time) is given: it has run since
    ``last-rc-change``.
    """
    found: list[BoundViolation] = []
    for record in records:
        bound = bound_for(record.agent, record.operation, record.check_level)
        if bound is None or record.op_status == OpStatus.CANCELLED:
            continue
        if record.pending:
            if now is None or record.last_rc_change is None:
                continue
            seconds = now - record.last_rc_change
        elif record.exec_time_ms is None:
            continue
        else:
            seconds = record.exec_time_ms / 1000
        if seconds > bound.seconds:
            found.append(BoundViolation(record, bound, seconds))
    return found


def markdown_table() -> str:
    """:data:`BOUNDS` as the Markdown table ``docs/actions.md`` shows."""
    lines = ["| Agent | Action | Bound | Why |", "|---|---|---:|---|"]
    lines += [
        f"| `{b.agent}` | {action_label(b)} | {b.seconds:g} s | {b.why} |" for b in BOUNDS
    ]
    return "\n".join(lines) + "\n"
