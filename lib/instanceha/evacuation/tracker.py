"""One server's evacuation as a small state machine, advanced one step per poll cycle.

Phases::

    WAITING ──evacuate──▶ SUBMITTED ──migration done──▶ CONVERGING ──target state──▶ FINISHED
       ▲                      │ failed/error, lost          │ start/stop (power fix-up)
       └──backoff (attempts < max)◀┘                         ▼
                                                         FINISHED (evacuated | failed)

Every step reads Nova first. In WAITING the tracker calls ``evacuate`` only if
the server, as last read from Nova (``get_server``, or for a first attempt the
run's own discovery listing), is on the source host with no task and the
migration snapshot (taken at the start of the cycle) shows no evacuation of it
in flight; otherwise it adopts what Nova is doing. Nova sets
``task_state`` in the evacuate request itself and clears it only when the
rebuild ends (host changed, or failed), so a second call for a server can only
follow a failed one, whatever the engine remembers. That is the exactly-once
argument, and why a restarted engine needs no memory to avoid duplicates.

Errors: NovaUnavailable (and NovaTimeout) propagate so the engine backs off;
the tracker is left as it was, except that an evacuate call that failed that
way is treated as *maybe sent* (re-checked after ``lost_grace``, no attempt
counted). NovaConflict on evacuate is a failed attempt. NovaAuthError
propagates and aborts the run.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from instanceha.evacuation.config import EngineConfig
from instanceha.evacuation.outcome import InstanceOutcome, OutcomeKind
from instanceha.evacuation.policy import Decision, target_state
from instanceha.evacuation.power import fix_power_state
from instanceha.nova.model import (
    Migration,
    NovaConflict,
    NovaNotFound,
    NovaPort,
    NovaUnavailable,
    Server,
    evacuation_finished,
)

__all__ = [
    "FAILED_STATUSES",
    "IN_FLIGHT_STATUSES",
    "SUCCEEDED_STATUSES",
    "Phase",
    "StepContext",
    "Tracker",
]

_LOG = logging.getLogger("instanceha.evacuation")

#: Migration statuses of an evacuation Nova is still working on.
IN_FLIGHT_STATUSES = frozenset(
    {"accepted", "queued", "preparing", "pre-migrating", "migrating", "running", "post-migrating"}
)
#: The destination finished (``completed`` once the source compute restarted).
SUCCEEDED_STATUSES = frozenset({"done", "completed", "finished"})
#: The evacuation ended without moving the server.
FAILED_STATUSES = frozenset({"failed", "error", "cancelled"})


class Phase(enum.StrEnum):
    """Where a tracker stands (see the module docstring)."""

    WAITING = "waiting"
    SUBMITTED = "submitted"
    CONVERGING = "converging"
    FINISHED = "finished"


@dataclass
class StepContext:
    """What one step may use; ``migrations`` are this server's, newest first."""

    nova: NovaPort
    now: float
    run_start: float
    config: EngineConfig
    migrations: Sequence[Migration]
    record: Callable[[Tracker, int], None]  # persist the attempt count before a call


@dataclass
class Tracker:
    """The evacuation of one server from ``source``; mutated only by :meth:`step`."""

    decision: Decision
    source: str
    target_state: str | None
    attempts: int = 0
    phase: Phase = Phase.WAITING
    since: float = 0.0  # when the current phase began
    next_at: float = 0.0  # WAITING: not before
    submitted_at: float = 0.0
    first_submit: float | None = None
    known: frozenset[str] = field(default_factory=frozenset)  # migrations that are not ours
    migration_id: str | None = None
    uncertain: bool = False  # the last evacuate call died in an outage: maybe sent
    fixups: int = 0
    seen: Server | None = None  # the server as discovery listed it; spares one look
    note: str = "not started"
    outcome: InstanceOutcome | None = None

    @property
    def server_id(self) -> str:
        return self.decision.server.id

    @property
    def name(self) -> str:
        return self.decision.server.name

    def step(self, ctx: StepContext) -> bool:
        """Advance as far as Nova allows; True when an evacuate call was made."""
        if self.phase is Phase.WAITING:
            return self._waiting(ctx)
        if self.phase is Phase.SUBMITTED:
            self._submitted(ctx)
        elif self.phase is Phase.CONVERGING:
            self._converging(ctx, None)
        return False

    def pending_outcome(self, why: str) -> InstanceOutcome:
        """The outcome of a tracker the run had to leave unfinished."""
        return self._outcome(OutcomeKind.PENDING, f"{why}; last seen: {self.note}")

    # ------------------------------------------------------------------ phases

    def _waiting(self, ctx: StepContext) -> bool:
        server = self._fresh_listing(ctx) or self._get(ctx)
        if server is None:
            return False
        if server.host not in (None, self.source):
            self._to(Phase.CONVERGING, ctx, f"already on {server.host}")
            self._converging(ctx, server)
            return False
        running = next((m for m in ctx.migrations if m.status in IN_FLIGHT_STATUSES), None)
        if running is not None:
            self.migration_id = running.id
            self.submitted_at = ctx.now
            self._to(Phase.SUBMITTED, ctx, f"adopted migration {running.id} ({running.status})")
            return False
        if server.task_state is not None:
            self._wait_task(ctx, server)
            return False
        refusal = self._refusal(ctx, server)
        if refusal is not None:
            self._finish(ctx, OutcomeKind.FAILED, refusal)
            return False
        return self._submit(ctx)

    def _fresh_listing(self, ctx: StepContext) -> Server | None:
        """The discovery listing, once, if nothing since can have moved the server.

        Discovery (taken after force-down) precedes this cycle's migration
        snapshot; a ``done`` evacuation in that snapshot means the listing is
        stale, so the server is read again. Anything started by someone else
        after the snapshot makes Nova refuse our call (task_state is
        compare-and-swapped), which is a retried attempt, not a duplicate.
        """
        seen, self.seen = self.seen, None
        if seen is None or any(m.status in SUCCEEDED_STATUSES for m in ctx.migrations):
            return None
        return seen

    def _refusal(self, ctx: StepContext, server: Server) -> str | None:
        if target_state(server) is None:
            return f"now {server.status}: Nova cannot evacuate it"
        if self.attempts >= ctx.config.max_attempts:
            return f"gave up after {self.attempts} attempts"
        return None

    def _submit(self, ctx: StepContext) -> bool:
        self.known = frozenset(m.id for m in ctx.migrations)
        self.migration_id = None
        ctx.record(self, self.attempts + 1)
        target = self.decision.target_host
        try:
            ctx.nova.evacuate(self.server_id, target)
        except (NovaConflict, NovaNotFound) as exc:
            self.attempts += 1
            self._attempt_failed(ctx, f"Nova refused the evacuation: {exc}")
            return True
        except NovaUnavailable:
            ctx.record(self, self.attempts)
            self.uncertain = True
            self._mark_submitted(ctx, "evacuate call failed in a Nova outage; maybe sent")
            raise
        self.attempts += 1
        self.uncertain = False
        self._mark_submitted(ctx, f"evacuation requested (attempt {self.attempts})")
        _LOG.info(
            "evacuating %s (%s) from %s, attempt %d%s",
            self.name,
            self.server_id,
            self.source,
            self.attempts,
            f" to {target}" if target else "",
        )
        return True

    def _submitted(self, ctx: StepContext) -> None:
        mig = self._our_migration(ctx.migrations)
        if mig is None:
            self._no_migration_yet(ctx)
            return
        if self.uncertain:  # the call did reach Nova after all
            self.uncertain = False
            self.attempts += 1
            ctx.record(self, self.attempts)
        self.migration_id = mig.id
        if mig.status in SUCCEEDED_STATUSES:
            self._to(Phase.CONVERGING, ctx, f"migration {mig.id} {mig.status}")
            self._converging(ctx, None)
        elif mig.status in FAILED_STATUSES:
            self._attempt_failed(ctx, f"migration {mig.id} ended {mig.status}")
        else:
            self.note = f"migration {mig.id} {mig.status}"
            waited = ctx.now - self.submitted_at
            if waited > ctx.config.instance_timeout:
                self._finish(
                    ctx,
                    OutcomeKind.FAILED,
                    f"migration {mig.id} still {mig.status} after {waited:.0f}s"
                    " (not retried: Nova may still finish it)",
                )

    def _no_migration_yet(self, ctx: StepContext) -> None:
        if ctx.now - self.submitted_at < ctx.config.lost_grace:
            return
        server = self._get(ctx)
        if server is None:
            return
        if server.host not in (None, self.source):
            self._to(Phase.CONVERGING, ctx, f"on {server.host} without a migration record")
            self._converging(ctx, server)
        elif server.task_state is not None:
            self._wait_task(ctx, server)
        elif self.uncertain:
            self.uncertain = False
            self._to(Phase.WAITING, ctx, "the evacuate call lost in the outage never arrived")
            self.next_at = ctx.now
        else:
            self._attempt_failed(ctx, "Nova accepted the evacuation but recorded no migration")

    def _converging(self, ctx: StepContext, server: Server | None) -> None:
        server = server or self._get(ctx)
        if server is None:
            return
        if not evacuation_finished(server, self.source):
            self.note = f"{server.status} on {server.host}, task_state={server.task_state}"
            if ctx.now - self.since > ctx.config.instance_timeout:
                self._finish(ctx, OutcomeKind.FAILED, f"not finished: {self.note}")
            return
        if self.target_state is None or server.status == self.target_state:
            self._finish(ctx, OutcomeKind.EVACUATED, self._evacuated_reason(server), server)
            return
        wanted = f"{server.status} on {server.host}, wanted {self.target_state}"
        if self.fixups >= ctx.config.max_fixups:
            self._finish(ctx, OutcomeKind.FAILED, f"{wanted} after {self.fixups} fix-ups", server)
            return
        self.fixups += 1
        try:
            action = fix_power_state(ctx.nova, server, self.target_state)
        except NovaConflict as exc:
            self.note = f"{wanted}; power fix-up refused ({exc}), will look again"
            return
        if action is None:
            self._finish(ctx, OutcomeKind.FAILED, wanted, server)
        else:
            self.note = f"{wanted}: {action} requested"
            _LOG.info("%s (%s): %s", self.name, self.server_id, self.note)

    # ----------------------------------------------------------------- helpers

    def _our_migration(self, migrations: Sequence[Migration]) -> Migration | None:
        if self.migration_id is not None:
            return next((m for m in migrations if m.id == self.migration_id), None)
        return next((m for m in migrations if m.id not in self.known), None)

    def _wait_task(self, ctx: StepContext, server: Server) -> None:
        self.note = f"task_state={server.task_state} on {server.host}"
        self.next_at = ctx.now + ctx.config.poll_interval
        if ctx.now - self.since > ctx.config.instance_timeout:
            self._finish(ctx, OutcomeKind.FAILED, f"stuck: {self.note}")

    def _attempt_failed(self, ctx: StepContext, reason: str) -> None:
        self.migration_id = None
        if self.attempts >= ctx.config.max_attempts:
            self._finish(
                ctx, OutcomeKind.FAILED, f"gave up after {self.attempts} attempts: {reason}"
            )
            return
        delay = ctx.config.retry_delay(self.attempts)
        self._to(Phase.WAITING, ctx, f"{reason}; retry in {delay:.0f}s")
        self.next_at = ctx.now + delay
        _LOG.warning("%s (%s): %s", self.name, self.server_id, self.note)

    def _mark_submitted(self, ctx: StepContext, note: str) -> None:
        self.submitted_at = ctx.now
        if self.first_submit is None:
            self.first_submit = ctx.now
        self._to(Phase.SUBMITTED, ctx, note)

    def _get(self, ctx: StepContext) -> Server | None:
        try:
            return ctx.nova.get_server(self.server_id)
        except NovaNotFound:
            self._finish(ctx, OutcomeKind.SKIPPED, "server deleted during the evacuation")
            return None

    def _to(self, phase: Phase, ctx: StepContext, note: str) -> None:
        self.phase = phase
        self.since = ctx.now
        self.note = note

    def _evacuated_reason(self, server: Server) -> str:
        if self.target_state is None:
            return f"on {server.host}, {server.status} (target state unknown, kept Nova's)"
        return f"on {server.host}, {server.status}"

    def _finish(
        self, ctx: StepContext, kind: OutcomeKind, reason: str, server: Server | None = None
    ) -> None:
        self.phase = Phase.FINISHED
        self.note = reason
        duration = None
        if kind is OutcomeKind.EVACUATED:
            duration = ctx.now - (self.first_submit if self.first_submit else ctx.run_start)
        self.outcome = self._outcome(
            kind,
            reason,
            final_state=server.status if server else None,
            destination=server.host if server and kind is OutcomeKind.EVACUATED else None,
            duration=duration,
        )
        log = _LOG.info if kind is not OutcomeKind.FAILED else _LOG.error
        log("%s (%s) %s: %s", self.name, self.server_id, kind, reason)

    def _outcome(
        self,
        kind: OutcomeKind,
        reason: str,
        final_state: str | None = None,
        destination: str | None = None,
        duration: float | None = None,
    ) -> InstanceOutcome:
        return InstanceOutcome(
            server_id=self.server_id,
            name=self.name,
            kind=kind,
            reason=reason,
            target_state=self.target_state,
            final_state=final_state,
            destination=destination,
            duration=duration,
            attempts=self.attempts,
        )
