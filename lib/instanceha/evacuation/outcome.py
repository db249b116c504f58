"""What the engine reports: one outcome per server, progress snapshots, the host report."""

from __future__ import annotations

import enum
import json
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

__all__ = ["HostProgress", "HostReport", "InstanceOutcome", "OutcomeKind"]


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
