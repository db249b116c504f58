"""Which servers of a failed host to evacuate, in which order, to which state (pure, no I/O).

Protection: a server is *marked* by the first of these sources that carries the
key (default ``evacuable``) with a value we understand; the highest wins:

1. server metadata (``openstack server set --property evacuable=false``): a
   per-server opt-in or opt-out;
2. flavor extra spec (``openstack flavor set --property evacuable=true``);
3. image: the property ``evacuable=<bool>``, else the tag ``evacuable`` (= true);
4. host aggregate metadata of an aggregate holding the failed host (if two
   aggregates disagree, ``false`` wins).

Values: true/yes/y/on/1/t and false/no/n/off/0/f, case-insensitive; anything
else is ignored (named in the reason) and the next source is consulted.

Modes decide what an unmarked server means:

* ``all``: every server is protected unless marked false;
* ``tagged``: only servers marked true are protected;
* ``tagged-or-all``: like ``tagged`` when at least one server on the host is
  marked true, else like ``all`` (fence_evacuate's fail-open rule, taken per
  host rather than cloud-wide).

Evacuable states (Nova accepts vm_state active, stopped or error with no task):
ACTIVE ends ACTIVE, SHUTOFF ends SHUTOFF, ERROR ends ACTIVE (recovered). Any
other state, a task in progress, or a feature Nova cannot evacuate (vTPM,
accelerators: :data:`FLAVOR_BLOCKERS`, :data:`IMAGE_BLOCKERS`, configurable)
gives a *skip* with the reason, never a failure. Servers with an
evacuation already in flight (``in_flight``) bypass the state and feature
checks: they are tracked, not evacuated again.

Order: metadata ``instanceha:priority`` (integer, default 0), highest first,
then by name. Reserved target hosts, if any, are handed out round-robin in
that order, the failed host excluded; without them Nova's scheduler chooses.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace

from instanceha.nova.model import Aggregate, Image, Server
from instanceha.spec import openstack_bool

__all__ = [
    "FLAVOR_BLOCKERS",
    "IMAGE_BLOCKERS",
    "Action",
    "Decision",
    "Mode",
    "Plan",
    "PolicyConfig",
    "Protection",
    "blocker",
    "build_plan",
    "parse_marker",
    "resolve_protection",
    "state_blocker",
    "target_state",
]


#: vm_state -> the API status the server must end in after evacuation.
_TARGET_BY_VM_STATE = {"active": "ACTIVE", "stopped": "SHUTOFF", "error": "ACTIVE"}
#: Fallback when the access layer did not report vm_state.
_TARGET_BY_STATUS = {"ACTIVE": "ACTIVE", "SHUTOFF": "SHUTOFF", "ERROR": "ACTIVE"}

#: Flavor extra specs for which Nova refuses evacuation, with a human label. Nova
#: refuses vTPM always; Cyborg accelerators while any nova-compute predates
#: accelerator rebuild support (Xena), so that entry is a conservative default.
FLAVOR_BLOCKERS: Mapping[str, str] = {
    "hw:tpm_version": "vTPM",
    "hw:tpm_model": "vTPM",
    "accel:device_profile": "accelerator (Cyborg device profile)",
}
#: Image properties for which Nova refuses evacuation, with a human label.
IMAGE_BLOCKERS: Mapping[str, str] = {
    "hw_tpm_version": "vTPM",
    "hw_tpm_model": "vTPM",
}


class Mode(enum.StrEnum):
    """What an unmarked server means (see the module docstring)."""

    ALL = "all"
    TAGGED = "tagged"
    TAGGED_OR_ALL = "tagged-or-all"


class Action(enum.StrEnum):
    """What the engine does with one server."""

    EVACUATE = "evacuate"
    SKIP = "skip"


@dataclass(frozen=True)
class PolicyConfig:
    """Knobs of the protection policy."""

    mode: Mode = Mode.TAGGED_OR_ALL
    key: str = "evacuable"
    priority_key: str = "instanceha:priority"
    reserved_hosts: tuple[str, ...] = ()
    flavor_blockers: Mapping[str, str] = field(default_factory=lambda: dict(FLAVOR_BLOCKERS))
    image_blockers: Mapping[str, str] = field(default_factory=lambda: dict(IMAGE_BLOCKERS))


@dataclass(frozen=True)
class Protection:
    """The marker resolved for one server: ``marked`` is None when nothing says."""

    marked: bool | None
    reason: str


@dataclass(frozen=True)
class Decision:
    """The verdict on one server."""

    server: Server
    action: Action
    reason: str
    target_state: str | None  # "ACTIVE" or "SHUTOFF" for evacuations
    priority: int = 0
    target_host: str | None = None


@dataclass(frozen=True)
class Plan:
    """Every server of the host with its decision; evacuations first, by priority."""

    host: str
    mode: Mode
    decisions: tuple[Decision, ...]

    @property
    def to_evacuate(self) -> tuple[Decision, ...]:
        """Decisions with action evacuate, highest priority first."""
        return tuple(d for d in self.decisions if d.action is Action.EVACUATE)

    @property
    def skipped(self) -> tuple[Decision, ...]:
        """Decisions with action skip."""
        return tuple(d for d in self.decisions if d.action is Action.SKIP)


def parse_marker(value: str | None) -> bool | None:
    """A true-ish or false-ish marker value as bool; None when absent or not understood."""
    return None if value is None else openstack_bool(value)


def _word(value: bool) -> str:
    return "true" if value else "false"


def resolve_protection(
    server: Server,
    image: Image | None,
    aggregates: Sequence[Aggregate],
    key: str = "evacuable",
) -> Protection:
    """The highest-precedence marker on the server (server > flavor > image > aggregate)."""
    ignored: list[str] = []

    def _from(source: str, raw: str | None) -> Protection | None:
        marked = parse_marker(raw)
        if marked is None:
            if raw is not None:
                ignored.append(f"{source}: {key}={raw!r} not understood")
            return None
        return Protection(marked, _with_ignored(f"{source}: {key}={_word(marked)}", ignored))

    found = _from("server metadata", server.metadata.get(key)) or _from(
        f"flavor {server.flavor_name or '?'}", server.flavor_extra_specs.get(key)
    )
    if found:
        return found
    if image is not None:
        found = _from(f"image {image.id}", image.properties.get(key))
        if found:
            return found
        if key in image.tags:
            return Protection(True, _with_ignored(f"image {image.id}: tag {key}", ignored))
    votes: list[tuple[str, bool]] = []
    for agg in aggregates:
        raw = agg.metadata.get(key)
        marked = parse_marker(raw)
        if marked is not None:
            votes.append((agg.name, marked))
        elif raw is not None:
            ignored.append(f"aggregate {agg.name}: {key}={raw!r} not understood")
    for wanted in (False, True):  # false wins over true between aggregates
        names = [name for name, marked in votes if marked is wanted]
        if names:
            reason = f"aggregate {', '.join(names)}: {key}={_word(wanted)}"
            return Protection(wanted, _with_ignored(reason, ignored))
    return Protection(None, _with_ignored(f"no {key} marker", ignored))


def _with_ignored(reason: str, ignored: list[str]) -> str:
    return f"{reason} ({'; '.join(ignored)})" if ignored else reason


def target_state(server: Server) -> str | None:
    """The status an evacuated server must end in, or None if its state is not evacuable.

    vm_state is Nova's own criterion and keeps its value while an evacuation
    is in flight, so it is preferred over the API status.
    """
    if server.vm_state:
        return _TARGET_BY_VM_STATE.get(server.vm_state.lower())
    return _TARGET_BY_STATUS.get(server.status.upper())


def state_blocker(server: Server) -> str | None:
    """Why Nova would refuse to evacuate the server in its current state, or None."""
    if server.task_state:
        return f"task in progress (task_state={server.task_state})"
    if target_state(server) is None:
        shown = server.status + (f", vm_state={server.vm_state}" if server.vm_state else "")
        return f"state {shown} is not evacuable (Nova evacuates ACTIVE, SHUTOFF, ERROR)"
    return None


def blocker(
    server: Server,
    image: Image | None,
    flavor_blockers: Mapping[str, str] = FLAVOR_BLOCKERS,
    image_blockers: Mapping[str, str] = IMAGE_BLOCKERS,
) -> str | None:
    """A feature of the flavor or image Nova cannot evacuate, as a reason, or None."""
    for spec, label in flavor_blockers.items():
        if spec in server.flavor_extra_specs:
            where = f"flavor {server.flavor_name or '?'}: {spec}={server.flavor_extra_specs[spec]}"
            return f"{label} ({where}): Nova cannot evacuate it"
    if image is not None:
        for prop, label in image_blockers.items():
            if prop in image.properties:
                where = f"image {image.id}: {prop}={image.properties[prop]}"
                return f"{label} ({where}): Nova cannot evacuate it"
    return None


def _priority(server: Server, key: str) -> tuple[int, str | None]:
    raw = server.metadata.get(key)
    if raw is None:
        return 0, None
    try:
        return int(raw.strip()), None
    except ValueError:
        return 0, f"{key}={raw!r} is not an integer, using 0"


def build_plan(
    host: str,
    servers: Sequence[Server],
    images: Mapping[str, Image | None],
    aggregates: Sequence[Aggregate],
    *,
    config: PolicyConfig = PolicyConfig(),
    in_flight: Collection[str] = (),
) -> Plan:
    """Decide for every server of ``host``.

    ``images`` maps image ids to images (None when the image is gone);
    ``aggregates`` may hold every aggregate, only those with ``host`` count;
    ``in_flight`` are ids of servers whose evacuation Nova already accepted.
    """
    host_aggs = [a for a in aggregates if host in a.hosts]
    resolved = {
        s.id: resolve_protection(
            s, images.get(s.image_id) if s.image_id else None, host_aggs, config.key
        )
        for s in servers
    }
    any_true = any(p.marked is True for p in resolved.values())
    default = config.mode is Mode.ALL or (config.mode is Mode.TAGGED_OR_ALL and not any_true)
    if config.mode is Mode.TAGGED_OR_ALL:
        unmarked = (
            f"unmarked; mode {config.mode}: something on {host} is marked, so only marked servers"
            if any_true
            else f"unmarked; mode {config.mode}: nothing on {host} is marked, so all servers"
        )
    else:
        unmarked = f"unmarked; mode {config.mode}"

    evacuate: list[Decision] = []
    skip: list[Decision] = []
    for server in servers:
        prot = resolved[server.id]
        image = images.get(server.image_id) if server.image_id else None
        prio, prio_note = _priority(server, config.priority_key)
        protected = default if prot.marked is None else prot.marked
        reason = prot.reason if prot.marked is not None else f"{prot.reason} ({unmarked})"
        if prio_note:
            reason = f"{reason}; {prio_note}"
        if not protected:
            skip.append(Decision(server, Action.SKIP, f"not protected: {reason}", None, prio))
            continue
        if server.id not in in_flight:
            why_not = state_blocker(server) or blocker(
                server, image, config.flavor_blockers, config.image_blockers
            )
            if why_not:
                skip.append(Decision(server, Action.SKIP, f"not evacuable: {why_not}", None, prio))
                continue
        elif target_state(server) is None:
            reason = f"{reason}; evacuation in flight, target state unknown"
        else:
            reason = f"{reason}; evacuation already in flight"
        evacuate.append(Decision(server, Action.EVACUATE, reason, target_state(server), prio))

    evacuate.sort(key=lambda d: (-d.priority, d.server.name, d.server.id))
    skip.sort(key=lambda d: (d.server.name, d.server.id))
    targets = [h for h in config.reserved_hosts if h != host]
    if targets:
        evacuate = [
            replace(d, target_host=targets[i % len(targets)]) for i, d in enumerate(evacuate)
        ]
    return Plan(host, config.mode, tuple(evacuate + skip))
