"""NovaCompute's start, stop and deep monitor: seconds, never waiting for an evacuation or for
Nova.

The evacuation requests and the return-to-service marker live in in-memory node attributes,
and nova-compute is a real stand-in process run by the agent's DirectDaemon. Nova is never
asked: a Nova that would hang every call proves it. The same start runs end to end on the real
cluster and Nova in tests/integration/test_e2e.py, where Pacemaker's gate rule holds it back.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from fakes.fake_nova import FakeNova
from fakes.memory_cib import MemoryAttributes
from instanceha.agents import nova_compute
from instanceha.agents._service import DirectDaemon
from instanceha.cluster import EvacuationRequests
from instanceha.cluster.attribute_names import (
    NOVA_HOST_ATTRIBUTE,
    SERVICE_ATTRIBUTE,
    SERVICE_IN_SERVICE,
    SERVICE_STARTED,
)
from instanceha.cluster.evacuation import EvacuationRequest
from instanceha.ocf import Context, OcfError, OcfRc
from labs.agents import cloud_params

NODE, HOST = "comp1", "comp1.example.com"
STAND_IN = "#!/usr/bin/python3\nimport time\n\ntime.sleep(600)\n"


@dataclass
class Compute:
    """One compute host as NovaCompute's start and stop see it."""

    attributes: MemoryAttributes
    transient: MemoryAttributes
    daemon: DirectDaemon
    params: dict[str, str]

    def request(self, request: EvacuationRequest) -> None:
        self.attributes.set(NODE, EvacuationRequests().attribute, request.encode())

    def run(self, action: str, check_level: int = 0) -> OcfRc:
        handler = {"start": nova_compute.start, "stop": nova_compute.stop,
                   "monitor": nova_compute.monitor}[action]
        ctx = Context(action=action, on_node=NODE, timeout_s=20.0, check_level=check_level,
                      interval_ms=60000 if action == "monitor" else 0)
        return handler(ctx, nova_compute.SPEC.params.parse(self.params))


@pytest.fixture
def compute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Compute]:
    binary = tmp_path / "nova-compute"
    binary.write_text(STAND_IN)
    binary.chmod(0o755)
    config = tmp_path / "nova.conf"
    config.write_text("[DEFAULT]\n")
    params = {"nova_host": HOST, "service_manager": "direct", "binary": str(binary),
              "config_files": str(config), "pidfile": str(tmp_path / "nova-compute.pid"),
              "log_file": str(tmp_path / "nova-compute.out"), **cloud_params(tmp_path)}
    daemon = nova_compute._manager(nova_compute.SPEC.params.parse(params))
    assert isinstance(daemon, DirectDaemon)
    attributes, transient = MemoryAttributes(), MemoryAttributes()
    monkeypatch.setattr(nova_compute, "_attributes", lambda: attributes)
    monkeypatch.setattr(nova_compute, "_transient", lambda: transient)

    def no_nova(params: object, environ: object) -> None:
        raise AssertionError("NovaCompute's start and stop must not ask Nova")

    monkeypatch.setattr(nova_compute, "_nova", no_nova)
    try:
        yield Compute(attributes, transient, daemon, params)
    finally:
        daemon.stop(time.monotonic() + 10)


def test_start_runs_nova_compute_and_hands_the_host_to_the_evacuator(compute: Compute) -> None:
    compute.request(EvacuationRequest.done(time.time()))
    assert compute.run("start") == OcfRc.SUCCESS
    assert compute.daemon.is_running()
    assert compute.attributes.get(NODE, NOVA_HOST_ATTRIBUTE) == HOST
    assert compute.transient.get(NODE, SERVICE_ATTRIBUTE) == SERVICE_STARTED


@pytest.mark.parametrize("request_value", [
    EvacuationRequest.requested(1), EvacuationRequest.in_progress("ctl1", 1)])
def test_start_refuses_at_once_while_the_evacuation_is_unfinished(
    compute: Compute, request_value: EvacuationRequest
) -> None:
    """Pacemaker's gate rule keeps this start from being run; forced anyway, it fails fast."""
    compute.request(request_value)
    with pytest.raises(OcfError, match="must not start before it is done") as error:
        compute.run("start")
    assert error.value.rc == OcfRc.ERR_GENERIC
    assert not compute.daemon.is_running()
    assert compute.transient.get(NODE, SERVICE_ATTRIBUTE) is None


def test_stop_withdraws_the_marker(compute: Compute) -> None:
    assert compute.run("start") == OcfRc.SUCCESS
    assert compute.run("stop") == OcfRc.SUCCESS
    assert not compute.daemon.is_running()
    assert compute.transient.get(NODE, SERVICE_ATTRIBUTE) is None


def test_deep_monitor_trusts_the_evacuator_while_it_returns_the_host(
    compute: Compute, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Right after start Nova still reports the host forced down: that is the evacuator's
    work in progress (instanceha-nova-compute=started), not a degraded service."""
    assert compute.run("start") == OcfRc.SUCCESS
    assert compute.run("monitor", check_level=10) == OcfRc.SUCCESS  # Nova not asked
    nova = FakeNova(step_seconds=0.01)
    nova.add_compute(HOST)
    nova.force_down(HOST)
    monkeypatch.setattr(nova_compute, "_nova", lambda params, environ: nova)
    compute.transient.set(NODE, SERVICE_ATTRIBUTE, SERVICE_IN_SERVICE)
    assert compute.run("monitor", check_level=10) == OcfRc.DEGRADED
    nova.unforce_down(HOST)
    assert compute.run("monitor", check_level=10) == OcfRc.SUCCESS
