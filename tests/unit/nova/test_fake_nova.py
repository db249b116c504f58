"""FakeNova's own knobs (faults, ticking, scheduling) beyond the shared contract."""

from __future__ import annotations

import pytest

from fakes.fake_nova import FakeNova
from instanceha.clock import FakeClock
from instanceha.nova.model import (
    NovaConflict,
    NovaNotFound,
    NovaTimeout,
    NovaUnavailable,
    evacuation_finished,
)


def cloud(clock: FakeClock | None = None, **kwargs: object) -> FakeNova:
    fake = FakeNova(clock, **kwargs)  # type: ignore[arg-type]
    for host in ("c1", "c2", "c3"):
        fake.add_compute(host)
    return fake


def failed_host(fake: FakeNova, host: str = "c1") -> None:
    fake.kill_compute(host)
    fake.force_down(host)


def test_active_is_shown_before_the_host_moves() -> None:
    fake = cloud()
    sid = fake.add_server("c1").id
    failed_host(fake)
    fake.evacuate(sid)
    seen = []
    for _ in range(3):
        fake.advance()
        srv = fake.get_server(sid)
        seen.append((srv.status, srv.host, fake.list_evacuations("c1")[0].status))
    assert seen == [
        ("REBUILD", "c1", "pre-migrating"),
        ("ACTIVE", "c1", "pre-migrating"),
        ("ACTIVE", seen[2][1], "done"),
    ]
    assert seen[2][1] != "c1"
    assert evacuation_finished(fake.get_server(sid), "c1")


def test_clock_drives_progress() -> None:
    clock = FakeClock()
    fake = cloud(clock, step_seconds=1.0)
    sid = fake.add_server("c1").id
    failed_host(fake)
    fake.evacuate(sid)
    clock.advance(0.5)
    assert fake.list_evacuations("c1")[0].status == "accepted"
    clock.advance(3)
    assert fake.list_evacuations("c1")[0].status == "done"
    assert fake.in_flight() == 0


def test_without_clock_only_advance_moves() -> None:
    fake = cloud()
    sid = fake.add_server("c1").id
    failed_host(fake)
    fake.evacuate(sid)
    assert fake.in_flight() == 1
    fake.settle()
    assert fake.in_flight() == 0
    assert fake.get_server(sid).host != "c1"


def test_fail_next_counts_and_filters() -> None:
    fake = cloud()
    fake.fail_next(2, methods=["list_compute_services"])
    with pytest.raises(NovaUnavailable):
        fake.list_compute_services()
    fake.list_servers_on_host("c1")
    with pytest.raises(NovaUnavailable):
        fake.list_compute_services()
    assert fake.list_compute_services()
    fake.fail_next(1, NovaTimeout)
    with pytest.raises(NovaTimeout):
        fake.list_aggregates()
    assert fake.list_aggregates() == []


def test_failed_evacuation_ends_in_error() -> None:
    fake = cloud()
    sid = fake.add_server("c1").id
    failed_host(fake)
    fake.fail_evacuation(sid)
    fake.evacuate(sid)
    fake.settle()
    srv = fake.get_server(sid)
    assert (srv.status, srv.host, srv.task_state) == ("ERROR", "c1", None)
    assert fake.list_evacuations("c1")[0].status == "error"
    fake.evacuate(sid)  # ERROR servers may be evacuated again
    fake.settle()
    assert fake.get_server(sid).status == "ACTIVE"


def test_no_valid_host_errors_the_server_out() -> None:
    fake = cloud()
    sid = fake.add_server("c1", status="SHUTOFF").id
    failed_host(fake)
    fake.disable("c2", "maintenance")
    fake.kill_compute("c3")
    fake.evacuate(sid)
    fake.settle()
    srv = fake.get_server(sid)
    assert (srv.status, srv.host, srv.task_state) == ("ERROR", "c1", None)
    assert fake.list_evacuations("c1")[0].status == "error"


def test_refusals() -> None:
    fake = cloud()
    sid = fake.add_server("c1").id
    busy = fake.add_server("c1", task_state="rebooting").id
    failed_host(fake)
    with pytest.raises(NovaConflict):
        fake.evacuate(busy)
    with pytest.raises(NovaNotFound):
        fake.evacuate(sid, "nowhere")
    with pytest.raises(NovaConflict):
        fake.evacuate(sid, "c1")
    fake.evacuate(sid, "c3")
    with pytest.raises(NovaConflict):
        fake.evacuate(sid)  # task in progress
    fake.settle()
    assert fake.get_server(sid).host == "c3"
    with pytest.raises(NovaConflict):
        fake.start_server(sid)  # already ACTIVE


def test_stopped_server_is_stopped_again_before_the_host_moves() -> None:
    fake = cloud()
    sid = fake.add_server("c1", status="SHUTOFF").id
    failed_host(fake)
    fake.evacuate(sid)
    seen = []
    for _ in range(4):
        fake.advance()
        srv = fake.get_server(sid)
        seen.append((srv.status, srv.task_state, srv.host == "c1"))
    assert seen == [
        ("REBUILD", "rebuild_spawning", True),
        ("ACTIVE", "powering-off", True),
        ("SHUTOFF", None, True),
        ("SHUTOFF", None, False),
    ]


def test_stop_evacuated_mimics_2_95() -> None:
    fake = cloud(stop_evacuated=True)
    sid = fake.add_server("c1").id
    failed_host(fake)
    fake.evacuate(sid)
    fake.settle()
    assert fake.get_server(sid).status == "SHUTOFF"


def test_power_operations_on_a_dead_host_are_refused() -> None:
    fake = cloud()
    sid = fake.add_server("c1").id
    fake.kill_compute("c1")
    with pytest.raises(NovaConflict):
        fake.stop_server(sid)


def test_calls_are_recorded() -> None:
    fake = cloud()
    fake.list_compute_services("c1")
    assert fake.calls[-1] == ("list_compute_services", ("c1",))
