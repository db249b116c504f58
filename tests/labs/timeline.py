"""Watch one host failure in the end-to-end lab and tell its story as a timeline.

A background thread samples, every ``interval`` seconds, what an admin could look at:
``crm_mon`` (node state, NovaCompute on the host, the evacuation attributes), the host's BMC
power log, and Nova (the host's nova-compute service, the protected servers). Each change of
one of these facts becomes an :class:`Event` stamped with the time it was first seen (the
BMC's power events carry their own exact time). Used by ``make demo``, the end-to-end tests
and ``bench/recovery.py``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from instanceha.cluster.attribute_names import EVACUATE_ATTRIBUTE as REQUEST
from instanceha.cluster.attribute_names import FENCING_HOLD_ATTRIBUTE as FENCING_HOLD
from instanceha.cluster.attribute_names import HOLD_ATTRIBUTE as HOLD
from instanceha.cluster.attribute_names import RESULT_ATTRIBUTE as RESULT
from instanceha.cluster.history import FenceHistory
from labs.cluster_lab import ClusterLab, ClusterStatus, LabHost

# Event kinds, in the order a healthy recovery shows them.
CRASH = "crash"
DETECTED = "detected"
POWER_OFF = "power-off"
FENCED = "fenced"
UNFENCED = "unfenced"
REQUESTED = "requested"
FORCED_DOWN = "forced-down"
FENCING_HELD = "fencing-held"
FENCING_RELEASED = "fencing-released"
HELD = "held"
RELEASED = "released"
EVACUATING = "evacuating"
INSTANCE = "instance"
ALL_INSTANCES = "all-instances"
DONE = "done"
POWER_ON = "power-on"
ONLINE = "online"
GATED = "gated"
STARTED = "nova-compute-started"
ENABLED = "re-enabled"


@dataclass(frozen=True)
class Event:
    at: float  # time.time()
    kind: str
    text: str


@dataclass(frozen=True)
class Watched:
    """One failed host: its node, its Nova host name and the servers that must come back."""

    host: LabHost
    nova_host: str
    servers: dict[str, str]  # server id -> expected status (ACTIVE/SHUTOFF)


@dataclass
class Timeline:
    """The events of one failure, from ``t0`` (the injected failure)."""

    t0: float
    events: list[Event] = field(default_factory=list)

    def add(self, kind: str, text: str, at: float | None = None) -> None:
        self.events.append(Event(time.time() if at is None else at, kind, text))

    def first(self, kind: str, node: str | None = None) -> Event | None:
        """The first event of ``kind`` (about ``node`` when given)."""
        for event in sorted(self.events, key=lambda e: e.at):
            if event.kind == kind and (node is None or event.text.startswith(node + ":")):
                return event
        return None

    def since(self, kind: str, node: str | None = None) -> float | None:
        """Seconds from the failure to the first ``kind`` event."""
        event = self.first(kind, node)
        return None if event is None else event.at - self.t0

    def kinds(self, kind: str) -> list[Event]:
        return [e for e in self.events if e.kind == kind]

    def render(self) -> str:
        """The timeline as text, one event per line, relative seconds."""
        rows = []
        for event in sorted(self.events, key=lambda e: e.at):
            rows.append(f"  +{event.at - self.t0:7.2f}s  {event.kind:<21} {event.text}")
        return "\n".join(rows)


class Observer:
    """Sample the lab in a thread; ``stop()`` returns the :class:`Timeline`."""

    def __init__(
        self,
        cluster: ClusterLab,
        nova: Any,  # labs.nova_lab.NovaLab
        watched: Sequence[Watched],
        *,
        interval: float = 0.25,
    ) -> None:
        self.cluster = cluster
        self.nova = nova
        self.watched = list(watched)
        self.interval = interval
        self.timeline = Timeline(time.time())
        self._seen: dict[tuple[str, str], object] = {}
        self._arrived: set[str] = set()
        self._fence_history = FenceHistory(cluster.runner())
        self._fencings_seen: set[tuple[str, str, str, float | None]] = set()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.errors: list[str] = []

    def __enter__(self) -> Observer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, crash_text: str = "failure injected") -> None:
        self.timeline = Timeline(time.time())
        self._power_seen = {w.host.name: len(w.host.power_events()) for w in self.watched}
        self._fencings_seen.clear()
        for w in self.watched:
            self.timeline.add(CRASH, f"{w.host.name}: {crash_text}", self.timeline.t0)
        self._sample_cluster()  # the state before the failure: later samples record changes
        self._sample_nova()
        # two samplers: a hung Nova API must not stop the cluster's side of the story
        self._threads = [
            threading.Thread(target=self._run, args=(fn,), name=f"timeline-{name}", daemon=True)
            for name, fn in (("cluster", self._sample_cluster), ("nova", self._sample_nova))
        ]
        for thread in self._threads:
            thread.start()

    def stop(self) -> Timeline:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)
        self._sample_cluster()
        self._sample_nova()
        return self.timeline

    def wait(self, done: Callable[[Timeline], bool], timeout: float, what: str) -> Timeline:
        """Block until ``done(timeline)`` or fail after ``timeout`` with the timeline so far."""
        deadline = time.monotonic() + timeout
        while not done(self.timeline):
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out after {timeout:.0f}s waiting for {what}; timeline so far:\n"
                    + self.timeline.render()
                    + ("\nsampling errors: " + "; ".join(self.errors[-3:]) if self.errors else "")
                )
            time.sleep(0.2)
        return self.timeline

    # -- sampling ------------------------------------------------------------------

    def _run(self, sample: Callable[[], None]) -> None:
        while not self._stop.wait(self.interval):
            sample()

    def _sample_cluster(self) -> None:
        try:
            status = self.cluster.crm_mon()
            permanent = self.cluster.permanent_attributes()
        except Exception as exc:  # a sample may fail while the cluster is busy: try again
            self.errors.append(f"crm_mon: {exc}")
            status, permanent = None, {}
        for w in self.watched:
            self._power(w)
            self._fencing(w)
            if status is not None:
                self._cluster(w, status, permanent.get(w.host.name, {}))

    def _sample_nova(self) -> None:
        try:
            nova = self.nova.nova()
            servers = {s.id: s for s in self.nova.servers()}
            services = {s.host: s for s in nova.services.list(binary="nova-compute")}
        except Exception as exc:  # Nova may be down on purpose
            self.errors.append(f"nova: {exc}")
            return
        for w in self.watched:
            self._nova(w, services.get(w.nova_host), servers)

    def _changed(self, w: Watched, key: str, value: object) -> bool:
        """Record ``value`` of fact ``key``; True when it differs from the one seen before
        (the first observation is the baseline, not a change)."""
        marker = object()
        old = self._seen.get((w.host.name, key), marker)
        self._seen[(w.host.name, key)] = value
        return old is not marker and old != value

    def _power(self, w: Watched) -> None:
        events = w.host.power_events()
        for at, what in events[self._power_seen[w.host.name] :]:
            kind = POWER_OFF if what == "power-off" else POWER_ON
            text = "BMC cut the power" if kind == POWER_OFF else "BMC powered the host on"
            self.timeline.add(kind, f"{w.host.name}: {text}", at)
        self._power_seen[w.host.name] = len(events)

    def _fencing(self, w: Watched) -> None:
        try:
            events = self._fence_history.events(w.host.name)
        except Exception as exc:  # pacemaker-fenced busy or restarting
            self.errors.append(f"fence history: {exc}")
            return
        for event in events:
            key = (w.host.name, event.action, event.state.value, event.completed_at)
            done = event.completed_at is not None and event.completed_at >= int(self.timeline.t0)
            if not done or not event.succeeded or key in self._fencings_seen:
                continue
            self._fencings_seen.add(key)
            by = f" by {event.device}" if event.device else ""
            kind, what = (FENCED, "fencing") if event.node_was_killed else (UNFENCED, "unfencing")
            self.timeline.add(kind, f"{w.host.name}: {what} ({event.action}) succeeded{by}")

    def _cluster(self, w: Watched, status: ClusterStatus, permanent: dict[str, str]) -> None:
        name = w.host.name
        node = status.nodes.get(name)
        online = node is not None and node.online
        if self._changed(w, "online", online):
            if online:
                self.timeline.add(ONLINE, f"{name}: back online (remote connection up)")
            else:
                self.timeline.add(DETECTED, f"{name}: lost (remote connection failed)")
        attrs = {**(node.attributes if node is not None else {}), **permanent}
        request = attrs.get(REQUEST, "")
        state = request.split(":")[0]
        owner = request.split(":")[1] if state == "in-progress" else ""
        # a new state or owner, not the claim's heartbeat renewals
        if self._changed(w, "request", (state, owner)) and request:
            kind = {"requested": REQUESTED, "in-progress": EVACUATING, "done": DONE}.get(state)
            if kind:
                self.timeline.add(kind, f"{name}: {REQUEST}={request}")
        fencing_hold = attrs.get(FENCING_HOLD, "").split(":")[0]
        if self._changed(w, FENCING_HOLD, fencing_hold) and fencing_hold in ("held", "released"):
            kind, what = (FENCING_HELD, "fencing held by fence_hold") if fencing_hold == "held" \
                else (FENCING_RELEASED, "fencing hold released by an admin")
            self.timeline.add(kind, f"{name}: {what}")
        hold = attrs.get(HOLD, "").split(":")[0]
        if self._changed(w, HOLD, hold) and hold in ("held", "released"):
            kind, what = (HELD, "held by the mass-failure guard") if hold == "held" else (
                RELEASED, "released by an admin")
            self.timeline.add(kind, f"{name}: evacuation {what}")
        result = attrs.get(RESULT, "")
        if self._changed(w, RESULT, result) and result:
            self.timeline.add(DONE, f"{name}: result: {result}")
        running = name in status.running_on("nova-compute")
        pending = request.startswith(("requested", "in-progress"))
        gated = online and pending and not running
        if self._changed(w, "gated", gated) and gated:
            self.timeline.add(GATED, f"{name}: nova-compute held back by the gate rule")
        if self._changed(w, "running", running) and running:
            self.timeline.add(STARTED, f"{name}: nova-compute started by NovaCompute")

    def _nova(self, w: Watched, service: Any, servers: dict[str, Any]) -> None:
        name = w.host.name
        if service is not None:
            forced = bool(service.forced_down)
            if self._changed(w, "forced", forced) and forced:
                self.timeline.add(FORCED_DOWN, f"{name}: Nova service {w.nova_host} forced down")
            ok = not forced and service.status == "enabled" and service.state == "up"
            if self._changed(w, "enabled", ok) and ok:
                self.timeline.add(ENABLED, f"{name}: {w.nova_host} up, enabled, not forced down")
        for sid, expected in w.servers.items():
            server = servers.get(sid)
            if sid in self._arrived or server is None:
                continue
            host = getattr(server, "OS-EXT-SRV-ATTR:host", None)
            task = getattr(server, "OS-EXT-STS:task_state", None)
            if host and host != w.nova_host and server.status == expected and task is None:
                self._arrived.add(sid)
                self.timeline.add(INSTANCE, f"{name}: {server.name} {expected} on {host}")
                if all(s in self._arrived for s in w.servers):
                    self.timeline.add(
                        ALL_INSTANCES, f"{name}: all {len(w.servers)} protected instances back"
                    )

