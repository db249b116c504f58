"""Helpers for engine tests: a small cloud in FakeNova and a proxy that crashes or fails."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from fakes.fake_nova import FakeNova
from instanceha.clock import FakeClock
from instanceha.evacuation.config import EngineConfig
from instanceha.nova.model import Migration, NovaError, NovaUnavailable

SOURCE = "compute1"
PROTECTED = {"evacuable": "true"}


class Crash(Exception):
    """Stands for the engine process dying (not a NovaError: nothing handles it)."""


@dataclass
class Cloud:
    """FakeNova with three computes and servers on the source host."""

    clock: FakeClock
    nova: FakeNova
    expected: dict[str, str] = field(default_factory=dict)  # server id -> target status
    unprotected: list[str] = field(default_factory=list)

    def evacuations(self) -> Counter[str]:
        """Evacuation migrations per server (the duplicate detector)."""
        return Counter(m.instance_uuid for m in self.nova.list_evacuations(SOURCE))

    def evacuate_calls(self) -> Counter[str]:
        return Counter(str(args[0]) for name, args in self.nova.calls if name == "evacuate")

    def assert_recovered(self) -> None:
        """Every protected server elsewhere in its target state, exactly one evacuation each."""
        for sid, status in self.expected.items():
            srv = self.nova.get_server(sid)
            assert srv.host not in (None, SOURCE), srv
            assert srv.status == status and srv.task_state is None, srv
        counts = self.evacuations()
        assert set(counts) == set(self.expected)
        assert set(counts.values()) == {1}
        for sid in self.unprotected:
            assert self.nova.get_server(sid).host == SOURCE


def build_cloud(
    *, active: int = 3, shutoff: int = 2, error: int = 1, untagged: int = 2, **fake: object
) -> Cloud:
    """Tagged ACTIVE/SHUTOFF/ERROR servers plus untagged ones on SOURCE, whose compute died."""
    clock = FakeClock()
    nova = FakeNova(clock, **fake)  # type: ignore[arg-type]
    for host in (SOURCE, "compute2", "compute3"):
        nova.add_compute(host)
    cloud = Cloud(clock, nova)
    for status, count, target in (
        ("ACTIVE", active, "ACTIVE"),
        ("SHUTOFF", shutoff, "SHUTOFF"),
        ("ERROR", error, "ACTIVE"),
    ):
        for i in range(count):
            srv = nova.add_server(
                SOURCE, status=status, name=f"{status.lower()}-{i}", metadata=PROTECTED
            )
            cloud.expected[srv.id] = target
    for i in range(untagged):
        cloud.unprotected.append(nova.add_server(SOURCE, name=f"plain-{i}").id)
    nova.kill_compute(SOURCE)
    return cloud


FAST = EngineConfig(
    max_parallel=4,
    poll_interval=0.5,
    retry_backoff=5.0,
    outage_backoff=1.0,
    outage_backoff_max=8.0,
    lost_grace=2.0,
    instance_timeout=120.0,
    deadline=1800.0,
)


class Proxy:
    """A NovaPort in front of FakeNova that can crash the engine, fail, or observe calls.

    ``crash_at``: the n-th call (1-based) raises :class:`Crash`, before reaching
    Nova, or after Nova performed it when ``after`` is True. ``observe`` is
    called with the method name after each successful call. :meth:`outage`
    makes every call fail until the fake clock reaches a time.
    """

    def __init__(
        self,
        nova: FakeNova,
        crash_at: int | None = None,
        *,
        after: bool = False,
        observe: Callable[[str], None] | None = None,
    ) -> None:
        self._nova = nova
        self._crash_at = crash_at
        self._after = after
        self._observe = observe
        self._lock = threading.Lock()
        self._down_until = float("-inf")
        self._down_error: type[NovaError] = NovaUnavailable
        self.count = 0
        self.failed = 0

    def outage(
        self, clock: FakeClock, seconds: float, error: type[NovaError] = NovaUnavailable
    ) -> None:
        """Every call raises ``error`` for the next ``seconds`` of ``clock``."""
        self._clock = clock
        self._down_until = clock.monotonic() + seconds
        self._down_error = error

    def __getattr__(self, name: str) -> Callable[..., object]:
        target = getattr(self._nova, name)

        def call(*args: object, **kwargs: object) -> object:
            with self._lock:
                self.count += 1
                crash = self.count == self._crash_at
            if crash and not self._after:
                raise Crash(f"crash before {name}")
            if self._down_until > float("-inf") and self._clock.monotonic() < self._down_until:
                with self._lock:
                    self.failed += 1
                raise self._down_error(f"outage: {name}")
            try:
                result = target(*args, **kwargs)
            finally:
                if crash:
                    raise Crash(f"crash after {name}")  # noqa: B012 - the process dies anyway
            if self._observe is not None:
                self._observe(name)
            return result

        return call


def in_flight(migrations: list[Migration]) -> int:
    return sum(m.status in ("accepted", "pre-migrating") for m in migrations)
