"""The mass-failure guard: too many hosts failing at once means hold, not evacuate.

When more compute hosts fail within ``window`` seconds than ``max_hosts`` (or
than ``max_share`` of all computes; hosts whose evacuation already finished in
the window count too), something bigger than a host failure is going on (a
rack, a switch, a storage outage): evacuating would pile every instance onto
the survivors or onto hosts that are not really dead. The guard then holds
every request it has not already started, marks each held node with
:data:`HOLD_ATTRIBUTE` (``held:<t>``, shown by ``crm_mon -A``), and waits until
an admin releases it (``instanceha evacuate --release NODE``, which writes
``released:<t>``).

A hold or a release belongs to one failure: it applies only when its time is
not earlier than that failure, so a host released once is held again when it
fails again later, and a release written before a failure exempts nothing.

When a failure happened
-----------------------
The request's time cannot say: claims are renewed every pass
(``in-progress:<owner>:<now>``) and given back as ``requested:<now>``, so a
long evacuation would count as a fresh failure for as long as it runs. The
worker therefore records each failure's time once, in the permanent node
attribute :data:`FAILED_AT_ATTRIBUTE` (permanent like the request: it must
outlive the controller that wrote it and a full cluster restart, which empties
the fencing history). :func:`failure_times` decides it when it first sees a
request: the request's time, or the node's fencing that caused it when that
was earlier (a request the worker added from the fencing history after a
missed alert is younger than the failure). Values::

    <f>              the current failure of the node happened at <f>
    <f>:done:<d>     that failure's evacuation completed at <d> (request done:<d>)

A request that follows a closed record is a new failure (only fencings after
``<d>`` are taken for it, as ``instanceha evacuate`` does); a request deleted by
hand ends its failure's record. The request's encoding, which other code and
the Pacemaker gate rule read, is unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from instanceha.cluster.attribute_names import HELD, RELEASED, hold_applies
from instanceha.cluster.evacuation import EvacuationRequest, EvacuationState

__all__ = [
    "GuardConfig",
    "GuardVerdict",
    "evaluate",
    "failure_times",
]

@dataclass(frozen=True)
class GuardConfig:
    """Thresholds; 0 disables a threshold."""

    max_hosts: int = 0
    max_share: float = 0.0  # 0.5 = half of the compute hosts
    window: float = 600.0


@dataclass(frozen=True)
class GuardVerdict:
    """Whether the guard trips, why, and which nodes it holds."""

    tripped: bool
    reason: str
    held: frozenset[str]


def _record(value: str | None) -> tuple[int, int | None] | None:
    """A :data:`FAILED_AT_ATTRIBUTE` value as (failed, done or None); None if unreadable."""
    if not value:
        return None
    parts = value.split(":")
    if len(parts) == 1 and parts[0].isdigit():
        return int(parts[0]), None
    if len(parts) == 3 and parts[1] == "done" and parts[0].isdigit() and parts[2].isdigit():
        return int(parts[0]), int(parts[2])
    return None


def failure_times(
    requests: Mapping[str, EvacuationRequest],
    records: Mapping[str, str],
    fenced: Mapping[str, Iterable[float]],
    *,
    lookback: float,
) -> tuple[dict[str, int], dict[str, str | None]]:
    """When each requested node failed, and the record changes to write (None: delete).

    ``records`` are the :data:`FAILED_AT_ATTRIBUTE` values by node, ``fenced``
    the completion times of each node's successful reboot/off. Without a
    closed record to tell the previous failure apart, only fencings at most
    ``lookback`` seconds older than the request are taken for this failure.
    """
    times: dict[str, int] = {}
    writes: dict[str, str | None] = {}
    for node, request in requests.items():
        record = _record(records.get(node))
        if request.state is EvacuationState.DONE:
            done = request.since
            if record is not None and record[1] in (None, done) and record[0] <= done:
                times[node] = record[0]
                closed = f"{record[0]}:done:{done}"
                if records.get(node) != closed:
                    writes[node] = closed
            else:
                times[node] = done  # no record: the completion, a little after the failure
            continue
        previous_done = record[1] if record is not None else None
        if record is not None and previous_done is None:
            times[node] = record[0]
            continue
        after = request.since - lookback if previous_done is None else previous_done
        kills = [int(t) for t in fenced.get(node, ()) if t > after]
        times[node] = min([request.since, *kills])
        writes[node] = str(times[node])
    for node, value in records.items():
        record = _record(value)
        if node not in requests and (record is None or record[1] is None):
            writes[node] = None
    return times, writes


def evaluate(
    config: GuardConfig,
    requests: Mapping[str, EvacuationRequest],
    holds: Mapping[str, str],
    computes: int,
    now: float,
    *,
    failed_at: Mapping[str, float] | None = None,
) -> GuardVerdict:
    """Decide from the current requests.

    ``holds`` are HOLD_ATTRIBUTE values by node; ``failed_at`` when each node
    failed (:func:`failure_times`; a node missing there counts from its
    request's time).
    """
    failed = {n: (failed_at or {}).get(n, r.since) for n, r in requests.items()}
    active = {n: r for n, r in requests.items() if r.state is not EvacuationState.DONE}
    # a host evacuated quickly still failed within the window: done requests count too
    recent = [n for n in requests if now - failed[n] <= config.window]
    too_many = config.max_hosts and len(recent) > config.max_hosts
    share = len(recent) / computes if computes else 0.0
    too_large = config.max_share and share > config.max_share
    already_held = {n for n in active if hold_applies(holds.get(n, ""), HELD, failed[n])}
    if not (too_many or too_large) and not already_held:
        return GuardVerdict(False, "", frozenset())
    reason = (f"{len(recent)} of {computes} compute hosts failed within "
              f"{config.window:.0f}s (limit: {config.max_hosts or '-'} hosts, "
              f"{config.max_share:.0%} share)") if (too_many or too_large) else (
              "holding until an admin releases: " + ", ".join(sorted(already_held)))
    started = {n for n, r in active.items() if r.state is EvacuationState.IN_PROGRESS}
    candidates = set(recent) & set(active) | already_held if (too_many or too_large) \
        else already_held
    held = {n for n in candidates - started
            if not hold_applies(holds.get(n, ""), RELEASED, failed[n])}
    return GuardVerdict(bool(held), reason, frozenset(held))
