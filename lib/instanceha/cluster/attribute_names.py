"""Every node attribute instanceha reads or writes: its name, and the small codecs of its values.

The one table of them. A *permanent* attribute lives in the CIB's configuration, on every
node's disk; a *transient* one in pacemaker-attrd and the CIB's status section, purged when
the node comes back online. ``crm_mon -A`` shows both for an online node. ``<t>`` is a UNIX
time in integer seconds.

:data:`EVACUATE_ATTRIBUTE` ``instanceha-evacuate`` (permanent)
    The durable evacuation request; fence_nova, the alert, the evacuator, ``instanceha
    evacuate``. ``requested:<t>``, ``in-progress:<owner>:<t>``, ``done:<t>``
    (:class:`~instanceha.cluster.evacuation.EvacuationRequest` encodes and decodes it).
:data:`NOVA_HOST_ATTRIBUTE` ``instanceha-nova-host`` (permanent)
    The node's Nova service host name, published by NovaCompute on start
    (read by :class:`~instanceha.nova.hostmap.HostMap`).
:data:`SERVICE_ATTRIBUTE` ``instanceha-nova-compute`` (transient)
    Where a returning host stands: :data:`SERVICE_STARTED` (NovaCompute started
    nova-compute), then :data:`SERVICE_IN_SERVICE` (the evacuator undid our fencing in Nova).
:data:`PROGRESS_ATTRIBUTE` ``instanceha-evacuation-progress`` (transient)
    A running evacuation's progress, at most every ``progress_every`` seconds, then
    ``complete`` (:class:`~instanceha.evacuation.outcome.HostProgress`).
:data:`RESULT_ATTRIBUTE` ``instanceha-evacuation-result`` (permanent)
    The last run's summary (:class:`~instanceha.evacuation.outcome.HostReport`).
:data:`NOT_EVACUATED_ATTRIBUTE` ``instanceha-not-evacuated`` (permanent)
    Every server the last run did not evacuate, and why
    (:func:`~instanceha.evacuation.outcome.encode_not_evacuated`, ``decode_not_evacuated``).
:data:`JOURNAL_ATTRIBUTE` ``instanceha-evacuation-journal`` (permanent)
    The engine's journal on the failed node, JSON
    (:class:`~instanceha.evacuator.cib_journal.CibJournal`).
:data:`HOLD_ATTRIBUTE` ``instanceha-hold`` (permanent)
    The mass-failure guard's hold, ``held:<t>``, and an admin's release,
    ``released:<t>`` (``instanceha evacuate --release``): :func:`hold_value`, :func:`hold_applies`.
:data:`FENCING_HOLD_ATTRIBUTE` ``instanceha-fencing-hold`` (permanent)
    fence_hold's hold of the node's power fencing (many computes unreachable at once),
    ``held:<t>``; an admin's release, ``released:<t>``; ``returned:<t>`` once the node was
    returned to the cluster alive (:mod:`instanceha.fence.hold`); deleted once it is fenced
    (fence_nova, the alert).
:data:`FAILED_AT_ATTRIBUTE` ``instanceha-failed-at`` (permanent)
    When the host failed, as the mass-failure guard counts it: ``<t>``, then
    ``<t>:done:<completion>`` (:mod:`instanceha.evacuator.guard`).
:data:`ROLE_ATTRIBUTE` ``instanceha-role`` (permanent)
    ``compute`` or ``controller``, set by ``instanceha cib render`` for the location rules;
    the inventory's ``role_attribute`` may rename it.
:data:`UNFENCED_ATTRIBUTE` ``#node-unfenced`` (transient)
    Pacemaker's own: pacemaker-controld sets it once a node has been unfenced.

Why each is permanent or transient, and how often it is written: docs/evacuation-policy.md.
No imports: every fast path may use it.
"""

from __future__ import annotations

__all__ = [
    "EVACUATE_ATTRIBUTE",
    "FAILED_AT_ATTRIBUTE",
    "FENCING_HOLD_ATTRIBUTE",
    "HELD",
    "HOLD_ATTRIBUTE",
    "JOURNAL_ATTRIBUTE",
    "NOT_EVACUATED_ATTRIBUTE",
    "NOVA_HOST_ATTRIBUTE",
    "PROGRESS_ATTRIBUTE",
    "RELEASED",
    "RESULT_ATTRIBUTE",
    "RETURNED",
    "ROLE_ATTRIBUTE",
    "SERVICE_ATTRIBUTE",
    "SERVICE_IN_SERVICE",
    "SERVICE_STARTED",
    "UNFENCED_ATTRIBUTE",
    "hold_applies",
    "hold_stamp",
    "hold_value",
]

#: The durable per-node evacuation request (:mod:`instanceha.cluster.evacuation`).
EVACUATE_ATTRIBUTE = "instanceha-evacuate"
#: The node's Nova service host name, published by NovaCompute on start.
NOVA_HOST_ATTRIBUTE = "instanceha-nova-host"
#: Where nova-compute stands with respect to instanceha (transient).
SERVICE_ATTRIBUTE = "instanceha-nova-compute"
#: NovaCompute started nova-compute; our force-down and disable may still be in place.
SERVICE_STARTED = "started"
#: Nothing of our fencing is left in Nova (an admin's disable may be).
SERVICE_IN_SERVICE = "in-service"
#: A running evacuation's progress (transient).
PROGRESS_ATTRIBUTE = "instanceha-evacuation-progress"
#: The last evacuation run's result.
RESULT_ATTRIBUTE = "instanceha-evacuation-result"
#: Every server the last run did not evacuate, and why.
NOT_EVACUATED_ATTRIBUTE = "instanceha-not-evacuated"
#: The engine's journal, on the failed node, so any controller can resume.
JOURNAL_ATTRIBUTE = "instanceha-evacuation-journal"
#: The mass-failure guard's hold, and an admin's release of it.
HOLD_ATTRIBUTE = "instanceha-hold"
#: When the host failed, as the mass-failure guard counts it.
FAILED_AT_ATTRIBUTE = "instanceha-failed-at"
#: fence_hold's hold of a node's power fencing (many computes unreachable at once).
FENCING_HOLD_ATTRIBUTE = "instanceha-fencing-hold"
#: The node's role for location rules (the inventory's default ``role_attribute``).
ROLE_ATTRIBUTE = "instanceha-role"
#: Set by pacemaker-controld once a node has been unfenced.
UNFENCED_ATTRIBUTE = "#node-unfenced"

#: Hold value prefix (:data:`HOLD_ATTRIBUTE`, :data:`FENCING_HOLD_ATTRIBUTE`): the host is held.
HELD = "held:"
#: Hold value prefix: an admin released the hold.
RELEASED = "released:"
#: :data:`FENCING_HOLD_ATTRIBUTE` value prefix: fence_hold returned the node without fencing.
RETURNED = "returned:"


def hold_value(prefix: str, when: float) -> str:
    """A hold attribute's value: :data:`HELD`, :data:`RELEASED` or :data:`RETURNED` and the
    time."""
    return f"{prefix}{int(when)}"


def hold_stamp(value: str, prefix: str) -> int | None:
    """``t`` of a hold value ``<prefix><t>``; None for another prefix or an unreadable time."""
    stamp = value[len(prefix):]
    return int(stamp) if value.startswith(prefix) and stamp.isdigit() else None


def hold_applies(value: str, prefix: str, failed_at: float) -> bool:
    """True when the hold value is ``<prefix><t>`` with ``t`` not before the failure."""
    stamp = hold_stamp(value, prefix)
    return stamp is not None and stamp >= int(failed_at)
