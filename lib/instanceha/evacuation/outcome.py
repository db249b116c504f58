"""What the engine reports: one outcome per server, progress snapshots, the host report.

:func:`encode_not_evacuated` writes the servers a run did not evacuate (failed,
pending, skipped), each with its reason, as one bounded line for a node
attribute (``crm_mon -A``); :func:`decode_not_evacuated` reads it back for
``instanceha status``.
"""

from __future__ import annotations

import enum
import json
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

__all__ = [
    "NOT_EVACUATED_LIMIT",
    "HostProgress",
    "HostReport",
    "InstanceOutcome",
    "NotEvacuated",
    "OutcomeKind",
    "decode_not_evacuated",
    "encode_not_evacuated",
]

#: Most characters :func:`encode_not_evacuated` writes (the CIB keeps it on every node).
NOT_EVACUATED_LIMIT = 4096
_NAME_MAX = 64
_REASON_MAX = 200
_SEPARATOR = "; "
_ENTRY = re.compile(r"^(failed|pending|skipped) (.*?) \(([^()\s]+)\): (.*)$")
_MORE = re.compile(r"^\+([0-9]+) more\b")


class OutcomeKind(enum.StrEnum):
    """How one server ended; only ``pending`` leaves the host unaccounted for."""

    EVACUATED = "evacuated"  # on another host, in its target state
    SKIPPED = "skipped"  # not protected, not evacuable, or deleted meanwhile
    FAILED = "failed"  # retries exhausted, stuck, or wrong final state
    PENDING = "pending"  # not finished: deadline, Nova outage or host-level error


@dataclass(frozen=True)
class InstanceOutcome:
    """The fate of one server of the failed host."""

    server_id: str
    name: str
    kind: OutcomeKind
    reason: str
    target_state: str | None = None
    final_state: str | None = None
    destination: str | None = None
    duration: float | None = None  # seconds from first evacuate call (or run start) to done
    attempts: int = 0


@dataclass(frozen=True)
class NotEvacuated:
    """One server a run left on the failed host, as published: why, in a short phrase."""

    kind: str  # failed, pending or skipped
    name: str
    server_id: str
    reason: str


@dataclass(frozen=True)
class HostProgress:
    """A snapshot for progress reporting (e.g. Pacemaker node attributes)."""

    host: str
    total: int
    evacuated: int
    failed: int
    skipped: int
    in_flight: int
    pending: int


@dataclass(frozen=True)
class HostReport:
    """Everything the engine did for one host."""

    host: str
    outcomes: tuple[InstanceOutcome, ...]
    started: float  # wall clock, seconds since the epoch
    finished: float
    error: str | None = None  # host-level problem (credentials, unknown host, deadline)

    def count(self, kind: OutcomeKind) -> int:
        """How many outcomes are of ``kind``."""
        return sum(1 for o in self.outcomes if o.kind is kind)

    @property
    def complete(self) -> bool:
        """Every server is accounted for (evacuated, skipped or failed) and no host error."""
        return self.error is None and self.count(OutcomeKind.PENDING) == 0

    @property
    def succeeded(self) -> bool:
        """Complete and nothing failed."""
        return self.complete and self.count(OutcomeKind.FAILED) == 0

    def not_evacuated(self) -> tuple[InstanceOutcome, ...]:
        """The servers not evacuated: failed, then pending, then skipped, each by name."""
        order = {OutcomeKind.FAILED: 0, OutcomeKind.PENDING: 1, OutcomeKind.SKIPPED: 2}
        left = (o for o in self.outcomes if o.kind in order)
        return tuple(sorted(left, key=lambda o: (order[o.kind], o.name, o.server_id)))

    def summary(self) -> str:
        """A few human lines: counts first, then every failed or pending server."""
        counts = Counter(o.kind for o in self.outcomes)
        head = ", ".join(f"{counts.get(k, 0)} {k}" for k in OutcomeKind)
        lines = [f"{self.host}: {head} in {self.finished - self.started:.1f}s"]
        if self.error:
            lines.append(f"  error: {self.error}")
        lines.extend(
            f"  {o.kind} {o.name} ({o.server_id}): {o.reason}"
            for o in self.outcomes
            if o.kind in (OutcomeKind.FAILED, OutcomeKind.PENDING)
        )
        return "\n".join(lines)

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict (timestamps as ISO 8601 UTC)."""
        return {
            "host": self.host,
            "started": _iso(self.started),
            "finished": _iso(self.finished),
            "complete": self.complete,
            "error": self.error,
            "counts": {k.value: self.count(k) for k in OutcomeKind},
            "outcomes": [asdict(o) for o in self.outcomes],
        }

    def to_json(self) -> str:
        """:meth:`to_dict` as compact JSON."""
        return json.dumps(self.to_dict(), separators=(",", ":"), sort_keys=True)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).isoformat(timespec="seconds")


def _clean(text: str, limit: int) -> str:
    """One line, no entry separator, at most ``limit`` characters."""
    flat = " ".join(text.replace(";", ",").split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def encode_not_evacuated(outcomes: Iterable[InstanceOutcome],
                         limit: int = NOT_EVACUATED_LIMIT) -> str:
    """``<kind> <name> (<id>): <reason>`` for each server, ``; `` between them, one line of
    at most ``limit`` characters; what does not fit becomes ``+N more (...)``."""
    entries = [f"{o.kind} {_clean(o.name, _NAME_MAX) or '-'} ({_clean(o.server_id, 64)}): "
               f"{_clean(o.reason, _REASON_MAX) or '-'}" for o in outcomes]
    reserve = len(_SEPARATOR) + len(_more(len(entries)))
    shown: list[str] = []
    size = 0
    for index, entry in enumerate(entries):
        grown = size + (len(_SEPARATOR) if shown else 0) + len(entry)
        if grown + (reserve if index < len(entries) - 1 else 0) > limit:
            break
        shown.append(entry)
        size = grown
    if len(shown) < len(entries):
        shown.append(_more(len(entries) - len(shown)))
    return _SEPARATOR.join(shown)


def _more(count: int) -> str:
    return f"+{count} more (NovaEvacuate's log names them all)"


def decode_not_evacuated(value: str) -> tuple[list[NotEvacuated], int]:
    """The entries of an :func:`encode_not_evacuated` line, and how many more it left out.

    A part that is not an entry (written by hand, or by another version) comes
    back whole as the reason of a ``?`` entry.
    """
    entries: list[NotEvacuated] = []
    more = 0
    for part in filter(None, (p.strip() for p in value.split(_SEPARATOR))):
        if match := _ENTRY.match(part):
            entries.append(NotEvacuated(*match.groups()))
        elif match := _MORE.match(part):
            more += int(match.group(1))
        else:
            entries.append(NotEvacuated("?", "", "", part))
    return entries, more
