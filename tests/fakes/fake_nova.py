"""An in-process, stateful Nova implementing :class:`instanceha.nova.model.NovaPort`.

Faithful where instance HA depends on Nova's behaviour (every rule below was
measured on the real lab, see ``tests/contract/nova_contract.py``):

* A service's ``state`` is ``down`` when it is forced down or its process is
  dead (:meth:`FakeNova.kill_compute`); there is no ``service_down_time`` delay.
* ``evacuate`` is refused with :class:`NovaConflict` while the source service
  is up and not forced down, while the server has a task in progress, or when
  its vm_state is not active/stopped/error. It creates an ``evacuation``
  migration that progresses one stage per tick, as nova-compute 34 does it
  (``_do_rebuild_instance`` then ``finish_evacuation``)::

      call     migration accepted,      server REBUILD / rebuilding, host = source
      tick 1   migration pre-migrating, task_state rebuild_spawning
      tick 2   server ACTIVE, task_state None, host STILL the source
      tick 3   migration done, server host = destination

  A server that was SHUTOFF takes one more tick: after the rebuild Nova shows
  it ACTIVE / ``powering-off``, then SHUTOFF, and only then moves the host.
  Real Nova shows the final status before it moves the host ("ACTIVE is not
  completion"). The power state is kept (the access layer evacuates below
  microversion 2.95); ``stop_evacuated=True`` mimics 2.95+, where every
  evacuated server ends SHUTOFF, so engine tests can exercise the power fix-up
  (:func:`instanceha.nova.model.power_fixup`). An ERROR server ends ACTIVE.
* ``unforce_down`` raises :class:`NovaConflict` while ``done`` evacuations from
  the host remain; :meth:`FakeNova.restart_compute` moves them to ``completed``.
* ``start_server``/``stop_server`` are refused (:class:`NovaConflict`) unless
  the server's host is up and the server is SHUTOFF/ACTIVE with no task; they
  take one tick (task_state ``powering-on``/``powering-off`` meanwhile).

Time: every public call first applies the stages that are due according to the
injected clock (one stage per ``step_seconds``); :meth:`FakeNova.advance`
moves every in-flight operation one stage regardless of the clock, and
:meth:`FakeNova.settle` runs them all to the end.

Failures: no valid destination (none up and enabled, or the requested one
is not) ends the migration in ``error`` and the server ERROR on the source,
as the conductor does on NoValidHost. Injected: :meth:`FakeNova.fail_next`
(the next N calls raise, e.g. :class:`NovaUnavailable`) and
:meth:`FakeNova.fail_evacuation` (the rebuild fails: migration ``error``, or
``failed`` as nova-compute records it, server ERROR on the source).
"""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from instanceha.clock import Clock
from instanceha.nova.model import (
    Aggregate,
    ComputeService,
    Image,
    Migration,
    NovaConflict,
    NovaError,
    NovaNotFound,
    NovaUnavailable,
    Server,
)

__all__ = ["FakeNova"]

_STATUS_BY_VM_STATE = {
    "active": "ACTIVE",
    "stopped": "SHUTOFF",
    "error": "ERROR",
    "building": "BUILD",
    "paused": "PAUSED",
    "suspended": "SUSPENDED",
    "shelved_offloaded": "SHELVED_OFFLOADED",
}
_VM_STATE_BY_STATUS = {status: vm for vm, status in _STATUS_BY_VM_STATE.items()}
_EVACUABLE_VM_STATES = ("active", "stopped", "error")
_IN_FLIGHT = ("accepted", "pre-migrating")


@dataclass
class _Service:
    id: str
    host: str
    zone: str
    alive: bool = True
    forced_down: bool = False
    status: str = "enabled"
    disabled_reason: str | None = None
    heartbeats: int = 0

    def is_up(self) -> bool:
        return self.alive and not self.forced_down

    def snapshot(self) -> ComputeService:
        if self.alive:  # a live nova-compute has reported again since anyone last looked
            self.heartbeats += 1
        return ComputeService(
            id=self.id,
            host=self.host,
            binary="nova-compute",
            state="up" if self.is_up() else "down",
            status=self.status,
            forced_down=self.forced_down,
            disabled_reason=self.disabled_reason,
            zone=self.zone,
            updated_at=f"heartbeat {self.heartbeats}",
        )


@dataclass
class _Server:
    id: str
    name: str
    host: str | None
    vm_state: str
    task_state: str | None = None
    project_id: str = ""
    image_id: str | None = None
    flavor_name: str = ""
    flavor_extra_specs: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)
    locked: bool = False
    rebuilding: bool = False  # REBUILD status while an evacuation runs

    def snapshot(self) -> Server:
        if self.rebuilding:
            status = "REBUILD"
        else:
            status = _STATUS_BY_VM_STATE.get(self.vm_state, self.vm_state.upper())
        return Server(
            id=self.id,
            name=self.name,
            status=status,
            host=self.host,
            task_state=self.task_state,
            vm_state=self.vm_state,
            project_id=self.project_id,
            image_id=self.image_id,
            flavor_name=self.flavor_name,
            flavor_extra_specs=dict(self.flavor_extra_specs),
            metadata=dict(self.metadata),
            locked=self.locked,
        )


@dataclass
class _Migration:
    seq: int
    id: str
    server_id: str
    source: str
    dest: str | None
    status: str
    created_at: str
    updated_at: str
    stage: int = 0
    due: float = 0.0
    power_off: bool = False  # stopped before the host moves (a SHUTOFF server)
    fail_status: str | None = None  # "error"/"failed": this evacuation fails

    def snapshot(self) -> Migration:
        return Migration(
            id=self.id,
            instance_uuid=self.server_id,
            source_compute=self.source,
            dest_compute=self.dest,
            status=self.status,
            migration_type="evacuation",
            created_at=self.created_at,
            updated_at=self.updated_at,
        )


@dataclass
class _PowerOp:
    server_id: str
    target_vm_state: str
    due: float


@dataclass
class _Fault:
    remaining: int
    error: Callable[[str], NovaError]
    methods: frozenset[str] | None


class FakeNova:
    """In-process Nova; see the module docstring for its rules.

    ``clock`` drives progression (``None``: only :meth:`advance`/:meth:`settle`
    move things); ``step_seconds`` is the time one stage takes;
    ``stop_evacuated`` makes every evacuated server end SHUTOFF (Nova 2.95+);
    ``page_size`` is the page size :meth:`list_servers_on_host` pretends to use
    (counted in :attr:`pages_fetched`, to prove paging in contract tests).
    """

    def __init__(
        self,
        clock: Clock | None = None,
        *,
        step_seconds: float = 0.3,
        stop_evacuated: bool = False,
        page_size: int = 1000,
    ) -> None:
        self._clock = clock
        self._step = step_seconds
        self.stop_evacuated = stop_evacuated
        self.page_size = page_size
        self.pages_fetched = 0
        self.calls: list[tuple[str, tuple[object, ...]]] = []
        self._lock = threading.RLock()
        self._services: dict[str, _Service] = {}
        self._servers: dict[str, _Server] = {}
        self._migrations: list[_Migration] = []
        self._power_ops: list[_PowerOp] = []
        self._images: dict[str, Image] = {}
        self._aggregates: dict[str, Aggregate] = {}
        self._faults: list[_Fault] = []
        self._evacuation_failures: dict[str | None, list[str]] = {}
        self._seq = itertools.count(1)

    # ------------------------------------------------------------------ set-up

    def add_compute(self, host: str, *, zone: str = "nova", alive: bool = True) -> ComputeService:
        """Add a nova-compute service (enabled, up unless ``alive`` is False)."""
        with self._lock:
            svc = _Service(id=str(uuid.uuid4()), host=host, zone=zone, alive=alive)
            self._services[host] = svc
            return svc.snapshot()

    def add_server(
        self,
        host: str,
        *,
        status: str = "ACTIVE",
        name: str | None = None,
        server_id: str | None = None,
        project_id: str = "project-a",
        image_id: str | None = "image-1",
        flavor_name: str = "m1.small",
        flavor_extra_specs: dict[str, str] | None = None,
        metadata: dict[str, str] | None = None,
        locked: bool = False,
        task_state: str | None = None,
    ) -> Server:
        """Add a server on ``host`` with Nova API ``status`` (ACTIVE, SHUTOFF, ERROR...)."""
        with self._lock:
            if host not in self._services:
                raise ValueError(f"unknown compute host {host!r}: add_compute() first")
            sid = server_id or str(uuid.uuid4())
            srv = _Server(
                id=sid,
                name=name or f"server-{len(self._servers) + 1}",
                host=host,
                vm_state=_VM_STATE_BY_STATUS.get(status, status.lower()),
                task_state=task_state,
                project_id=project_id,
                image_id=image_id,
                flavor_name=flavor_name,
                flavor_extra_specs=dict(flavor_extra_specs or {}),
                metadata=dict(metadata or {}),
                locked=locked,
            )
            self._servers[sid] = srv
            return srv.snapshot()

    def delete_server(self, server_id: str) -> None:
        """Remove a server (no-op when it is gone)."""
        with self._lock:
            self._servers.pop(server_id, None)

    def add_image(self, image: Image) -> None:
        """Register a Glance image."""
        with self._lock:
            self._images[image.id] = image

    def add_aggregate(self, aggregate: Aggregate) -> None:
        """Register (or replace) a host aggregate."""
        with self._lock:
            self._aggregates[aggregate.name] = aggregate

    # ---------------------------------------------------------- host lifecycle

    def kill_compute(self, host: str) -> None:
        """The host's nova-compute dies: its service reports ``down``."""
        with self._lock:
            self._service(host).alive = False

    def restart_compute(self, host: str) -> None:
        """nova-compute starts again: ``done`` evacuations from it become ``completed``."""
        with self._lock:
            self._progress()
            self._service(host).alive = True
            now = self._iso()
            for mig in self._migrations:
                if mig.source == host and mig.status == "done":
                    mig.status = "completed"
                    mig.updated_at = now

    # ---------------------------------------------------------------- faults

    def fail_next(
        self,
        count: int = 1,
        error: Callable[[str], NovaError] = NovaUnavailable,
        methods: Iterable[str] | None = None,
    ) -> None:
        """The next ``count`` NovaPort calls (optionally only of ``methods``) raise ``error``."""
        with self._lock:
            self._faults.append(
                _Fault(count, error, frozenset(methods) if methods is not None else None)
            )

    def fail_evacuation(self, server_id: str | None = None, status: str = "error") -> None:
        """The next evacuation (of ``server_id``, or of any server) ends in ``status``."""
        with self._lock:
            self._evacuation_failures.setdefault(server_id, []).append(status)

    # ------------------------------------------------------------------ time

    def advance(self, steps: int = 1) -> None:
        """Move every in-flight evacuation and power operation ``steps`` stages."""
        with self._lock:
            self._progress()
            for _ in range(steps):
                for mig in list(self._migrations):
                    if mig.status in _IN_FLIGHT:
                        self._step_migration(mig)
                for op in list(self._power_ops):
                    self._finish_power_op(op)

    def settle(self) -> None:
        """Run every in-flight operation to its end."""
        with self._lock:
            while any(m.status in _IN_FLIGHT for m in self._migrations) or self._power_ops:
                self.advance()

    def in_flight(self) -> int:
        """How many evacuations and power operations have not finished."""
        with self._lock:
            self._progress()
            return sum(m.status in _IN_FLIGHT for m in self._migrations) + len(self._power_ops)

    # --------------------------------------------------------------- NovaPort

    def list_compute_services(self, host: str | None = None) -> list[ComputeService]:
        with self._enter("list_compute_services", host):
            return [s.snapshot() for s in self._services.values() if host is None or s.host == host]

    def force_down(self, host: str) -> ComputeService:
        with self._enter("force_down", host):
            svc = self._service(host)
            svc.forced_down = True
            return svc.snapshot()

    def unforce_down(self, host: str) -> ComputeService:
        with self._enter("unforce_down", host):
            svc = self._service(host)
            if not svc.forced_down:  # like NovaClient: nothing to write, nothing to refuse
                return svc.snapshot()
            if any(m.source == host and m.status == "done" for m in self._migrations):
                raise NovaConflict(
                    f"Nova refused to force up {host}: 'done' evacuation migration records"
                    " remain (restart its nova-compute first)"
                )
            svc.forced_down = False
            return svc.snapshot()

    def disable(self, host: str, reason: str) -> ComputeService:
        with self._enter("disable", host, reason):
            svc = self._service(host)
            svc.status = "disabled"
            svc.disabled_reason = reason
            return svc.snapshot()

    def enable(self, host: str) -> ComputeService:
        with self._enter("enable", host):
            svc = self._service(host)
            svc.status = "enabled"
            svc.disabled_reason = None
            return svc.snapshot()

    def list_servers_on_host(self, host: str) -> list[Server]:
        with self._enter("list_servers_on_host", host):
            found = [s.snapshot() for s in self._servers.values() if s.host == host]
            self.pages_fetched += len(found) // max(1, self.page_size) + 1
            return found

    def get_server(self, server_id: str) -> Server:
        with self._enter("get_server", server_id):
            return self._server(server_id).snapshot()

    def evacuate(self, server_id: str, target_host: str | None = None) -> None:
        with self._enter("evacuate", server_id, target_host):
            srv = self._server(server_id)
            source = srv.host or ""
            if srv.vm_state not in _EVACUABLE_VM_STATES:
                raise NovaConflict(
                    f"Nova refused to evacuate server {server_id}: vm_state {srv.vm_state}"
                )
            if srv.task_state is not None:
                raise NovaConflict(
                    f"Nova refused to evacuate server {server_id}: task_state {srv.task_state}"
                )
            src = self._services.get(source)
            if src is not None and src.is_up():
                raise NovaConflict(
                    f"Nova refused to evacuate server {server_id}: compute service of"
                    f" {source} is still in use"
                )
            if target_host is not None:
                self._service(target_host)
                if target_host == source:
                    raise NovaConflict(
                        f"Nova refused to evacuate server {server_id}: the target host"
                        " is the source host"
                    )
            power_off = srv.vm_state == "stopped" or (
                self.stop_evacuated and srv.vm_state != "error"
            )
            failures = self._evacuation_failures.get(server_id) or self._evacuation_failures.get(
                None
            )
            fail_status = failures.pop(0) if failures else None
            now = self._iso()
            mig = _Migration(
                seq=next(self._seq),
                id=str(uuid.uuid4()),
                server_id=server_id,
                source=source,
                dest=target_host,
                status="accepted",
                created_at=now,
                updated_at=now,
                due=self._now() + self._step,
                power_off=power_off,
                fail_status=fail_status,
            )
            self._migrations.append(mig)
            srv.rebuilding = True
            srv.task_state = "rebuilding"

    def start_server(self, server_id: str) -> None:
        with self._enter("start_server", server_id):
            self._power(server_id, "stopped", "active", "powering-on", "start")

    def stop_server(self, server_id: str) -> None:
        with self._enter("stop_server", server_id):
            self._power(server_id, "active", "stopped", "powering-off", "stop")

    def list_evacuations(self, source_host: str) -> list[Migration]:
        with self._enter("list_evacuations", source_host):
            mine = [m for m in self._migrations if m.source == source_host]
            return [m.snapshot() for m in sorted(mine, key=lambda m: m.seq, reverse=True)]

    def get_image(self, image_id: str) -> Image:
        with self._enter("get_image", image_id):
            try:
                return self._images[image_id]
            except KeyError:
                raise NovaNotFound(f"image {image_id} not found") from None

    def list_aggregates(self) -> list[Aggregate]:
        with self._enter("list_aggregates"):
            return list(self._aggregates.values())

    # ------------------------------------------------------------- internals

    def _enter(self, method: str, *args: object) -> _Call:
        return _Call(self, method, args)

    def _begin(self, method: str, args: tuple[object, ...]) -> None:
        self.calls.append((method, args))
        for fault in self._faults:
            if fault.remaining > 0 and (fault.methods is None or method in fault.methods):
                fault.remaining -= 1
                self._faults = [f for f in self._faults if f.remaining > 0]
                raise fault.error(f"injected failure in {method}")
        self._progress()

    def _now(self) -> float:
        return self._clock.monotonic() if self._clock is not None else 0.0

    def _iso(self) -> str:
        wall = self._clock.time() if self._clock is not None else 0.0
        stamp = datetime.fromtimestamp(wall, tz=UTC).replace(tzinfo=None)
        return stamp.isoformat(timespec="microseconds")

    def _progress(self) -> None:
        if self._clock is None:
            return
        now = self._now()
        moved = True
        while moved:
            moved = False
            for mig in self._migrations:
                if mig.status in _IN_FLIGHT and mig.due <= now:
                    self._step_migration(mig)
                    moved = True
            for op in list(self._power_ops):
                if op.due <= now:
                    self._finish_power_op(op)

    def _step_migration(self, mig: _Migration) -> None:
        srv = self._servers.get(mig.server_id)
        mig.stage += 1
        mig.due += self._step
        mig.updated_at = self._iso()
        if srv is None:  # deleted meanwhile
            mig.status = "error"
            return
        if mig.stage == 1:
            dest = mig.dest or self._schedule(mig.source)
            target = self._services.get(dest) if dest is not None else None
            if target is None or not target.is_up() or target.status != "enabled":
                mig.status = "error"  # NoValidHost: the conductor errors the server out
                srv.rebuilding = False
                srv.task_state = None
                srv.vm_state = "error"
                return
            mig.dest = dest
            mig.status = "pre-migrating"
            srv.task_state = "rebuild_spawning"
        elif mig.stage == 2:
            srv.rebuilding = False
            srv.task_state = None
            if mig.fail_status is not None:
                mig.status = mig.fail_status
                srv.vm_state = "error"
                return
            srv.vm_state = "active"  # host still the source: not complete yet
            if mig.power_off:
                srv.task_state = "powering-off"
        elif mig.stage == 3 and mig.power_off:
            srv.vm_state = "stopped"
            srv.task_state = None
        else:
            srv.host = mig.dest
            mig.status = "done"

    def _schedule(self, source: str) -> str | None:
        load: dict[str, int] = {}
        for srv in self._servers.values():
            if srv.host is not None:
                load[srv.host] = load.get(srv.host, 0) + 1
        for mig in self._migrations:
            if mig.status in _IN_FLIGHT and mig.dest is not None:
                load[mig.dest] = load.get(mig.dest, 0) + 1
        candidates = [
            s.host
            for s in self._services.values()
            if s.host != source and s.is_up() and s.status == "enabled"
        ]
        return min(candidates, key=lambda h: (load.get(h, 0), h)) if candidates else None

    def _power(self, server_id: str, need: str, target: str, task: str, verb: str) -> None:
        srv = self._server(server_id)
        host = self._services.get(srv.host or "")
        if host is None or not host.is_up():
            raise NovaConflict(
                f"Nova refused to {verb} server {server_id}: the compute service of"
                f" {srv.host} is unavailable"
            )
        if srv.task_state is not None or srv.vm_state != need:
            raise NovaConflict(
                f"Nova refused to {verb} server {server_id}: vm_state {srv.vm_state},"
                f" task_state {srv.task_state}"
            )
        srv.task_state = task
        self._power_ops.append(_PowerOp(server_id, target, self._now() + self._step))

    def _finish_power_op(self, op: _PowerOp) -> None:
        self._power_ops.remove(op)
        srv = self._servers.get(op.server_id)
        if srv is None:
            return
        srv.task_state = None
        srv.vm_state = op.target_vm_state

    def _service(self, host: str) -> _Service:
        try:
            return self._services[host]
        except KeyError:
            raise NovaNotFound(f"no nova-compute service on host {host}") from None

    def _server(self, server_id: str) -> _Server:
        try:
            return self._servers[server_id]
        except KeyError:
            raise NovaNotFound(f"server {server_id} not found") from None


class _Call:
    """Context manager: take the lock, log the call, inject faults, apply due stages."""

    def __init__(self, fake: FakeNova, method: str, args: tuple[object, ...]) -> None:
        self._fake = fake
        self._method = method
        self._args = args

    def __enter__(self) -> None:
        self._fake._lock.acquire()
        try:
            self._fake._begin(self._method, self._args)
        except BaseException:
            self._fake._lock.release()
            raise

    def __exit__(self, *exc: object) -> None:
        self._fake._lock.release()
