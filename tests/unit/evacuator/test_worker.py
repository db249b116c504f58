"""The evacuator worker with an in-memory CIB and the stateful FakeNova."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from fakes.fake_nova import FakeNova
from fakes.memory_cib import MemoryAttributes
from instanceha.clock import FakeClock
from instanceha.cluster import EvacuationRequest, FenceEvent, FenceState, NodeInfo
from instanceha.cluster.attribute_names import (
    HOLD_ATTRIBUTE,
    NOT_EVACUATED_ATTRIBUTE,
    PROGRESS_ATTRIBUTE,
    RESULT_ATTRIBUTE,
    SERVICE_ATTRIBUTE,
    SERVICE_IN_SERVICE,
    SERVICE_STARTED,
)
from instanceha.evacuation.config import EngineConfig
from instanceha.evacuation.outcome import (
    NOT_EVACUATED_LIMIT,
    HostProgress,
    decode_not_evacuated,
)
from instanceha.evacuation.policy import Mode, PolicyConfig
from instanceha.evacuator.cib_journal import CibJournal
from instanceha.evacuator.guard import GuardConfig
from instanceha.evacuator.worker import Evacuator, EvacuatorSettings, NoQuorum
from instanceha.nova.hostmap import HostMap
from instanceha.nova.model import Migration

REQ = "instanceha-evacuate"


class Nodes:
    def __init__(self, remote: list[str]) -> None:
        self.remote = remote
        self.members: list[NodeInfo] = []
        self.has_quorum = True

    def nodes(self) -> list[NodeInfo]:
        return [NodeInfo(n, n, "remote", online=False) for n in self.remote] + self.members

    def remote_nodes(self) -> list[NodeInfo]:
        return [n for n in self.nodes() if n.is_remote]

    def quorate(self) -> bool:
        return self.has_quorum


class History:
    def __init__(self, events: list[FenceEvent] | None = None) -> None:
        self.list = events or []

    def events(self) -> list[FenceEvent]:
        return self.list


#: When every test starts, on its lab's fake clock (the worker and its engine share it).
T0 = 1_800_000_000.0


class Lab(FakeNova):
    """The fake Nova on a fake clock that the worker shares: nothing here sleeps for real."""

    def __init__(self) -> None:
        self.clock = FakeClock(T0)
        super().__init__(self.clock, step_seconds=0.01)


def _lab(hosts: int = 4) -> Lab:
    nova = Lab()
    for i in range(1, hosts + 1):
        nova.add_compute(f"comp{i}")
    return nova


def _worker(nova: Lab, attrs: MemoryAttributes, tmp: Path, *, owner: str = "ctl1",
            guard: GuardConfig | None = None, history: History | None = None,
            hosts: int = 4, transient: MemoryAttributes | None = None,
            metrics_file: str = "") -> Evacuator:
    settings = EvacuatorSettings(
        owner=owner, heartbeat_path=str(tmp / f"hb-{owner}"), poll_interval=0.05,
        stale_after=1.0, retry_after=0.1,
        engine=EngineConfig(poll_interval=0.02, max_parallel=4, retry_backoff=0.05,
                            outage_backoff=0.05),
        policy=PolicyConfig(mode=Mode.ALL), guard=guard or GuardConfig(),
        metrics_file=metrics_file)
    return Evacuator(settings, lambda: nova, HostMap(), attributes=attrs,
                     nodes=Nodes([f"comp{i}" for i in range(1, hosts + 1)]),  # type: ignore[arg-type]
                     history=history or History(),  # type: ignore[arg-type]
                     transient=transient if transient is not None else MemoryAttributes(),
                     clock=nova.clock)


def _until(predicate: Callable[[], bool], worker: Evacuator, passes: int = 400) -> None:
    """Run passes until ``predicate`` holds: between two, the poll interval goes by on the fake
    clock and each evacuation running in its thread ends (a bounded wait, never a sleep)."""
    for _ in range(passes):
        worker.run_pass()
        if predicate():
            return
        worker.clock.sleep(worker.settings.poll_interval)
        _settle(worker)
    raise AssertionError("condition not reached")


def _settle(worker: Evacuator, timeout: float = 10) -> None:
    """Wait for the evacuations running in their threads to end."""
    for thread in list(worker._running.values()):
        thread.join(timeout)


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
    attrs.set("comp1", REQ, EvacuationRequest.requested(T0).encode())
    worker = _worker(nova, attrs, tmp_path)
    _until(lambda: attrs.get("comp1", REQ, ).startswith("done:"), worker)  # type: ignore[union-attr]
    assert _evacuate_calls(nova) == {sid: 1 for sid in servers}
    assert {nova.get_server(s).host for s in servers}.isdisjoint({"comp1"})
    progress = worker.transient.get_all(PROGRESS_ATTRIBUTE)
    assert progress == {"comp1": "complete"}, "transient: only matters while a run goes on"
    assert attrs.get("comp1", PROGRESS_ATTRIBUTE) is None
    assert "3 evacuated" in (attrs.get("comp1", RESULT_ATTRIBUTE) or "")
    assert (tmp_path / "hb-ctl1").exists()


def test_a_dead_controllers_claim_is_taken_over_without_duplicates(tmp_path: Path) -> None:
    nova, attrs = _lab(), MemoryAttributes()
    servers = [nova.add_server("comp1").id for _ in range(6)]
    nova.kill_compute("comp1")
    nova.force_down("comp1")
    for sid in servers[:3]:  # the dead evacuator got half of them going
        nova.evacuate(sid)
    stale = EvacuationRequest.in_progress("ctl-dead", T0 - 30).encode()
    attrs.set("comp1", REQ, stale)
    worker = _worker(nova, attrs, tmp_path, owner="ctl2")
    _until(lambda: (attrs.get("comp1", REQ) or "").startswith("done:"), worker)
    assert _evacuate_calls(nova) == {sid: 1 for sid in servers}


def test_stop_releases_claims_for_prompt_resumption(tmp_path: Path) -> None:
    nova, attrs = _lab(), MemoryAttributes()
    attrs.set("comp1", REQ, EvacuationRequest.in_progress("ctl1", T0).encode())
    _worker(nova, attrs, tmp_path).release_all()
    assert (attrs.get("comp1", REQ) or "").startswith("requested:")


def test_mass_failure_guard_holds_until_released(tmp_path: Path) -> None:
    nova, attrs = _lab(), MemoryAttributes()
    for host in ("comp1", "comp2", "comp3"):
        nova.add_server(host)
        nova.kill_compute(host)
        attrs.set(host, REQ, EvacuationRequest.requested(T0).encode())
    worker = _worker(nova, attrs, tmp_path, guard=GuardConfig(max_hosts=2, window=600))
    for _ in range(5):
        worker.run_pass()
        worker.clock.sleep(worker.settings.poll_interval)
    assert _evacuate_calls(nova) == {}
    assert all((attrs.get(h, HOLD_ATTRIBUTE) or "").startswith("held:")
               for h in ("comp1", "comp2", "comp3"))
    attrs.set("comp2", HOLD_ATTRIBUTE, f"released:{int(worker.clock.time())}")
    _until(lambda: (attrs.get("comp2", REQ) or "").startswith("done:"), worker)
    assert (attrs.get("comp1", REQ) or "").startswith("requested:")
    assert len(_evacuate_calls(nova)) == 1


def _fenced(node: str, ago: float) -> FenceEvent:
    return FenceEvent(node, "reboot", FenceState.SUCCESS, T0 - ago)


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


def test_a_new_incident_never_shows_the_previous_result(tmp_path: Path) -> None:
    nova, attrs = _lab(), MemoryAttributes()
    nova.add_server("comp1")
    nova.kill_compute("comp1")
    attrs.set("comp1", RESULT_ATTRIBUTE, "comp1: 9 evacuated, 0 skipped, 0 failed (last week)")
    attrs.set("comp1", REQ, EvacuationRequest.requested(T0).encode())
    worker = _worker(nova, attrs, tmp_path)
    seen: list[str | None] = []
    _until(lambda: seen.append(attrs.get("comp1", RESULT_ATTRIBUTE))  # type: ignore[func-returns-value]
           or (attrs.get("comp1", REQ) or "").startswith("done:"), worker)
    assert "last week" not in (attrs.get("comp1", RESULT_ATTRIBUTE) or "")
    assert all("last week" not in (value or "") for value in seen[1:]), seen


def test_done_waits_until_nova_lists_no_evacuation_from_the_host_moving(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An evacuation someone else started from the host still moves: nova-compute must not
    start yet, so the request is not completed until it ends."""
    nova, attrs = _lab(), MemoryAttributes()
    nova.add_server("comp1")
    nova.kill_compute("comp1")
    attrs.set("comp1", REQ, EvacuationRequest.requested(T0).encode())
    listings = {"moving": 3}
    real = nova.list_evacuations

    def with_a_foreign_one_moving(host: str) -> list[Migration]:
        migrations = real(host)
        if listings["moving"] and migrations and migrations[0].status in ("done", "completed"):
            listings["moving"] -= 1
            return [*migrations, replace(migrations[0], id="foreign", status="accepted")]
        return migrations

    monkeypatch.setattr(nova, "list_evacuations", with_a_foreign_one_moving)
    worker = _worker(nova, attrs, tmp_path)
    _until(lambda: (attrs.get("comp1", REQ) or "").startswith("done:"), worker)
    assert listings["moving"] == 0, "completed while Nova still listed a moving evacuation"
    assert len(_evacuate_calls(nova)) == 1


def test_progress_is_throttled_but_the_latest_snapshot_is_always_published(
    tmp_path: Path
) -> None:
    nova, attrs = _lab(), MemoryAttributes()
    worker = _worker(nova, attrs, tmp_path)
    worker.settings = replace(worker.settings, progress_every=3600.0)
    first = HostProgress("comp1", total=8, evacuated=0, failed=0, skipped=0, in_flight=0,
                         pending=8)
    shown = lambda: worker.transient.get_all(PROGRESS_ATTRIBUTE).get("comp1")  # noqa: E731
    worker._publish_progress("comp1", first)
    assert shown() == "0/8 evacuated, 0 failed, 0 skipped, 0 in flight"
    worker._publish_progress("comp1", replace(first, in_flight=8, pending=0))
    assert "0 in flight" in (shown() or "")  # throttled
    worker.settings = replace(worker.settings, progress_every=0.0)
    worker._flush_progress("comp1")  # what every pass does for a running host
    assert shown() == "0/8 evacuated, 0 failed, 0 skipped, 8 in flight"
    worker._publish_progress("comp1", replace(first, evacuated=8, pending=0))
    assert shown() == "8/8 evacuated, 0 failed, 0 skipped, 0 in flight"


def test_a_pass_returns_a_restarted_host_to_service(tmp_path: Path) -> None:
    nova, attrs, markers = _lab(), MemoryAttributes(), MemoryAttributes()
    nova.add_server("comp1")
    nova.kill_compute("comp1")
    attrs.set("comp1", REQ, EvacuationRequest.requested(T0).encode())
    markers.set("comp1", SERVICE_ATTRIBUTE, SERVICE_STARTED)  # left from before the failure
    worker = _worker(nova, attrs, tmp_path, transient=markers)
    _until(lambda: (attrs.get("comp1", REQ) or "").startswith("done:"), worker)
    assert markers.get("comp1", SERVICE_ATTRIBUTE) is None, "withdrawn when the claim began"
    assert nova.list_compute_services("comp1")[0].forced_down
    nova.restart_compute("comp1")
    markers.set("comp1", SERVICE_ATTRIBUTE, SERVICE_STARTED)  # NovaCompute started it
    _until(lambda: markers.get("comp1", SERVICE_ATTRIBUTE) == SERVICE_IN_SERVICE, worker)
    service = nova.list_compute_services("comp1")[0]
    assert (service.forced_down, service.status, service.state) == (False, "enabled", "up")


def test_a_long_evacuation_is_counted_from_its_failure_not_its_claim_renewals(
    tmp_path: Path
) -> None:
    """comp1 was fenced 50 minutes ago and ctl2 still evacuates it (renewing its claim every
    pass); comp2 failing now is the only failure in the window, also after a full cluster
    restart emptied the fencing history."""
    nova, attrs = _lab(), MemoryAttributes()
    nova.add_server("comp2")
    nova.kill_compute("comp2")
    history = History([_fenced("comp1", 3000)])
    attrs.set("comp1", REQ, EvacuationRequest.in_progress("ctl2", T0).encode())
    worker = _worker(nova, attrs, tmp_path, history=history,
                     guard=GuardConfig(max_hosts=1, window=600))
    worker.settings = replace(worker.settings, stale_after=3600.0)  # ctl2 is alive
    worker.run_pass()
    history.list.clear()  # pacemaker-fenced forgot it
    now = worker.clock.time()
    attrs.set("comp1", REQ, EvacuationRequest.in_progress("ctl2", now).encode())
    attrs.set("comp2", REQ, EvacuationRequest.requested(now).encode())
    _until(lambda: (attrs.get("comp2", REQ) or "").startswith("done:"), worker)
    assert attrs.get("comp2", HOLD_ATTRIBUTE) is None
    assert _evacuate_calls(nova) and (attrs.get("comp1", REQ) or "").startswith("in-progress:ctl2")


def test_a_host_released_once_is_held_again_when_it_fails_again(tmp_path: Path) -> None:
    nova, attrs = _lab(), MemoryAttributes()
    for host in ("comp1", "comp2", "comp3"):
        nova.add_server(host)
        nova.kill_compute(host)
        attrs.set(host, REQ, EvacuationRequest.requested(T0).encode())
    attrs.set("comp3", HOLD_ATTRIBUTE, f"released:{int(T0) - 3600}")  # last failure
    worker = _worker(nova, attrs, tmp_path, guard=GuardConfig(max_hosts=2, window=600))
    worker.run_pass()
    assert _evacuate_calls(nova) == {}
    assert all((attrs.get(h, HOLD_ATTRIBUTE) or "").startswith("held:")
               for h in ("comp1", "comp2", "comp3"))


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno == logging.WARNING:
            self.lines.append(record.getMessage())


def test_every_server_left_behind_is_named_with_its_reason(tmp_path: Path) -> None:
    """A vTPM server and a PAUSED one are skipped: crm_mon -A (a bounded one-line attribute)
    and the log at WARNING name each with its reason, not only the counts."""
    nova, attrs = _lab(), MemoryAttributes()
    nova.add_server("comp1", name="web")
    tpm = nova.add_server("comp1", name="tpm-vm", flavor_extra_specs={"hw:tpm_version": "2.0"})
    paused = nova.add_server("comp1", name="paused;vm\nx", status="PAUSED")
    nova.kill_compute("comp1")
    attrs.set("comp1", REQ, EvacuationRequest.requested(T0).encode())
    worker = _worker(nova, attrs, tmp_path)
    records, logger = _Records(), logging.getLogger("instanceha.evacuator")
    level = logger.level
    logger.addHandler(records)  # another test's logging setup may stop propagation
    logger.setLevel(logging.WARNING)
    try:
        _until(lambda: (attrs.get("comp1", REQ) or "").startswith("done:"), worker)
    finally:
        logger.removeHandler(records)
        logger.setLevel(level)
    shown = attrs.get("comp1", NOT_EVACUATED_ATTRIBUTE) or ""
    assert "\n" not in shown and len(shown) <= NOT_EVACUATED_LIMIT
    entries = {e.server_id: e for e in decode_not_evacuated(shown)[0]}
    assert set(entries) == {tpm.id, paused.id}
    assert (entries[tpm.id].kind, entries[tpm.id].name) == ("skipped", "tpm-vm")
    assert "vTPM" in entries[tpm.id].reason
    assert entries[paused.id].name == "paused,vm x" and "PAUSED" in entries[paused.id].reason
    for server in (tpm, paused):
        assert any(server.id in line and entries[server.id].reason in line
                   for line in records.lines), records.lines


def test_the_list_of_servers_left_behind_is_bounded(tmp_path: Path) -> None:
    nova, attrs = _lab(), MemoryAttributes()
    for i in range(200):
        nova.add_server("comp1", name=f"vm-{i:03d}-" + "x" * 100, status="PAUSED")
    nova.kill_compute("comp1")
    attrs.set("comp1", REQ, EvacuationRequest.requested(T0).encode())
    worker = _worker(nova, attrs, tmp_path)
    _until(lambda: (attrs.get("comp1", REQ) or "").startswith("done:"), worker)
    shown = attrs.get("comp1", NOT_EVACUATED_ATTRIBUTE) or ""
    entries, more = decode_not_evacuated(shown)
    assert len(shown) <= NOT_EVACUATED_LIMIT and entries and len(entries) + more == 200


def test_without_quorum_a_pass_touches_nothing_and_a_running_evacuation_stops(
        tmp_path: Path) -> None:
    nova, attrs = _lab(), MemoryAttributes()
    servers = [nova.add_server("comp1").id for _ in range(3)]
    nova.kill_compute("comp1")
    request = EvacuationRequest.requested(T0).encode()
    attrs.set("comp1", REQ, request)
    worker = _worker(nova, attrs, tmp_path)
    worker.nodes.has_quorum = False  # type: ignore[attr-defined]
    for _ in range(3):
        worker.run_pass()
    assert attrs.get("comp1", REQ) == request, "an inquorate partition claims nothing"
    assert _evacuate_calls(nova) == {}
    assert (tmp_path / "hb-ctl1").exists(), "the monitor still sees the worker alive"
    journal = CibJournal(attrs, lambda _h: "comp1", before_write=worker._need_quorum)
    with pytest.raises(NoQuorum):
        journal.save("comp1", {})
    worker.nodes.has_quorum = True  # type: ignore[attr-defined]
    _until(lambda: (attrs.get("comp1", REQ) or "").startswith("done:"), worker)
    assert _evacuate_calls(nova) == {sid: 1 for sid in servers}


def test_a_fenced_controllers_claim_is_taken_over_at_once(tmp_path: Path) -> None:
    """Its worker is dead for sure (offline and clean): no need to wait takeover_after."""
    nova, attrs = _lab(), MemoryAttributes()
    servers = [nova.add_server("comp1").id for _ in range(2)]
    nova.kill_compute("comp1")
    nova.force_down("comp1")
    fresh = EvacuationRequest.in_progress("ctl2", T0).encode()
    attrs.set("comp1", REQ, fresh)
    worker = _worker(nova, attrs, tmp_path, owner="ctl1")
    down = NodeInfo("ctl2", "2", "member", online=False, unclean=True)
    worker.nodes.members = [down]  # type: ignore[attr-defined]
    worker.run_pass()
    assert attrs.get("comp1", REQ) == fresh, "unclean: maybe still running, wait"
    worker.nodes.members = [replace(down, unclean=False)]  # type: ignore[attr-defined]
    _until(lambda: (attrs.get("comp1", REQ) or "").startswith("done:"), worker)
    assert _evacuate_calls(nova) == {sid: 1 for sid in servers}


def test_the_metrics_file_shows_a_finished_evacuation(tmp_path: Path) -> None:
    """Read back with Prometheus' own parser (tests/unit/evacuator/test_metrics.py: the rest)."""
    text_string_to_metric_families = pytest.importorskip(
        "prometheus_client.parser", reason="python3-prometheus-client is not installed",
    ).text_string_to_metric_families
    nova, attrs = _lab(), MemoryAttributes()
    for status in ("ACTIVE", "SHUTOFF", "PAUSED"):  # a PAUSED server is skipped
        nova.add_server("comp1", status=status)
    nova.kill_compute("comp1")
    attrs.set("comp1", REQ, EvacuationRequest.requested(T0).encode())
    path = tmp_path / "instanceha.prom"
    worker = _worker(nova, attrs, tmp_path, metrics_file=str(path),
                     history=History([FenceEvent("comp1", "reboot", FenceState.SUCCESS, T0)]))
    _until(lambda: (attrs.get("comp1", REQ) or "").startswith("done:"), worker)
    worker.clock.sleep(worker.metrics._every)  # written within that of a change
    worker.run_pass()
    samples = {(s.name, tuple(s.labels.values())): s.value
               for f in text_string_to_metric_families(path.read_text()) for s in f.samples}
    assert samples[("instanceha_evacuation_runs_total", ("complete",))] == 1
    assert samples[("instanceha_evacuation_runs_total", ("incomplete",))] == 0
    assert samples[("instanceha_evacuations_total", ("evacuated",))] == 2
    assert samples[("instanceha_evacuations_total", ("skipped",))] == 1
    assert samples[("instanceha_fencings_total", ())] == 1
    assert samples[("instanceha_evacuation_duration_seconds_count", ())] == 1
    assert samples[("instanceha_instance_evacuation_seconds_count", ())] == 2
    assert samples[("instanceha_requests", ("requested",))] == 0
    assert samples[("instanceha_requests", ("in_progress",))] == 0
    stop = threading.Event()
    stop.set()
    worker.run(stop)
    assert not path.exists(), "a stopped worker leaves no gauges behind"


def test_an_evacuation_stopped_by_quorum_loss_writes_nothing_and_keeps_its_claim(
        tmp_path: Path) -> None:
    """The minority's CIB is not the cluster's: no result, no give-back; the quorate side
    takes the claim over once it has fenced this controller."""
    nova, attrs = _lab(), MemoryAttributes()
    for _ in range(2):
        nova.add_server("comp1")
    nova.kill_compute("comp1")
    nova.force_down("comp1")
    claim = EvacuationRequest.in_progress("ctl1", T0).encode()
    attrs.set("comp1", REQ, claim)
    worker = _worker(nova, attrs, tmp_path)
    worker.nodes.has_quorum = False  # type: ignore[attr-defined]
    worker._evacuate("comp1")
    assert attrs.get("comp1", REQ) == claim
    assert attrs.get("comp1", RESULT_ATTRIBUTE) is None
    assert _evacuate_calls(nova) == {}
