"""NovaCompute's start: held back while its host's evacuation is unfinished, then started,
unforced, seen up and only then re-enabled.

Nova is the contract-tested FakeNova, the evacuation requests live in in-memory node
attributes, and nova-compute is a real stand-in process run by the agent's DirectDaemon.
The same start runs end to end on the real cluster and Nova in tests/integration/test_e2e.py.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from fakes.fake_nova import FakeNova
from fakes.memory_cib import MemoryAttributes
from instanceha.agents import nova_compute
from instanceha.cluster import EvacuationRequests
from instanceha.cluster.evacuation import EvacuationRequest
from instanceha.hostmap import NOVA_HOST_ATTRIBUTE
from instanceha.nova.model import NovaUnavailable
from instanceha.ocf import Context, OcfError, OcfRc
from instanceha.service import DirectDaemon
from labs.agents import cloud_params

NODE, HOST, OTHER = "comp1", "comp1.example.com", "comp2.example.com"
STAND_IN = "#!/usr/bin/python3\nimport time\n\ntime.sleep(600)\n"
FENCED = "instanceha: fenced by comp1's fence device"


@dataclass
class Compute:
    """One compute host as NovaCompute's start sees it."""

    nova: FakeNova
    attributes: MemoryAttributes
    daemon: DirectDaemon
    params: dict[str, str]

    def request(self, request: EvacuationRequest) -> None:
        self.attributes.set(NODE, EvacuationRequests().attribute, request.encode())

    def start(self, timeout_s: float = 20.0) -> OcfRc:
        ctx = Context(action="start", on_node=NODE, timeout_s=timeout_s)
        return nova_compute.start(ctx, nova_compute.SPEC.params.parse(self.params))

    def called(self, method: str) -> int:
        """Position of the first call of ``method`` in the fake's call log."""
        return next(i for i, (name, _) in enumerate(self.nova.calls) if name == method)


@pytest.fixture
def compute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Compute]:
    """A fenced comp1 (forced down and disabled by us, nova-compute dead), comp2 healthy."""
    nova = FakeNova(step_seconds=0.01)
    nova.add_compute(HOST, alive=False)
    nova.add_compute(OTHER)
    nova.force_down(HOST)
    nova.disable(HOST, FENCED)
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

    class Reporting(DirectDaemon):
        """Nova sees the service alive shortly after the process starts (its first heartbeat)."""

        def start(self, deadline: float) -> None:
            super().start(deadline)
            threading.Timer(0.3, nova.restart_compute, [HOST]).start()

    attributes = MemoryAttributes()
    monkeypatch.setattr(nova_compute, "_attributes", lambda: attributes)
    monkeypatch.setattr(nova_compute, "_nova", lambda params: nova)
    monkeypatch.setattr(nova_compute, "_manager", lambda params: Reporting(
        daemon.argv, daemon.pidfile, log_path=daemon.log_path))
    monkeypatch.setattr(nova_compute, "_POLL_S", 0.05)
    monkeypatch.setattr(nova_compute, "_UP_MARGIN_S", 0.5)
    try:
        yield Compute(nova, attributes, daemon, params)
    finally:
        daemon.stop(time.monotonic() + 10)


def _evacuate_one(nova: FakeNova) -> str:
    server = nova.add_server(HOST).id
    nova.evacuate(server)
    return server


def test_a_pending_request_holds_nova_compute_back(compute: Compute) -> None:
    compute.request(EvacuationRequest.in_progress("ctl1", time.time()))
    with pytest.raises(OcfError, match="start timed out while gated: evacuation of comp1 is"):
        compute.start(timeout_s=1.0)
    assert not compute.daemon.is_running()
    assert compute.nova.list_compute_services(HOST)[0].forced_down  # nothing undone


def test_an_evacuation_still_moving_in_nova_holds_it_back(compute: Compute) -> None:
    compute.request(EvacuationRequest.done(time.time()))
    _evacuate_one(compute.nova)
    with pytest.raises(OcfError, match=r"1 evacuation\(s\) from comp1.example.com still in fl"):
        compute.start(timeout_s=1.0)
    assert not compute.daemon.is_running()


def test_while_nova_cannot_be_asked_it_stays_held_back(compute: Compute) -> None:
    compute.nova.fail_next(1000, NovaUnavailable)
    with pytest.raises(OcfError, match="gated: cannot ask Nova about evacuations: injected"):
        compute.start(timeout_s=1.0)
    assert not compute.daemon.is_running()


def test_starts_once_the_evacuation_ends_then_unforces_and_enables(compute: Compute) -> None:
    compute.request(EvacuationRequest.in_progress("ctl1", time.time()))
    server = _evacuate_one(compute.nova)

    def evacuator_finishes() -> None:
        time.sleep(0.3)
        compute.nova.settle()
        compute.request(EvacuationRequest.done(time.time()))

    finisher = threading.Thread(target=evacuator_finishes)
    finisher.start()
    assert compute.start() == OcfRc.SUCCESS
    finisher.join()
    assert compute.daemon.is_running()
    assert compute.nova.get_server(server).host == OTHER
    assert compute.attributes.get(NODE, NOVA_HOST_ATTRIBUTE) == HOST
    service = compute.nova.list_compute_services(HOST)[0]
    assert (service.state, service.forced_down, service.status) == ("up", False, "enabled")
    assert compute.called("unforce_down") < compute.called("enable")


def test_enables_only_once_nova_has_seen_the_first_heartbeat(
    compute: Compute, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Enabled earlier, Nova would not tell the compute to drop its COMPUTE_STATUS_DISABLED
    trait, and the scheduler would skip the host until nova-compute's next periodic sync."""
    states_when_enabled = []
    enable = compute.nova.enable

    def recording_enable(host: str) -> object:
        states_when_enabled.append(compute.nova.list_compute_services(host)[0].state)
        return enable(host)

    monkeypatch.setattr(compute.nova, "enable", recording_enable)
    assert compute.start() == OcfRc.SUCCESS
    assert states_when_enabled == ["up"]


def test_an_admins_disable_is_kept(compute: Compute) -> None:
    compute.nova.enable(HOST)
    compute.nova.disable(HOST, "maintenance until Monday")
    assert compute.start() == OcfRc.SUCCESS
    service = compute.nova.list_compute_services(HOST)[0]
    assert (service.forced_down, service.status) == (False, "disabled")
    assert service.disabled_reason == "maintenance until Monday"
