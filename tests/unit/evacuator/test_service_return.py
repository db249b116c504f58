"""Returning a host to service once NovaCompute started nova-compute again: one step per
evacuator pass, never waiting, unforce before enable, enable only once Nova sees it up, an
admin's disable kept. Nova is the contract-tested FakeNova; the markers live in memory."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from fakes.fake_nova import FakeNova
from fakes.memory_cib import MemoryAttributes
from instanceha.cluster import EvacuationRequest
from instanceha.cluster.attribute_names import (
    SERVICE_ATTRIBUTE,
    SERVICE_IN_SERVICE,
    SERVICE_STARTED,
)
from instanceha.evacuator.service_return import ServiceReturn
from instanceha.nova.hostmap import HostMap
from instanceha.nova.model import ComputeService, NovaUnavailable

NODE = HOST = "comp1"
FENCED = "instanceha: fenced by fence_nova"
DONE = {NODE: EvacuationRequest.done(time.time())}


def _fenced() -> tuple[FakeNova, MemoryAttributes, ServiceReturn]:
    """comp1 fenced (forced down, disabled by us, nova-compute dead); NovaCompute started."""
    nova = FakeNova(step_seconds=0.01)
    nova.add_compute(HOST, alive=False)
    nova.add_compute("comp2")
    nova.force_down(HOST)
    nova.disable(HOST, FENCED)
    markers = MemoryAttributes()
    markers.set(NODE, SERVICE_ATTRIBUTE, SERVICE_STARTED)
    return nova, markers, ServiceReturn(markers, lambda: nova)


def _service(nova: FakeNova) -> tuple[bool, str]:
    service = nova.list_compute_services(HOST)[0]
    return service.forced_down, service.status


def test_unforced_at_once_enabled_only_once_seen_up() -> None:
    nova, markers, returner = _fenced()
    returner.run(DONE, HostMap())
    assert _service(nova) == (False, "disabled")  # no heartbeat yet: not enabled
    assert markers.get(NODE, SERVICE_ATTRIBUTE) == SERVICE_STARTED
    nova.restart_compute(HOST)  # the first heartbeat
    returner.run(DONE, HostMap())
    assert _service(nova) == (False, "enabled")
    assert markers.get(NODE, SERVICE_ATTRIBUTE) == SERVICE_IN_SERVICE
    calls = [name for name, _ in nova.calls]
    assert calls.index("unforce_down") < calls.index("enable")
    calls_before = len(nova.calls)
    returner.run(DONE, HostMap())
    assert len(nova.calls) == calls_before, "a host in service costs no Nova call"


def test_nova_refusing_the_unforce_is_retried_on_a_later_pass() -> None:
    nova, markers, returner = _fenced()
    server = nova.add_server(HOST).id
    nova.evacuate(server)
    nova.settle()  # a 'done' evacuation record: Nova refuses the unforce until restart
    returner.run(DONE, HostMap())
    assert _service(nova) == (True, "disabled")
    assert markers.get(NODE, SERVICE_ATTRIBUTE) == SERVICE_STARTED
    nova.restart_compute(HOST)
    returner.run(DONE, HostMap())
    assert _service(nova) == (False, "enabled")


def test_an_admins_disable_is_kept() -> None:
    nova, markers, returner = _fenced()
    nova.enable(HOST)
    nova.disable(HOST, "maintenance until Monday")
    returner.run(DONE, HostMap())
    service = nova.list_compute_services(HOST)[0]
    assert (service.forced_down, service.status) == (False, "disabled")
    assert service.disabled_reason == "maintenance until Monday"
    assert markers.get(NODE, SERVICE_ATTRIBUTE) == SERVICE_IN_SERVICE


@pytest.mark.parametrize("request_value", [
    EvacuationRequest.requested(1), EvacuationRequest.in_progress("ctl1", 1)])
def test_nothing_is_undone_while_the_evacuation_is_unfinished(
    request_value: EvacuationRequest
) -> None:
    nova, markers, returner = _fenced()
    nova.restart_compute(HOST)
    returner.run({NODE: request_value}, HostMap())
    assert _service(nova) == (True, "disabled")
    assert nova.calls == [] or all(name != "unforce_down" for name, _ in nova.calls)


def test_no_marker_no_nova_call_and_nova_down_is_retried() -> None:
    nova, markers, returner = _fenced()
    markers.delete(NODE, SERVICE_ATTRIBUTE)
    calls_before = len(nova.calls)
    returner.run(DONE, HostMap())
    assert len(nova.calls) == calls_before
    markers.set(NODE, SERVICE_ATTRIBUTE, SERVICE_STARTED)
    nova.fail_next(5, NovaUnavailable)
    returner.run(DONE, HostMap())  # logged, not raised: the pass goes on
    assert markers.get(NODE, SERVICE_ATTRIBUTE) == SERVICE_STARTED
    returner.withdraw(NODE)
    assert markers.get(NODE, SERVICE_ATTRIBUTE) is None


def test_the_dead_nova_computes_last_heartbeat_is_not_taken_for_the_new_one(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nova counts a service up for service_down_time after its last heartbeat: right after a
    quick evacuation that heartbeat is the dead process's. Enabled on it, the host was
    skipped by the scheduler ("has not been heard from in a while", seen on the live lab)."""
    nova, markers, returner = _fenced()
    real = nova.list_compute_services
    stale = {"updated_at": "05:30:05"}

    def last_heartbeat_before_the_crash(host: str | None = None) -> list[ComputeService]:
        return [replace(s, state="up", updated_at=stale["updated_at"]) for s in real(host)]

    monkeypatch.setattr(nova, "list_compute_services", last_heartbeat_before_the_crash)
    returner.run(DONE, HostMap())
    returner.run(DONE, HostMap())
    assert _service(nova) == (False, "disabled"), "enabled on a stale heartbeat"
    stale["updated_at"] = "05:30:27"  # the restarted nova-compute reports
    returner.run(DONE, HostMap())
    assert _service(nova) == (False, "enabled")
    assert markers.get(NODE, SERVICE_ATTRIBUTE) == SERVICE_IN_SERVICE
