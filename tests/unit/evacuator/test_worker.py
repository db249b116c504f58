"""The evacuator worker with an in-memory CIB and the stateful FakeNova."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from fakes.fake_nova import FakeNova
from fakes.memory_cib import MemoryAttributes
from instanceha.clock import SystemClock
from instanceha.cluster import EvacuationRequest, FenceEvent, FenceState, NodeInfo
from instanceha.evacuation.config import EngineConfig
from instanceha.evacuation.policy import Mode, PolicyConfig
from instanceha.evacuator.guard import HOLD_ATTRIBUTE, GuardConfig
from instanceha.evacuator.worker import (
    PROGRESS_ATTRIBUTE,
    RESULT_ATTRIBUTE,
    Evacuator,
    EvacuatorSettings,
)
from instanceha.hostmap import HostMap

REQ = "instanceha-evacuate"


class Nodes:
    def __init__(self, remote: list[str]) -> None:
        self.remote = remote

    def remote_nodes(self) -> list[NodeInfo]:
        return [NodeInfo(n, n, "remote", online=False) for n in self.remote]


class History:
    def __init__(self, events: list[FenceEvent] | None = None) -> None:
        self.list = events or []

    def events(self) -> list[FenceEvent]:
        return self.list


def _lab(hosts: int = 4) -> FakeNova:
    nova = FakeNova(SystemClock(), step_seconds=0.01)
    for i in range(1, hosts + 1):
        nova.add_compute(f"comp{i}")
    return nova


def _worker(nova: FakeNova, attrs: MemoryAttributes, tmp: Path, *, owner: str = "ctl1",
            guard: GuardConfig | None = None, history: History | None = None,
            hosts: int = 4) -> Evacuator:
    settings = EvacuatorSettings(
        owner=owner, heartbeat_path=str(tmp / f"hb-{owner}"), poll_interval=0.05,
        stale_after=1.0, retry_after=0.1,
        engine=EngineConfig(poll_interval=0.02, max_parallel=4, retry_backoff=0.05,
                            outage_backoff=0.05),
        policy=PolicyConfig(mode=Mode.ALL), guard=guard or GuardConfig())
    return Evacuator(settings, lambda: nova, HostMap(), attributes=attrs,
                     nodes=Nodes([f"comp{i}" for i in range(1, hosts + 1)]),  # type: ignore[arg-type]
                     history=history or History())  # type: ignore[arg-type]


def _until(predicate: Callable[[], bool], worker: Evacuator, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        worker.run_pass()
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached")


def _evacuate_calls(nova: FakeNova) -> dict[str, int]:
    counts: dict[str, int] = {}
    for method, args in nova.calls:
        if method == "evacuate":
            counts[str(args[0])] = counts.get(str(args[0]), 0) + 1
    return counts


def test_a_request_is_evacuated_completed_and_reported(tmp_path: Path) -> None:
    nova, attrs = _lab(), MemoryAttributes()
    servers = [nova.add_server("comp1", status=s).id for s in ("ACTIVE", "SHUTOFF", "ACTIVE")]
    nova.kill_compute("comp1")
    attrs.set("comp1", REQ, EvacuationRequest.requested(time.time()).encode())
    worker = _worker(nova, attrs, tmp_path)
    _until(lambda: attrs.get("comp1", REQ, ).startswith("done:"), worker)  # type: ignore[union-attr]
    assert _evacuate_calls(nova) == {sid: 1 for sid in servers}
    assert {nova.get_server(s).host for s in servers}.isdisjoint({"comp1"})
    assert attrs.get("comp1", PROGRESS_ATTRIBUTE) == "complete"
    assert "3 evacuated" in (attrs.get("comp1", RESULT_ATTRIBUTE) or "")
    assert (tmp_path / "hb-ctl1").exists()


def test_a_dead_controllers_claim_is_taken_over_without_duplicates(tmp_path: Path) -> None:
    nova, attrs = _lab(), MemoryAttributes()
    servers = [nova.add_server("comp1").id for _ in range(6)]
    nova.kill_compute("comp1")
    nova.force_down("comp1")
    for sid in servers[:3]:  # the dead evacuator got half of them going
        nova.evacuate(sid)
    stale = EvacuationRequest.in_progress("ctl-dead", time.time() - 30).encode()
    attrs.set("comp1", REQ, stale)
    worker = _worker(nova, attrs, tmp_path, owner="ctl2")
    _until(lambda: (attrs.get("comp1", REQ) or "").startswith("done:"), worker)
    assert _evacuate_calls(nova) == {sid: 1 for sid in servers}


def test_stop_releases_claims_for_prompt_resumption(tmp_path: Path) -> None:
    nova, attrs = _lab(), MemoryAttributes()
    attrs.set("comp1", REQ, EvacuationRequest.in_progress("ctl1", time.time()).encode())
    _worker(nova, attrs, tmp_path).release_all()
    assert (attrs.get("comp1", REQ) or "").startswith("requested:")


def test_mass_failure_guard_holds_until_released(tmp_path: Path) -> None:
    nova, attrs = _lab(), MemoryAttributes()
    for host in ("comp1", "comp2", "comp3"):
        nova.add_server(host)
        nova.kill_compute(host)
        attrs.set(host, REQ, EvacuationRequest.requested(time.time()).encode())
    worker = _worker(nova, attrs, tmp_path, guard=GuardConfig(max_hosts=2, window=600))
    for _ in range(5):
        worker.run_pass()
        time.sleep(0.05)
    assert _evacuate_calls(nova) == {}
    assert all((attrs.get(h, HOLD_ATTRIBUTE) or "").startswith("held:")
               for h in ("comp1", "comp2", "comp3"))
    attrs.set("comp2", HOLD_ATTRIBUTE, f"released:{int(time.time())}")
    _until(lambda: (attrs.get("comp2", REQ) or "").startswith("done:"), worker)
    assert (attrs.get("comp1", REQ) or "").startswith("requested:")
    assert len(_evacuate_calls(nova)) == 1


def _fenced(node: str, ago: float) -> FenceEvent:
    return FenceEvent(node, "reboot", FenceState.SUCCESS, time.time() - ago)


def test_a_missed_alert_is_caught_from_the_fencing_history(tmp_path: Path) -> None:
    nova, attrs = _lab(), MemoryAttributes()
    nova.add_server("comp2")
    nova.kill_compute("comp2")
    worker = _worker(nova, attrs, tmp_path, history=History([_fenced("comp2", 5)]))
    _until(lambda: (attrs.get("comp2", REQ) or "").startswith("done:"), worker)
    assert len(_evacuate_calls(nova)) == 1


@pytest.mark.parametrize("ago", [5.0, 7200.0])
def test_history_never_evacuates_a_live_or_long_ago_host(tmp_path: Path, ago: float) -> None:
    nova, attrs = _lab(), MemoryAttributes()
    nova.add_server("comp3")
    if ago > 3600:
        nova.kill_compute("comp3")  # down, but fenced too long ago to be this failure
    worker = _worker(nova, attrs, tmp_path, history=History([_fenced("comp3", ago)]))
    for _ in range(3):
        worker.run_pass()
    assert attrs.get("comp3", REQ) is None
    assert _evacuate_calls(nova) == {}
