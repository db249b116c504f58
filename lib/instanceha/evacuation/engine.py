"""Evacuate a fenced compute host: every protected server ends on another host, exactly once.

:meth:`EvacuationEngine.run` does, for one host:

1. **Tell Nova**: force the host's nova-compute down, then disable it with a
   reason starting with ``OUR_DISABLED_REASON_PREFIX`` (an operator's disable
   is left alone).
2. **Look**: servers on the host, evacuation migrations from it (servers that
   already left, from an earlier run, are looked up too), their images, the
   aggregates, the journal; build the :class:`~instanceha.evacuation.policy.Plan`.
3. **Reconcile** in poll cycles until every server is finished or the deadline
   passes. A cycle reads the host's migrations once, then steps every
   :class:`~instanceha.evacuation.tracker.Tracker` that has something to do, in
   a thread pool; new evacuate calls only while fewer than ``max_parallel``
   evacuations are in flight, sent in ``submit_parallel`` sequential chains
   (Nova's answer time paces them), at most one per ``stagger`` when set.
4. **Report** a :class:`~instanceha.evacuation.outcome.HostReport`.

Nova outages (NovaUnavailable, NovaTimeout) pause the work with exponential
backoff (``outage_backoff`` .. ``outage_backoff_max``) and never count as a
failed attempt; servers still unfinished at the deadline are reported
*pending*, never failed, and a later run resumes them. NovaAuthError stops the
run at once: the report carries it as a host-level ``error``, unfinished
servers are pending, and the caller (the agent) surfaces it and retries on its
own schedule, since retrying with the same credentials will not help.

Resuming is safe at any point (see :mod:`instanceha.evacuation.tracker` for
the exactly-once argument): what was done is read back from Nova; the
:class:`~instanceha.evacuation.journal.Journal` only remembers target states
and attempt counts.

The journal is written rarely (the evacuator's is a permanent CIB attribute:
each write is a configuration change stored on every cluster node): once after
discovery (every target state, only when it differs from what was loaded), then
at most twice per poll cycle: before a cycle's evacuate calls, one attempt is
counted for every server about to be stepped from WAITING (the only phase that
calls evacuate), so every call is counted before it is made; after the cycle,
the counts are set to what the trackers really spent, when that differs (a
server that made no call after all, a call that died in an outage). Cycles
without new calls write nothing. A crash between the two writes leaves one
attempt too many for some servers, never one too few.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from functools import partial
from typing import TypeVar

from instanceha.clock import Clock, SystemClock
from instanceha.evacuation.config import EngineConfig
from instanceha.evacuation.journal import Journal, JournalEntry, MemoryJournal
from instanceha.evacuation.outcome import HostProgress, HostReport, InstanceOutcome, OutcomeKind
from instanceha.evacuation.policy import Plan, PolicyConfig, build_plan
from instanceha.evacuation.tracker import (
    IN_FLIGHT_STATUSES,
    SUCCEEDED_STATUSES,
    Phase,
    StepContext,
    Tracker,
)
from instanceha.nova.model import (
    OUR_DISABLED_REASON_PREFIX,
    Image,
    Migration,
    NovaAuthError,
    NovaError,
    NovaNotFound,
    NovaPort,
    NovaUnavailable,
    Server,
)

__all__ = ["EvacuationEngine", "ProgressCallback"]

_LOG = logging.getLogger("instanceha.evacuation")
_T = TypeVar("_T")

ProgressCallback = Callable[[HostProgress], None]


class _Abort(Exception):
    """The run cannot go on; ``str()`` is the host-level error."""


class _Run:
    """The state of one :meth:`EvacuationEngine.run` call."""

    def __init__(self, engine: EvacuationEngine, host: str) -> None:
        self.engine = engine
        self.host = host
        self.clock = engine.clock
        self.config = engine.config
        self.start = self.clock.monotonic()
        self.deadline = self.start + self.config.deadline
        self.outages = 0
        self.outage_note = ""
        self.last_submit = float("-inf")
        self.skipped: list[InstanceOutcome] = []
        self.trackers: list[Tracker] = []
        self.journal: dict[str, JournalEntry] = {}  # what the journal must say
        self.saved: dict[str, JournalEntry] = {}  # what it says (the last load or save)
        self.lock = threading.Lock()
        self.last_progress: HostProgress | None = None

    # ------------------------------------------------------------ Nova access

    def call(self, what: str, fn: Callable[[], _T]) -> _T:
        """``fn()``, waiting out Nova outages until the deadline."""
        while True:
            try:
                result = fn()
            except NovaAuthError as exc:
                raise _Abort(f"Nova refused our credentials during {what}: {exc}") from exc
            except NovaUnavailable as exc:
                self.outage(exc)
                if self.clock.monotonic() >= self.deadline:
                    raise _Abort(f"Nova unavailable until the deadline ({what}): {exc}") from exc
                self.clock.sleep(self.outage_wait())
                continue
            self.recovered()
            return result

    def outage(self, exc: NovaError) -> None:
        self.outages += 1
        self.outage_note = f"Nova unavailable: {exc}"
        log = _LOG.warning if self.outages == 1 else _LOG.debug
        log("%s: %s; backing off (attempt %d)", self.host, self.outage_note, self.outages)

    def outage_wait(self) -> float:
        wait = self.config.outage_delay(self.outages)
        return max(0.0, min(wait, self.deadline - self.clock.monotonic()))

    def recovered(self) -> None:
        if self.outages:
            _LOG.info("%s: Nova answers again after %d failed calls", self.host, self.outages)
        self.outages = 0
        self.outage_note = ""

    # ---------------------------------------------------------------- phases

    def fence_in_nova(self) -> None:
        services = self.call(
            "service lookup", lambda: self.engine.nova.list_compute_services(self.host)
        )
        if not services:
            raise _Abort(f"Nova has no nova-compute service on host {self.host}")
        svc = services[0]
        if not svc.forced_down:
            svc = self.call("force-down", lambda: self.engine.nova.force_down(self.host))
            _LOG.info("%s: nova-compute forced down", self.host)
        if svc.status == "enabled":
            stamp = datetime.fromtimestamp(self.clock.time(), tz=UTC).isoformat(timespec="seconds")
            reason = f"{OUR_DISABLED_REASON_PREFIX} evacuating since {stamp}"
            self.call("disable", lambda: self.engine.nova.disable(self.host, reason))
            _LOG.info("%s: nova-compute disabled (%s)", self.host, reason)
        elif not svc.disabled_by_us:
            _LOG.info(
                "%s: already disabled by someone else (%s): kept", self.host, svc.disabled_reason
            )

    def plan(self) -> Plan:
        nova = self.engine.nova
        servers = self.call("server listing", lambda: nova.list_servers_on_host(self.host))
        migrations = self.call("migration listing", lambda: nova.list_evacuations(self.host))
        on_host = {s.id for s in servers}
        in_flight: set[str] = set()
        for mig in migrations:
            if mig.status in IN_FLIGHT_STATUSES:
                in_flight.add(mig.instance_uuid)
            elif mig.status in SUCCEEDED_STATUSES - {"completed"}:
                in_flight.add(mig.instance_uuid)  # done, not yet cleaned up: this incident
        for sid in sorted(in_flight - on_host):
            moved = self.call("server lookup", partial(_maybe, nova.get_server, sid))
            if moved is not None:
                servers.append(moved)
        images = self.images(servers)
        aggregates = self.call("aggregate listing", nova.list_aggregates)
        self.journal = self.engine.journal.load(self.host)
        self.saved = dict(self.journal)
        plan = build_plan(
            self.host, servers, images, aggregates, config=self.engine.policy, in_flight=in_flight
        )
        for decision in plan.skipped:
            self.skipped.append(
                InstanceOutcome(
                    decision.server.id, decision.server.name, OutcomeKind.SKIPPED, decision.reason
                )
            )
        for decision in plan.to_evacuate:
            entry = self.journal.get(decision.server.id)
            target = entry.target_state if entry else decision.target_state
            attempts = entry.attempts if entry else 0
            self.journal[decision.server.id] = JournalEntry(decision.server.id, target, attempts)
            self.trackers.append(
                Tracker(
                    decision,
                    self.host,
                    target,
                    attempts=attempts,
                    since=self.start,
                    next_at=self.start,
                    seen=decision.server,
                )
            )
        self.save_journal()  # once: every target state, before any evacuate call
        _LOG.info(
            "%s: %d servers, %d to evacuate, %d skipped (mode %s)",
            self.host,
            len(plan.decisions),
            len(plan.to_evacuate),
            len(plan.skipped),
            plan.mode,
        )
        return plan

    def images(self, servers: Sequence[Server]) -> dict[str, Image | None]:
        wanted = sorted({s.image_id for s in servers if s.image_id})
        return {
            iid: self.call("image lookup", partial(_maybe, self.engine.nova.get_image, iid))
            for iid in wanted
        }

    def reconcile(self, pool: ThreadPoolExecutor) -> str | None:
        """Poll cycles until every tracker finished; the reason when stopped early."""
        while True:
            now = self.clock.monotonic()
            if all(t.phase is Phase.FINISHED for t in self.trackers):
                return None
            if now >= self.deadline:
                return self.outage_note or f"deadline of {self.config.deadline:.0f}s passed"
            try:
                migrations = self.engine.nova.list_evacuations(self.host)
            except NovaAuthError as exc:
                raise _Abort(f"Nova refused our credentials: {exc}") from exc
            except NovaUnavailable as exc:
                self.outage(exc)
                self.clock.sleep(self.outage_wait())
                continue
            failed = self.cycle(pool, now, migrations)
            self.settle_journal()
            self.progress()
            if failed is not None:
                self.outage(failed)
                self.clock.sleep(self.outage_wait())
            else:
                self.recovered()
                self.clock.sleep(self.pause(self.clock.monotonic()))

    def cycle(
        self, pool: ThreadPoolExecutor, now: float, migrations: Sequence[Migration]
    ) -> NovaError | None:
        """Step busy trackers, then start evacuations in the slots that frees.

        Returns the outage error if a step met one (the engine then backs off).
        """
        by_server: dict[str, list[Migration]] = {}
        for mig in migrations:
            by_server.setdefault(mig.instance_uuid, []).append(mig)
        busy = [t for t in self.trackers if t.phase in (Phase.SUBMITTED, Phase.CONVERGING)]
        outage = self.step_all(pool, busy, now, by_server)
        if outage is not None:
            return outage
        slots = self.config.max_parallel - sum(t.phase is Phase.SUBMITTED for t in self.trackers)
        if self.config.stagger > 0:
            slots = min(slots, 1 if now - self.last_submit >= self.config.stagger else 0)
        ready = [t for t in self.trackers if t.phase is Phase.WAITING and t.next_at <= now]
        chosen = ready[: max(0, slots)]
        self.reserve_attempts(chosen)
        return self.step_all(pool, chosen, now, by_server, self.config.submit_parallel)

    def step_all(
        self,
        pool: ThreadPoolExecutor,
        trackers: Sequence[Tracker],
        now: float,
        by_server: Mapping[str, Sequence[Migration]],
        chains: int = 0,
    ) -> NovaError | None:
        """Step ``trackers`` in the pool, one task each, or in ``chains`` sequential
        tasks (new evacuations: Nova's answer time then paces the submissions).
        Re-raises crashes; returns an outage error if a step met one."""
        nova = self.engine.nova

        def run_chain(chain: Sequence[Tracker]) -> int:
            submitted = 0
            for t in chain:
                mine = by_server.get(t.server_id, ())
                submitted += t.step(
                    StepContext(nova, now, self.start, self.config, mine, self.record)
                )
            return submitted

        groups = [trackers[i::chains] for i in range(chains)] if chains else [[t] for t in trackers]
        futures: list[Future[int]] = [pool.submit(run_chain, g) for g in groups if g]
        outage: NovaError | None = None
        crash: BaseException | None = None
        for future in futures:
            try:
                if future.result():
                    self.last_submit = now
            except NovaAuthError as exc:
                crash = crash or _Abort(f"Nova refused our credentials: {exc}")
            except NovaUnavailable as exc:
                outage = exc
            except BaseException as exc:  # an engine bug or a crash: stop, resumable
                crash = crash or exc
        if crash is not None:
            raise crash
        return outage

    def pause(self, now: float) -> float:
        """Sleep before the next cycle: one poll, or less when a retry or a stagger is due."""
        events = [t.next_at for t in self.trackers if t.phase is Phase.WAITING]
        if events and self.config.stagger > 0:
            events.append(self.last_submit + self.config.stagger)
        soon = [e - now for e in events if e > now]
        return max(0.0, min(self.config.poll_interval, *soon, self.deadline - now))

    # ---------------------------------------------------------------- journal

    def save_journal(self) -> None:
        """Write the journal if it differs from what was last loaded or written."""
        with self.lock:
            if self.journal != self.saved:
                entries = dict(self.journal)
                self.engine.journal.save(self.host, entries)
                self.saved = entries

    def reserve_attempts(self, trackers: Sequence[Tracker]) -> None:
        """Count one attempt for each tracker about to be stepped from WAITING, in one write.

        Only WAITING trackers make evacuate calls, so every call of the cycle is counted in
        the journal before it is made (:meth:`record` then has nothing to write); a tracker
        that ends up making no call is set back by :meth:`settle_journal`.
        """
        with self.lock:
            for t in trackers:
                self.journal[t.server_id] = JournalEntry(
                    t.server_id, t.target_state, t.attempts + 1
                )
        self.save_journal()

    def settle_journal(self) -> None:
        """After a cycle: the journal says what the trackers counted; one write at most."""
        with self.lock:
            for t in self.trackers:
                entry = self.journal.get(t.server_id)
                if entry is None or entry.attempts != t.attempts:
                    self.journal[t.server_id] = JournalEntry(
                        t.server_id, t.target_state, t.attempts
                    )
        self.save_journal()

    def record(self, tracker: Tracker, attempts: int) -> None:
        """A tracker's attempt count; persisted at once only when the journal holds fewer.

        Called before an evacuate call (an attempt counted even if the crash comes before
        the call: the cycle's :meth:`reserve_attempts` has usually written it already), and
        with a lower count when the call died in an outage (written with the cycle's
        :meth:`settle_journal`; until then the journal errs on the side of more attempts).
        """
        with self.lock:
            self.journal[tracker.server_id] = JournalEntry(
                tracker.server_id, tracker.target_state, attempts
            )
            kept = self.saved.get(tracker.server_id)
            if kept is not None and kept.attempts >= attempts:
                return
        self.save_journal()

    def progress(self) -> None:
        counts = {
            k: sum(t.outcome is not None and t.outcome.kind is k for t in self.trackers)
            for k in OutcomeKind
        }
        snapshot = HostProgress(
            host=self.host,
            total=len(self.trackers) + len(self.skipped),
            evacuated=counts[OutcomeKind.EVACUATED],
            failed=counts[OutcomeKind.FAILED],
            skipped=counts[OutcomeKind.SKIPPED] + len(self.skipped),
            in_flight=sum(t.phase in (Phase.SUBMITTED, Phase.CONVERGING) for t in self.trackers),
            pending=sum(t.phase is Phase.WAITING for t in self.trackers),
        )
        if snapshot != self.last_progress and self.engine.on_progress is not None:
            self.engine.on_progress(snapshot)
        self.last_progress = snapshot

    def report(self, started: float, error: str | None, unfinished: str | None) -> HostReport:
        why = error or unfinished or "unfinished"
        outcomes = [t.outcome or t.pending_outcome(why) for t in self.trackers]
        report = HostReport(
            self.host, tuple(outcomes + self.skipped), started, self.clock.time(), error
        )
        if report.complete:
            self.engine.journal.clear(self.host)
        else:
            self.settle_journal()
        return report


class EvacuationEngine:
    """Evacuates fenced hosts through a :class:`~instanceha.nova.model.NovaPort`."""

    def __init__(
        self,
        nova: NovaPort,
        *,
        clock: Clock | None = None,
        config: EngineConfig | None = None,
        policy: PolicyConfig | None = None,
        journal: Journal | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> None:
        self.nova = nova
        self.clock: Clock = clock or SystemClock()
        self.config = config or EngineConfig()
        self.policy = policy or PolicyConfig()
        self.journal: Journal = journal or MemoryJournal()
        self.on_progress = on_progress

    def run(self, host: str) -> HostReport:
        """Evacuate ``host`` (already powered off by fencing) and report per server."""
        started = self.clock.time()
        run = _Run(self, host)
        error: str | None = None
        unfinished: str | None = None
        try:
            run.fence_in_nova()
            run.plan()
            run.progress()
            with ThreadPoolExecutor(self.config.workers, thread_name_prefix="evacuate") as pool:
                unfinished = run.reconcile(pool)
            if unfinished is not None:
                _LOG.warning("%s: stopping with servers unfinished: %s", host, unfinished)
        except _Abort as exc:
            error = str(exc)
            _LOG.error("%s: evacuation stopped: %s", host, error)
        report = run.report(started, error, unfinished)
        _LOG.info("%s", report.summary())
        return report


def _maybe(fn: Callable[[str], _T], key: str) -> _T | None:
    """``fn(key)``, or None when Nova says it does not exist."""
    try:
        return fn(key)
    except NovaNotFound:
        return None
