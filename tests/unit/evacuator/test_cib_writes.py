"""How often the evacuator writes the CIB, and where: few permanent writes per evacuation.

Every node attribute write is a CIB update sent to every cluster node; a permanent one is a
configuration change every node writes to disk (``bench/cib_writes.py`` counts them on the
live lab). These tests hold the write pattern of :mod:`instanceha.evacuator.worker`.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from fakes.memory_cib import MemoryAttributes
from instanceha.cib.status import compute_rows, gather_cluster
from instanceha.cluster import EvacuationRequest, RunResult
from instanceha.cluster.attribute_names import (
    JOURNAL_ATTRIBUTE,
    PROGRESS_ATTRIBUTE,
    RESULT_ATTRIBUTE,
)
from instanceha.evacuator.worker import Evacuator, EvacuatorSettings
from unit.evacuator.test_worker import REQ, T0, _lab, _until, _worker


class CountingAttributes(MemoryAttributes):
    """Permanent attributes that count the writes that changed something, by name."""

    def __init__(self) -> None:
        super().__init__()
        self.changes: Counter[str] = Counter()

    def set(self, node: str, name: str, value: str) -> None:
        if self.values.get((node, name)) != value:
            self.changes[name] += 1
        super().set(node, name, value)

    def delete(self, node: str, name: str) -> None:
        if (node, name) in self.values:
            self.changes[name] += 1
        super().delete(node, name)

    def compare_and_set(self, node: str, name: str, expected: str | None, new: str | None) -> bool:
        won = super().compare_and_set(node, name, expected, new)
        if won and expected != new:
            self.changes[name] += 1
        return won


def _slow_renewal(worker: Evacuator) -> Evacuator:
    """NovaEvacuate's default takeover_after (the test helper's 1 s renews all the time)."""
    worker.settings = replace(worker.settings, stale_after=60.0)
    return worker


def test_an_evacuation_writes_progress_as_transient_and_the_rest_rarely(tmp_path: Path) -> None:
    nova, attrs = _lab(), CountingAttributes()
    servers = [nova.add_server("comp1", status="SHUTOFF" if i % 4 == 0 else "ACTIVE").id
               for i in range(16)]
    nova.kill_compute("comp1")
    attrs.set("comp1", REQ, EvacuationRequest.requested(T0).encode())
    attrs.changes.clear()  # fence_nova's write
    worker = _slow_renewal(_worker(nova, attrs, tmp_path))
    worker.settings = replace(worker.settings, progress_every=0.0,
                              engine=replace(worker.settings.engine, max_parallel=16))
    shown: list[str] = []
    transient = worker.transient
    real_set = transient.set

    def remember(node: str, name: str, value: str) -> None:
        shown.append(value)
        real_set(node, name, value)

    transient.set = remember  # type: ignore[method-assign]
    _until(lambda: (attrs.get("comp1", REQ) or "").startswith("done:"), worker)
    assert {nova.get_server(s).host for s in servers}.isdisjoint({"comp1"})
    assert attrs.changes[PROGRESS_ATTRIBUTE] == 0, "progress never touches the configuration"
    assert any("/16 evacuated" in v for v in shown) and shown[-1] == "complete"
    assert attrs.changes[REQ] == 2, "claimed, done: no renewal in a run this short"
    assert 0 < attrs.changes[JOURNAL_ATTRIBUTE] <= 3 < len(servers), attrs.changes
    assert attrs.changes[RESULT_ATTRIBUTE] == 1
    assert sum(attrs.changes.values()) < len(servers), attrs.changes


def test_a_permanent_progress_left_by_an_older_version_is_withdrawn(tmp_path: Path) -> None:
    nova, attrs = _lab(), MemoryAttributes()
    nova.add_server("comp1")
    nova.kill_compute("comp1")
    attrs.set("comp1", PROGRESS_ATTRIBUTE, "complete")  # from the last incident
    attrs.set("comp1", REQ, EvacuationRequest.requested(T0).encode())
    worker = _worker(nova, attrs, tmp_path)
    _until(lambda: (attrs.get("comp1", REQ) or "").startswith("done:"), worker)
    assert attrs.get("comp1", PROGRESS_ATTRIBUTE) is None
    assert worker.transient.get_all(PROGRESS_ATTRIBUTE) == {"comp1": "complete"}


def _running(worker: Evacuator, node: str) -> threading.Event:
    """Make ``node``'s evacuation look running; set the returned event to end it."""
    end = threading.Event()
    thread = threading.Thread(target=end.wait, daemon=True)
    thread.start()
    worker._running[node] = thread
    return end


@pytest.mark.parametrize("age", [5.0, 30.0, 59.0])
def test_a_running_claim_is_renewed_only_once_it_is_old(tmp_path: Path, age: float) -> None:
    nova, attrs = _lab(), CountingAttributes()
    worker = _slow_renewal(_worker(nova, attrs, tmp_path))
    claim = EvacuationRequest.in_progress("ctl1", T0 - age)
    attrs.set("comp1", REQ, claim.encode())
    attrs.changes.clear()
    end = _running(worker, "comp1")
    try:
        worker.run_pass()
    finally:
        end.set()
    renewed = EvacuationRequest.decode(attrs.get("comp1", REQ) or "")
    assert renewed.owner == "ctl1"
    due = age >= worker.settings.claim_renewal
    assert (renewed.since > claim.since) == due
    assert attrs.changes[REQ] == int(due)


@pytest.mark.parametrize(("stale_after", "poll"), [(60.0, 5.0), (60.0, 1.0), (10.0, 5.0),
                                                   (600.0, 300.0), (86400.0, 1.0)])
def test_a_claim_is_renewed_well_before_another_controller_may_take_it_over(
    stale_after: float, poll: float
) -> None:
    """Renewed at the first pass past the renewal age: never older than that plus a pass
    (the agent's own rule: takeover_after exceeds poll_interval), and with the defaults
    (takeover_after 60 s, poll_interval 5 s) at most 20 s old."""
    settings = EvacuatorSettings(owner="ctl1", heartbeat_path="-", poll_interval=poll,
                                 stale_after=stale_after)
    oldest = settings.claim_renewal + poll
    assert oldest <= max(stale_after / 3, poll) < stale_after
    assert settings.claim_renewal > 0 or stale_after <= 3 * poll


class CibRunner:
    """gather_cluster's tools, with comp1 down and evacuating; its progress is transient: in
    the CIB's status section once comp1 is back online, before that only in attrd."""

    CIB = """<cib epoch="7" num_updates="3" admin_epoch="0"><configuration><crm_config/>
      <nodes><node id="comp1" uname="comp1" type="remote"><instance_attributes id="nodes-comp1">
        <nvpair id="nodes-comp1-req" name="instanceha-evacuate" value="{request}"/>
      </instance_attributes></node></nodes><resources/><constraints/></configuration>
      <status>{status}</status></cib>"""
    STATUS = """<node_state id="comp1" uname="comp1" remote_node="true">
        <transient_attributes id="comp1"><instance_attributes id="status-comp1">
          <nvpair id="status-comp1-p" name="instanceha-evacuation-progress" value="{progress}"/>
        </instance_attributes></transient_attributes></node_state>"""

    def __init__(self, *, in_cib: str = "", in_attrd: str = "", done: bool = False) -> None:
        now = int(time.time())
        request = f"done:{now}" if done else f"in-progress:ctl1:{now}"
        status = self.STATUS.format(progress=in_cib) if in_cib else ""
        self.cib = self.CIB.format(request=request, status=status)
        self.attrd = in_attrd
        self.tools: list[str] = []

    def run(self, argv: Sequence[str], *, timeout: float) -> RunResult:
        tool = "attrd_updater" if argv[0] == "env" else argv[0]
        self.tools.append(tool)
        held = (f'<attribute name="{PROGRESS_ATTRIBUTE}" value="{self.attrd}" host="comp1"/>'
                if self.attrd else "")
        out = {
            "crm_mon": """<pacemaker-result><nodes>
              <node name="comp1" online="false" unclean="false" type="remote"/></nodes>
              <resources/><status code="0" message="OK"/></pacemaker-result>""",
            "cibadmin": self.cib,
            "stonith_admin": """<pacemaker-result><list name="fencing history"/>
              <status code="0"/></pacemaker-result>""",
            "attrd_updater": f"""<pacemaker-result>{held}<status code="0" message="OK"/>
              </pacemaker-result>""",
        }[tool]
        return RunResult(tuple(argv), 0 if tool != "attrd_updater" or held else 78, out, "")


@pytest.mark.parametrize("where", ["cib", "attrd"])
def test_instanceha_status_shows_the_transient_progress(where: str) -> None:
    """Online again, the host's transient progress is in the CIB; down, only in attrd."""
    progress = "3/8 evacuated, 0 failed, 0 skipped, 5 in flight"
    runner = CibRunner(**{f"in_{where}": progress})
    view = gather_cluster(runner)
    assert PROGRESS_ATTRIBUTE not in view.attributes["comp1"]
    row = compute_rows(view, ["comp1"], None)[0]
    assert "in-progress by ctl1" in row.evacuation
    assert "3/8 evacuated" in row.evacuation
    assert ("attrd_updater" in runner.tools) == (where == "attrd")


def test_instanceha_status_asks_attrd_only_while_an_evacuation_runs() -> None:
    runner = CibRunner(done=True)
    compute_rows(gather_cluster(runner), ["comp1"], None)
    assert "attrd_updater" not in runner.tools
    runner = CibRunner()  # attrd has nothing either
    row = compute_rows(gather_cluster(runner), ["comp1"], None)[0]
    assert "attrd_updater" in runner.tools and "in-progress by ctl1" in row.evacuation
