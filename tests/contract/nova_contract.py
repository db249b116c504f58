"""One contract for every NovaPort: the same assertions against FakeNova and real Nova.

A test module binds the contract to an implementation by subclassing
:class:`NovaContract` and providing a ``harness`` fixture that returns a
:class:`NovaHarness`: the port under test plus the few things a test needs to
do *to* the cloud that NovaPort deliberately cannot (boot servers, crash and
restart a nova-compute, wait). Every assertion lives here, so the fake cannot
drift from what the real Nova does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

import pytest

from instanceha.nova.model import (
    OUR_DISABLED_REASON_PREFIX,
    Migration,
    NovaAuthError,
    NovaConflict,
    NovaPort,
    NovaUnavailable,
    Server,
    evacuation_finished,
    power_fixup,
)

__all__ = ["MIGRATION_ORDER", "NovaContract", "NovaHarness"]

T = TypeVar("T")

#: The order an evacuation's migration record moves through (``error`` may end it).
MIGRATION_ORDER = ("accepted", "pre-migrating", "done", "completed")


class NovaHarness(Protocol):
    """What a contract test needs beyond NovaPort; one per implementation."""

    nova: NovaPort
    #: Three compute hosts, each up and enabled with no servers at the start of a test.
    hosts: tuple[str, str, str]
    #: The page size ``nova`` uses for lists (small, so paging is exercised).
    page_size: int

    def boot(
        self, host: str, count: int = 1, *, stopped: bool = False, project: int = 0
    ) -> list[str]:
        """Create ``count`` servers on ``host`` (ACTIVE, or SHUTOFF when ``stopped``),
        in project number ``project`` (0 or 1); return their ids once settled."""
        ...

    def crash_compute(self, host: str) -> None:
        """The host's nova-compute dies (SIGKILL)."""
        ...

    def restart_compute(self, host: str) -> None:
        """Start the host's nova-compute again; return once it has started up."""
        ...

    def wait(self, what: str, check: Callable[[], T | None], timeout: float = 60.0) -> T:
        """Poll ``check`` until it returns something other than None/False; fail on timeout."""
        ...

    def bad_credentials(self) -> NovaPort:
        """A port whose credentials Keystone rejects."""
        ...

    def unreachable(self) -> NovaPort:
        """A port whose Keystone/Nova address is a closed port."""
        ...


def _statuses(migrations: list[Migration], server_id: str) -> list[str]:
    return [m.status for m in migrations if m.instance_uuid == server_id]


class NovaContract:
    """The assertions; subclasses provide the ``harness`` fixture."""

    # ---------------------------------------------------------------- services

    def test_lists_compute_services(self, harness: NovaHarness) -> None:
        services = {s.host: s for s in harness.nova.list_compute_services()}
        for host in harness.hosts:
            svc = services[host]
            assert svc.binary == "nova-compute"
            assert (svc.state, svc.status, svc.forced_down) == ("up", "enabled", False)
            assert svc.id
        only = harness.nova.list_compute_services(harness.hosts[0])
        assert [s.host for s in only] == [harness.hosts[0]]
        # updated_at moves with the heartbeats of a reporting compute (the evacuator enables
        # a returned host only on a heartbeat newer than its first look)
        first = only[0].updated_at
        assert first
        harness.wait("a newer heartbeat", lambda: harness.nova.list_compute_services(
            harness.hosts[0])[0].updated_at != first)

    def test_force_down_and_back_up(self, harness: NovaHarness) -> None:
        host = harness.hosts[0]
        down = harness.nova.force_down(host)
        assert (down.host, down.forced_down, down.state) == (host, True, "down")
        again = harness.nova.force_down(host)
        assert again.forced_down
        up = harness.nova.unforce_down(host)
        assert not up.forced_down
        assert harness.nova.unforce_down(host).forced_down is False
        harness.wait(
            "service up", lambda: harness.nova.list_compute_services(host)[0].state == "up"
        )

    def test_disable_with_our_marker_and_enable(self, harness: NovaHarness) -> None:
        host = harness.hosts[1]
        reason = f"{OUR_DISABLED_REASON_PREFIX} contract test"
        disabled = harness.nova.disable(host, reason)
        assert (disabled.status, disabled.disabled_reason) == ("disabled", reason)
        assert disabled.disabled_by_us
        assert harness.nova.disable(host, reason).disabled_by_us
        enabled = harness.nova.enable(host)
        assert enabled.status == "enabled"
        assert not enabled.disabled_by_us
        assert harness.nova.enable(host).status == "enabled"

    def test_unknown_host_is_not_found(self, harness: NovaHarness) -> None:
        from instanceha.nova.model import NovaNotFound

        with pytest.raises(NovaNotFound):
            harness.nova.force_down("no-such-host")

    # ----------------------------------------------------------------- servers

    def test_lists_every_server_of_a_host_across_projects_and_pages(
        self, harness: NovaHarness
    ) -> None:
        host, other = harness.hosts[0], harness.hosts[1]
        mine = harness.boot(host, harness.page_size + 1, project=0)
        mine += harness.boot(host, 1, project=1)
        elsewhere = harness.boot(other, 1)
        listed = harness.nova.list_servers_on_host(host)
        assert sorted(s.id for s in listed) == sorted(mine)
        assert len({s.project_id for s in listed}) == 2
        assert not set(elsewhere) & {s.id for s in listed}
        for server in listed:
            assert (server.status, server.host, server.task_state) == ("ACTIVE", host, None)
            assert server.vm_state == "active"
            assert server.flavor_name
            got = harness.nova.get_server(server.id)
            assert (got.id, got.host) == (server.id, host)

    def test_evacuation_refused_while_source_is_up(self, harness: NovaHarness) -> None:
        (sid,) = harness.boot(harness.hosts[0])
        with pytest.raises(NovaConflict):
            harness.nova.evacuate(sid)
        server = harness.nova.get_server(sid)
        assert (server.host, server.status) == (harness.hosts[0], "ACTIVE")
        assert harness.nova.list_evacuations(harness.hosts[0]) == []

    def test_evacuation_preserves_power_state_and_tracks_migrations(
        self, harness: NovaHarness
    ) -> None:
        nova = harness.nova
        source = harness.hosts[0]
        (active,) = harness.boot(source)
        (stopped,) = harness.boot(source, stopped=True)
        before = {s.id: s.status for s in nova.list_servers_on_host(source)}
        assert before == {active: "ACTIVE", stopped: "SHUTOFF"}

        harness.crash_compute(source)
        nova.force_down(source)
        for sid in (active, stopped):
            nova.evacuate(sid)

        seen: dict[str, list[str]] = {active: [], stopped: []}

        def finished() -> dict[str, Server] | None:
            migrations = nova.list_evacuations(source)
            for sid, statuses in seen.items():
                for status in _statuses(migrations, sid):
                    if not statuses or statuses[-1] != status:
                        statuses.append(status)
            servers = {sid: nova.get_server(sid) for sid in seen}
            done = all(evacuation_finished(s, source) for s in servers.values())
            return servers if done else None

        servers = harness.wait("evacuations finished", finished)
        migrations = nova.list_evacuations(source)
        assert {m.instance_uuid for m in migrations} == {active, stopped}
        for mig in migrations:
            assert (mig.migration_type, mig.source_compute, mig.status) == (
                "evacuation",
                source,
                "done",
            )
            assert mig.dest_compute == servers[mig.instance_uuid].host
        for sid, statuses in seen.items():
            order = [MIGRATION_ORDER.index(s) for s in statuses]
            assert order == sorted(order), f"{sid}: {statuses}"
        # The engine's rule: once finished, apply the power fix-up, if any.
        for sid, server in servers.items():
            action = power_fixup(before[sid], server)
            if action == "stop":
                nova.stop_server(sid)
            elif action == "start":
                nova.start_server(sid)

        def settled(sid: str) -> Server | None:
            server = nova.get_server(sid)
            return server if server.task_state is None else None

        assert harness.wait("active settled", lambda: settled(active)).status == "ACTIVE"
        assert harness.wait("stopped settled", lambda: settled(stopped)).status == "SHUTOFF"

        with pytest.raises(NovaConflict, match="done"):
            nova.unforce_down(source)
        harness.restart_compute(source)
        harness.wait(
            "migrations completed",
            lambda: all(m.status == "completed" for m in nova.list_evacuations(source)),
        )
        assert not nova.unforce_down(source).forced_down
        harness.wait("source up", lambda: nova.list_compute_services(source)[0].state == "up")

    def test_evacuation_to_an_unknown_host_is_not_found(self, harness: NovaHarness) -> None:
        from instanceha.nova.model import NovaNotFound

        source = harness.hosts[0]
        (sid,) = harness.boot(source)
        harness.crash_compute(source)
        harness.nova.force_down(source)
        with pytest.raises(NovaNotFound):
            harness.nova.evacuate(sid, "no-such-host")
        assert harness.nova.get_server(sid).host == source

    def test_evacuation_without_a_valid_target_ends_in_error(self, harness: NovaHarness) -> None:
        nova = harness.nova
        source, target = harness.hosts[0], harness.hosts[1]
        (sid,) = harness.boot(source)
        harness.crash_compute(source)
        nova.force_down(source)
        nova.disable(target, f"{OUR_DISABLED_REASON_PREFIX} contract: not a valid target")
        nova.evacuate(sid, target)

        def ended() -> Migration | None:
            found = [m for m in nova.list_evacuations(source) if m.instance_uuid == sid]
            return found[0] if found and found[0].status in ("error", "failed") else None

        mig = harness.wait("evacuation failed", ended)
        assert mig.status == "error"

        def settled() -> Server | None:
            server = nova.get_server(sid)
            return server if server.task_state is None else None

        server = harness.wait("server settled", settled)
        assert (server.host, server.status) == (source, "ERROR")  # NoValidHost errors it out
        harness.restart_compute(source)
        assert not nova.unforce_down(source).forced_down  # an error record does not block

    def test_start_and_stop(self, harness: NovaHarness) -> None:
        (sid,) = harness.boot(harness.hosts[2])
        harness.nova.stop_server(sid)
        harness.wait("stopped", lambda: harness.nova.get_server(sid).status == "SHUTOFF")
        with pytest.raises(NovaConflict):
            harness.nova.stop_server(sid)
        harness.nova.start_server(sid)
        harness.wait("running", lambda: harness.nova.get_server(sid).status == "ACTIVE")

    def test_missing_server_is_not_found(self, harness: NovaHarness) -> None:
        from instanceha.nova.model import NovaNotFound

        with pytest.raises(NovaNotFound):
            harness.nova.get_server("00000000-0000-0000-0000-000000000000")

    # ------------------------------------------------------------------ errors

    def test_bad_credentials_are_an_auth_error(self, harness: NovaHarness) -> None:
        with pytest.raises(NovaAuthError):
            harness.bad_credentials().list_compute_services()

    def test_closed_port_is_unavailable(self, harness: NovaHarness) -> None:
        with pytest.raises(NovaUnavailable) as info:
            harness.unreachable().list_compute_services()
        assert "\n" not in str(info.value)
