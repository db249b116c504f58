"""The evacuator loop: durable requests in, evacuations out, progress in node attributes.

Each pass (every ``poll_interval`` seconds):

1. touch the heartbeat file (NovaEvacuate's monitor checks its age); then do
   nothing more while this controller's partition has no quorum: its CIB is
   not the cluster's, and the quorate side, which fences this controller,
   takes the requests over (running evacuations stop at their next journal
   write, which refuses to go on without quorum);
2. reconcile with the fencing history: a compute node fenced recently whose
   request is absent or older than the fencing gets a new request, unless
   Nova reports its nova-compute up and not forced down (never evacuate a
   live host) — this catches an alert that never ran;
3. apply the mass-failure guard (:mod:`instanceha.evacuator.guard`), each
   failure counted from when it happened (recorded once per failure);
4. claim each claimable request (``requested``; another owner's ``in-progress``
   once it is ``stale_after`` old, or at once when its owner is a controller the
   cluster knows is down: offline and clean, i.e. fenced, or stopped after its
   worker released its claims; a controller lost but not yet fenced may still
   run its worker) and run the engine for it in its own thread; renew the
   claims of running hosts; a finished run completes the request when every
   protected instance is accounted for and Nova lists no evacuation from the
   host still moving, and gives it back for a later retry otherwise;
5. return hosts whose nova-compute NovaCompute started again to service in
   Nova (:mod:`instanceha.evacuator.service_return`).
6. write the metrics file when due (:mod:`instanceha.evacuator.metrics`).

A claimed host's previous result is withdrawn (a new incident never shows the
last one's result as current) and its progress is published at most every
``progress_every`` seconds (the latest snapshot at most that and a pass late, a
run's last one at once). A run's end publishes its counts
(:data:`RESULT_ATTRIBUTE`) and, in :data:`NOT_EVACUATED_ATTRIBUTE`, every
server it did not evacuate with why (one bounded line,
:func:`~instanceha.evacuation.outcome.encode_not_evacuated`), each also logged
at WARNING.

What is written where, and how often
------------------------------------
Every attribute write is a CIB update that the CIB manager sends to every
cluster node and that makes the controller run the scheduler again; a
*permanent* attribute (``--lifetime forever``) is moreover a configuration
change, which every node writes to its disk (``cib.xml`` and a backup copy).
So only what must survive gets a permanent attribute, and it is written as
few times as the protocol allows:

* :data:`~instanceha.cluster.evacuation.EVACUATE_ATTRIBUTE` (permanent): the
  durable request must outlive the controller handling it and a full cluster
  restart. Its claim is renewed only when it is ``claim_renewal`` seconds old
  (default: a third of ``stale_after`` less one pass), not on every pass: a
  claim is then never older than about ``stale_after / 3`` plus a pass when
  another controller judges it, well under ``stale_after``.
* :data:`~instanceha.evacuator.guard.FAILED_AT_ATTRIBUTE` (permanent): when the
  host failed, written once per failure and once when it is closed; it must
  outlive a full cluster restart (which empties the fencing history).
* :data:`~instanceha.evacuator.cib_journal.JOURNAL_ATTRIBUTE` (permanent): the
  target states (which servers were SHUTOFF) must survive a controller failover
  and a full cluster restart, and the failed node's own transient attributes are
  purged when it comes back. The engine writes it once after discovery and at
  most twice per poll cycle that makes evacuate calls (not once per call), and
  deletes it when complete (:mod:`instanceha.evacuation.engine`).
* :data:`RESULT_ATTRIBUTE` and :data:`NOT_EVACUATED_ATTRIBUTE` (permanent):
  written once per run, and read after the fact. Pacemaker purges a remote
  node's transient attributes when its connection goes down and again when it
  comes back, so a transient result would vanish seconds after the evacuation,
  as soon as the host is online again.
* :data:`PROGRESS_ATTRIBUTE` (transient, ``pacemaker-attrd``, at most every
  ``progress_every`` seconds): it only matters while a run goes on, and whoever
  runs next (another controller, or this one after a full restart) publishes it
  anew from what it reads back from Nova. While the host is down, attrd keeps
  it without writing it to the CIB (no CIB update at all; ``instanceha status``
  asks attrd); once the host is back online it is in the CIB's status section,
  shown by ``crm_mon -A`` and ``instanceha status``, without touching the
  configuration. The host's reconnection purges it; the next snapshot puts it
  back. A permanent value left by an older version is withdrawn when a run
  starts.

Stopping releases this worker's claims, so another controller (or this one,
restarted) resumes at once; the engine reads what was done back from Nova.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from instanceha.clock import Clock, SystemClock
from instanceha.cluster import (
    ClusterError,
    ClusterNodes,
    EvacuationRequest,
    EvacuationRequests,
    EvacuationState,
    FenceEvent,
    FenceHistory,
    NodeAttributes,
    NodeInfo,
    TransientAttributes,
)
from instanceha.cluster.attribute_names import (
    FAILED_AT_ATTRIBUTE,
    FENCING_HOLD_ATTRIBUTE,
    HELD,
    HOLD_ATTRIBUTE,
    NOT_EVACUATED_ATTRIBUTE,
    NOVA_HOST_ATTRIBUTE,
    PROGRESS_ATTRIBUTE,
    RESULT_ATTRIBUTE,
    hold_applies,
    hold_value,
)
from instanceha.evacuation.config import EngineConfig
from instanceha.evacuation.engine import EvacuationEngine
from instanceha.evacuation.outcome import HostProgress, HostReport, encode_not_evacuated
from instanceha.evacuation.policy import PolicyConfig
from instanceha.evacuation.tracker import IN_FLIGHT_STATUSES
from instanceha.evacuator.cib_journal import CibJournal
from instanceha.evacuator.guard import GuardConfig, evaluate, failure_times
from instanceha.evacuator.metrics import EvacuatorMetrics
from instanceha.evacuator.service_return import MarkerStore, ServiceReturn
from instanceha.nova.hostmap import HostMap, HostMapError
from instanceha.nova.model import NovaError, NovaPort

__all__ = ["Evacuator", "EvacuatorSettings", "NoQuorum"]

_LOG = logging.getLogger("instanceha.evacuator")

#: Most characters of any value the worker publishes (the CIB copies it to every node).
_VALUE_MAX = 4096


@dataclass(frozen=True)
class EvacuatorSettings:
    """What the worker needs besides its collaborators."""

    owner: str
    heartbeat_path: str
    poll_interval: float = 5.0
    stale_after: float = 60.0
    retry_after: float = 30.0
    history_window: float = 3600.0
    progress_every: float = 5.0
    #: renew a running claim once it is this old; None: ``stale_after / 3 - poll_interval``
    renew_after: float | None = None
    engine: EngineConfig = field(default_factory=EngineConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    guard: GuardConfig = field(default_factory=GuardConfig)
    #: node_exporter textfile to write (:mod:`instanceha.evacuator.metrics`); "": none
    metrics_file: str = ""

    @property
    def claim_renewal(self) -> float:
        """Age at which a running claim is renewed (see the module docstring)."""
        if self.renew_after is not None:
            return self.renew_after
        return max(0.0, self.stale_after / 3 - self.poll_interval)


class NoQuorum(ClusterError):
    """This controller's partition has no quorum: it may not act for the cluster."""


class Evacuator:
    """Runs passes until stopped; see the module docstring."""

    def __init__(
        self,
        settings: EvacuatorSettings,
        nova_factory: Callable[[], NovaPort],
        host_map: HostMap,
        *,
        attributes: NodeAttributes | None = None,
        nodes: ClusterNodes | None = None,
        history: FenceHistory | None = None,
        transient: MarkerStore | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings
        self._nova_factory = nova_factory
        self._nova: NovaPort | None = None
        self._base_map = host_map
        self.attrs = attributes or NodeAttributes()
        self.clock = clock or SystemClock()
        self.requests = EvacuationRequests(self.attrs, clock=self.clock)
        self.nodes = nodes or ClusterNodes()
        self.history = history or FenceHistory()
        self.transient: MarkerStore = transient or TransientAttributes()
        self.service_return = ServiceReturn(self.transient, lambda: self.nova)
        self._running: dict[str, threading.Thread] = {}
        self._retry_at: dict[str, float] = {}
        self._last_progress: dict[str, float] = {}
        self._unpublished: dict[str, HostProgress] = {}
        self._guard_reason = ""
        self._had_quorum = True
        self._lock = threading.Lock()
        self.metrics = EvacuatorMetrics(self.clock, settings.metrics_file)

    # ------------------------------------------------------------ plumbing

    @property
    def nova(self) -> NovaPort:
        """The Nova client, created on first use (keeps start and probes cheap)."""
        if self._nova is None:
            self._nova = self._nova_factory()
        return self._nova

    def host_map(self, published: Mapping[str, str] | None = None) -> HostMap:
        """The mapping rules with the Nova host names nodes have published."""
        if published is None:
            published = self.attrs.get_all(NOVA_HOST_ATTRIBUTE)
        return replace(self._base_map, published=dict(published))

    def heartbeat(self) -> None:
        """Tell the monitor we are alive (mtime of the heartbeat file)."""
        with open(self.settings.heartbeat_path, "a", encoding="ascii"):
            pass
        os.utime(self.settings.heartbeat_path)

    # ------------------------------------------------------------ one pass

    def run_pass(self) -> None:
        """One look at the cluster: reconcile, guard, claim, renew (only with quorum)."""
        self.heartbeat()
        if not self._quorate():
            self.metrics.flush()
            return
        requests = self.requests.all()
        published = self.attrs.get_all(NOVA_HOST_ATTRIBUTE)
        nodes = self._cluster_nodes()
        computes = set(published) | {n.name for n in nodes if n.is_remote}
        # a claim of a controller the cluster knows is down (fenced, or stopped: its worker
        # released its claims) is taken over at once instead of after takeover_after
        gone = {n.name for n in nodes if not n.is_remote and not n.online and not n.unclean
                and not n.maintenance}  # in maintenance, its unmanaged worker may run on
        events = self._fence_events()
        self.metrics.fencings_seen(events, computes)
        if self._reconcile_history(events, requests, computes, self.host_map(published)):
            requests = self.requests.all()
        failed_at = self._failure_times(requests, events)
        holds = self.attrs.get_all(HOLD_ATTRIBUTE)
        now = self.clock.time()
        verdict = evaluate(self.settings.guard, requests, holds, len(computes), now,
                           failed_at=failed_at)
        if verdict.tripped:
            if verdict.reason != self._guard_reason:
                _LOG.critical("mass-failure guard: HOLDING evacuation of %s: %s",
                              ", ".join(sorted(verdict.held)), verdict.reason)
                self._guard_reason = verdict.reason
            for node in verdict.held:
                if not hold_applies(holds.get(node, ""), HELD, failed_at.get(node, now)):
                    self.attrs.set(node, HOLD_ATTRIBUTE, hold_value(HELD, now))
        self.metrics.pass_seen(requests, failed_at, verdict.held,
                               lambda: self.attrs.get_all(FENCING_HOLD_ATTRIBUTE))
        for node, request in sorted(requests.items()):
            if node in verdict.held:
                continue
            self._handle(node, request, owner_gone=request.owner in gone)
        self.service_return.run(requests, self.host_map(published))
        self.metrics.flush()

    def _quorate(self) -> bool:
        """Whether this partition has quorum; said loudly when that changes."""
        quorate = self.nodes.quorate()
        if quorate != self._had_quorum:
            if quorate:
                _LOG.warning("quorum regained: evacuating again")
            else:
                _LOG.critical("NO QUORUM: evacuating nothing until this partition regains it")
            self._had_quorum = quorate
        self.metrics.quorum(quorate)
        return quorate

    def _need_quorum(self) -> None:
        """Raise :class:`NoQuorum` unless this partition has quorum (before a journal write)."""
        if not self.nodes.quorate():
            raise NoQuorum("this partition lost quorum: evacuation stopped, resumable")

    def _failure_times(self, requests: Mapping[str, EvacuationRequest],
                       events: list[FenceEvent] | None) -> dict[str, int]:
        """When each requested node failed; records a new failure, closes a finished one."""
        fenced: dict[str, list[float]] = {}
        for event in events or ():
            if event.node_was_killed and event.completed_at:
                fenced.setdefault(event.target, []).append(event.completed_at)
        times, writes = failure_times(requests, self.attrs.get_all(FAILED_AT_ATTRIBUTE), fenced,
                                      lookback=self.settings.history_window)
        for node, value in writes.items():
            if value is None:
                self._withdraw(node, FAILED_AT_ATTRIBUTE)
            else:
                self._set(node, FAILED_AT_ATTRIBUTE, value)
        return times

    def _cluster_nodes(self) -> list[NodeInfo]:
        try:
            return self.nodes.nodes()
        except ClusterError as error:
            _LOG.warning("cannot list the cluster's nodes: %s", error)
            return []

    def _handle(self, node: str, request: EvacuationRequest, *, owner_gone: bool = False) -> None:
        with self._lock:
            running = node in self._running and self._running[node].is_alive()
        if running:
            if self._renewal_due(request):
                self.requests.renew(node, self.settings.owner)
            self._flush_progress(node)
            return
        if request.state is EvacuationState.DONE:
            return
        if self.clock.time() < self._retry_at.get(node, 0.0):
            return
        claimed = self.requests.claim(node, self.settings.owner,
                                      stale_after=0.0 if owner_gone else self.settings.stale_after)
        if claimed is None:
            return
        _LOG.info("claimed evacuation of %s (was %s)", node, request.encode())
        thread = threading.Thread(target=self._evacuate, args=(node,), daemon=True,
                                  name=f"evacuate-{node}")
        with self._lock:
            self._running[node] = thread
        thread.start()

    def _renewal_due(self, request: EvacuationRequest) -> bool:
        """False while ``request`` is our own claim and younger than the renewal age."""
        ours = (request.state is EvacuationState.IN_PROGRESS
                and request.owner == self.settings.owner)
        return not ours or request.age(self.clock.time()) >= self.settings.claim_renewal

    # ------------------------------------------------------------ one host

    def _evacuate(self, node: str) -> None:
        try:
            host = self.host_map().nova_host(node)
            journal = CibJournal(self.attrs, lambda _host: node, before_write=self._need_quorum)
            engine = EvacuationEngine(
                self.nova, clock=self.clock, config=self.settings.engine,
                policy=self.settings.policy, journal=journal,
                on_progress=lambda progress: self._publish_progress(node, progress),
            )
            self.service_return.withdraw(node)
            self._withdraw(node, RESULT_ATTRIBUTE)
            self._withdraw(node, NOT_EVACUATED_ATTRIBUTE)
            self._withdraw(node, PROGRESS_ATTRIBUTE)  # a permanent one from an older version
            self._show_progress(node, f"started on {self.settings.owner}")
            report = engine.run(host)
            self._finish(node, report)
        except NoQuorum as error:
            # write nothing more into this partition's CIB and keep the claim: the quorate
            # side takes it over once it has fenced this controller
            _LOG.critical("evacuation of %s stopped: %s", node, error)
        except (HostMapError, NovaError, ClusterError) as error:
            _LOG.error("evacuation of %s failed to run: %s; retrying in %.0fs",
                       node, error, self.settings.retry_after)
            self._set(node, RESULT_ATTRIBUTE, f"error: {error}")
            self.metrics.run_failed()
            self._give_back(node)
        except Exception:
            _LOG.exception("evacuation of %s crashed; retrying", node)
            self.metrics.run_failed()
            self._give_back(node)
        finally:
            with self._lock:
                self._running.pop(node, None)

    def _finish(self, node: str, report: HostReport) -> None:
        summary = report.summary().splitlines()[0]
        self._set(node, RESULT_ATTRIBUTE, summary)
        left = report.not_evacuated()
        for outcome in left:
            _LOG.warning("%s: %s %s (%s) not evacuated: %s", node, outcome.kind, outcome.name,
                         outcome.server_id, outcome.reason)
        if left:
            self._set(node, NOT_EVACUATED_ATTRIBUTE, encode_not_evacuated(left))
        moving = self._still_moving(report.host) if report.complete else 0
        if moving:
            _LOG.warning("evacuation of %s accounted for, but Nova lists %d evacuation(s) "
                         "from %s still moving; retrying in %.0fs", node, moving, report.host,
                         self.settings.retry_after)
            self._give_back(node)
        elif report.complete:
            if self.requests.complete(node, self.settings.owner):
                _LOG.info("evacuation of %s complete: %s", node, summary)
                self._show_progress(node, "complete")
                self.metrics.run_finished(node, report, done=True)
                return
            else:
                _LOG.warning("evacuation of %s finished but the request changed hands", node)
        else:
            _LOG.warning("evacuation of %s unfinished (%s); retrying in %.0fs",
                         node, report.error or "pending instances", self.settings.retry_after)
            self._give_back(node)
        self.metrics.run_finished(node, report, done=False)

    def _still_moving(self, host: str) -> int:
        """Evacuations from ``host`` Nova still works on (whoever started them): the
        host's nova-compute may start only once there are none."""
        return sum(m.status in IN_FLIGHT_STATUSES for m in self.nova.list_evacuations(host))

    def _give_back(self, node: str) -> None:
        self._retry_at[node] = self.clock.time() + self.settings.retry_after
        try:
            self.requests.release(node, self.settings.owner)
        except ClusterError as error:
            _LOG.warning("cannot release %s: %s", node, error)

    def _publish_progress(self, node: str, progress: HostProgress) -> None:
        """Publish now, or keep it for :meth:`_flush_progress` when the last one is recent."""
        with self._lock:
            self._unpublished[node] = progress
        finished = progress.in_flight == 0 and progress.pending == 0
        if finished:
            self._flush_progress(node, force=True)
        else:
            self._flush_progress(node)

    def _flush_progress(self, node: str, *, force: bool = False) -> None:
        now = self.clock.monotonic()
        with self._lock:
            recently = now - self._last_progress.get(node, -1e9) < self.settings.progress_every
            progress = None if recently and not force else self._unpublished.pop(node, None)
            if progress is None:
                return
            self._last_progress[node] = now
        self._show_progress(node,
                            f"{progress.evacuated}/{progress.total} evacuated, "
                            f"{progress.failed} failed, {progress.skipped} skipped, "
                            f"{progress.in_flight} in flight")

    def _show_progress(self, node: str, value: str) -> None:
        """Publish the transient progress attribute (see the module docstring)."""
        try:
            self.transient.set(node, PROGRESS_ATTRIBUTE, _one_line(value))
        except ClusterError as error:
            _LOG.warning("cannot publish %s on %s: %s", PROGRESS_ATTRIBUTE, node, error)

    def _withdraw(self, node: str, name: str) -> None:
        try:
            self.attrs.delete(node, name)
        except ClusterError as error:
            _LOG.warning("cannot withdraw %s on %s: %s", name, node, error)

    def _set(self, node: str, name: str, value: str) -> None:
        """Publish ``value`` as a permanent attribute (:func:`_one_line`)."""
        try:
            self.attrs.set(node, name, _one_line(value))
        except ClusterError as error:
            _LOG.warning("cannot publish %s on %s: %s", name, node, error)

    # ------------------------------------------------------------ missed alerts

    def _fence_events(self) -> list[FenceEvent] | None:
        """The fencing history; None when it cannot be read."""
        try:
            return self.history.events()
        except ClusterError as error:
            _LOG.warning("cannot read the fencing history: %s", error)
            return None

    def _reconcile_history(self, events: list[FenceEvent] | None,
                           requests: Mapping[str, EvacuationRequest],
                           computes: set[str], host_map: HostMap) -> bool:
        """Request evacuation of recently fenced computes that lack one; True if any was."""
        if events is None:
            return False
        now = self.clock.time()
        latest: dict[str, float] = {}
        for event in events:
            if event.target in computes and event.node_was_killed and event.completed_at:
                latest[event.target] = max(latest.get(event.target, 0.0), event.completed_at)
        added = False
        for node, fenced_at in latest.items():
            if now - fenced_at > self.settings.history_window:
                continue
            request = requests.get(node)
            if request is not None and (request.state is not EvacuationState.DONE
                                        or request.since >= int(fenced_at)):
                continue
            if self._nova_says_up(node, host_map):
                continue
            if self.requests.request(node):
                added = True
                _LOG.warning("%s was fenced at %d but no evacuation was requested "
                             "(missed alert?): requested now", node, fenced_at)
        return added

    def _nova_says_up(self, node: str, host_map: HostMap) -> bool:
        try:
            host = host_map.nova_host(node)
            services = self.nova.list_compute_services(host)
        except (HostMapError, NovaError) as error:
            _LOG.warning("not reconciling %s: cannot check Nova: %s", node, error)
            return True  # unknown: do not evacuate on a guess
        live = [s for s in services if s.state == "up" and not s.forced_down]
        if live:
            _LOG.warning("%s was fenced but Nova reports nova-compute on %s up: not evacuating",
                         node, host)
        return bool(live)

    # ------------------------------------------------------------ lifecycle

    def run(self, stop: threading.Event) -> None:
        """Run passes until ``stop`` is set, then release our claims."""
        _LOG.info("evacuator started on %s", self.settings.owner)
        while not stop.is_set():
            try:
                self.run_pass()
            except ClusterError as error:
                _LOG.warning("pass failed, retrying: %s", error)
            except Exception:
                _LOG.exception("pass crashed, retrying")
            stop.wait(self.settings.poll_interval)
        self.release_all()
        self.metrics.remove()
        _LOG.info("evacuator stopped on %s", self.settings.owner)

    def release_all(self) -> None:
        """Give back every request we hold, for a prompt takeover."""
        try:
            requests = self.requests.all()
        except ClusterError as error:
            _LOG.warning("cannot read requests on stop: %s", error)
            return
        for node, request in requests.items():
            ours = request.owner == self.settings.owner
            if request.state is EvacuationState.IN_PROGRESS and ours:
                self.requests.release(node, self.settings.owner)
                _LOG.info("released %s for resumption", node)


def _one_line(value: str) -> str:
    """``value`` as one line of at most :data:`_VALUE_MAX` characters."""
    value = " ".join(value.replace("\0", " ").split())
    if len(value) > _VALUE_MAX:
        value = value[: _VALUE_MAX - 3] + "..."
    return value
