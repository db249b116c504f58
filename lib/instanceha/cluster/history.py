"""Pacemaker's fencing history, to reconcile fencing events an alert missed.

``stonith_admin --history '*' --verbose --output-as=xml`` lists every fencing
operation pacemaker-fenced remembers (successful, failed and pending), as
``<fence_event target= action= status= delegate= origin= client= completed=>``.
Pacemaker 2.1.5 reports ``completed`` in UTC with one-second resolution and no
device; newer releases may add ``completed-nsec``, ``exit-reason`` or a device,
which are used when present. The history is kept in memory by pacemaker-fenced:
it is lost when the whole cluster stops, and ``--broadcast`` merges the
histories of all cluster nodes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum

from instanceha.cluster.pcmkxml import parse_result, run_xml
from instanceha.cluster.runner import DEFAULT_TIMEOUT, OutputError, Runner, SubprocessRunner

__all__ = [
    "FenceEvent",
    "FenceHistory",
    "FenceState",
    "latest_success",
    "parse_fence_history",
    "parse_pcmk_time",
    "successes_since",
]

_EPOCH = re.compile(r"^[0-9]+(\.[0-9]+)?$")


class FenceState(Enum):
    """Outcome of a fencing operation."""

    SUCCESS = "success"
    FAILED = "failed"
    PENDING = "pending"


@dataclass(frozen=True)
class FenceEvent:
    """One fencing operation.

    ``completed_at`` is a UNIX time (None while pending). ``delegate`` is the
    node that executed the device, ``origin`` the node that asked for it,
    ``client`` the requesting daemon or tool.
    """

    target: str
    action: str
    state: FenceState
    completed_at: float | None
    delegate: str | None = None
    origin: str | None = None
    client: str | None = None
    device: str | None = None
    exit_reason: str | None = None

    @property
    def succeeded(self) -> bool:
        """True for a completed, successful operation."""
        return self.state is FenceState.SUCCESS

    @property
    def node_was_killed(self) -> bool:
        """True for a successful ``reboot`` or ``off`` (not an unfencing ``on``)."""
        return self.succeeded and self.action in ("reboot", "off")


def parse_pcmk_time(text: str) -> float:
    """A Pacemaker timestamp (``2026-11-20 22:41:34Z``, ISO 8601, or epoch) as UNIX time."""
    value = text.strip()
    if _EPOCH.match(value):
        return float(value)
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        try:
            when = datetime.strptime(value, "%a %b %d %H:%M:%S %Y")
        except ValueError as exc:
            raise OutputError(f"unparsable time {text!r}") from exc
    if when.tzinfo is None:  # Pacemaker prints UTC
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def parse_fence_history(xml_text: str) -> list[FenceEvent]:
    """Parse ``stonith_admin --history ... --output-as=xml`` output."""
    doc = parse_result(xml_text, "stonith_admin --history")
    events = []
    for el in doc.root.iter("fence_event"):
        target = el.get("target")
        action = el.get("action")
        status = el.get("status")
        if not target or not action or not status:
            raise OutputError(f"incomplete fence_event {el.attrib}")
        try:
            state = FenceState(status)
        except ValueError:
            raise OutputError(f"unknown fence_event status {status!r}") from None
        completed_at: float | None = None
        completed = el.get("completed")
        if completed and state is not FenceState.PENDING:
            completed_at = parse_pcmk_time(completed)
            nsec = el.get("completed-nsec")
            if nsec and nsec.isdigit() and completed_at == int(completed_at):
                completed_at += int(nsec) / 1e9
        events.append(
            FenceEvent(
                target=target,
                action=action,
                state=state,
                completed_at=completed_at,
                delegate=el.get("delegate"),
                origin=el.get("origin"),
                client=el.get("client"),
                device=el.get("device"),
                exit_reason=el.get("exit-reason") or el.get("exit_reason"),
            )
        )
    return events


def successes_since(events: Iterable[FenceEvent], since: float) -> list[FenceEvent]:
    """Successful reboot/off operations completed at or after ``since``, oldest first.

    ``since`` is compared at one-second resolution (Pacemaker 2.1 truncates).
    """
    floor = int(since)
    hits = [
        e
        for e in events
        if e.node_was_killed and e.completed_at is not None and e.completed_at >= floor
    ]
    return sorted(hits, key=lambda e: e.completed_at or 0.0)


def latest_success(events: Iterable[FenceEvent], target: str) -> FenceEvent | None:
    """The most recent successful reboot/off of ``target``."""
    hits = [e for e in events if e.target == target and e.node_was_killed]
    return max(hits, key=lambda e: e.completed_at or 0.0, default=None)


class FenceHistory:
    """Queries pacemaker-fenced's fencing history."""

    def __init__(self, runner: Runner | None = None, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._runner = runner or SubprocessRunner()
        self._timeout = timeout

    def events(self, target: str = "*", *, broadcast: bool = False) -> list[FenceEvent]:
        """Every recorded operation against ``target`` (``*`` = all nodes)."""
        if not target or target.startswith("-"):
            raise ValueError(f"invalid fencing target {target!r}")
        argv = ["stonith_admin", f"--history={target}", "--verbose", "--output-as=xml"]
        if broadcast:
            argv.append("--broadcast")
        res, _ = run_xml(self._runner, argv, timeout=self._timeout)
        return parse_fence_history(res.stdout)

    def last_success(self, target: str) -> FenceEvent | None:
        """The most recent successful reboot/off of ``target``, if any."""
        return latest_success(self.events(target), target)
