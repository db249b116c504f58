"""Which crm_simulate calls the scheduler makes, with a recording fake runner."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from instanceha.cib.scheduler import Scheduler, SchedulerError
from instanceha.cluster.runner import RunResult, ToolNotFound

CIB = """<cib><configuration><nodes>
<node id="1" uname="ctl1"/><node id="comp1" uname="comp1" type="remote"/></nodes>
<resources><primitive id="comp1" class="ocf" provider="pacemaker" type="remote">
<operations><op id="m" name="monitor" interval="15s" timeout="20s"/></operations></primitive>
</resources></configuration><status/></cib>"""

UP = CIB.replace("<status/>", '<status><node_state id="1" uname="ctl1" crmd="online" '
                 'in_ccm="true"/><node_state id="comp1" uname="comp1"/></status>')

STATUS = """<pacemaker-result><cluster_status><nodes>
<node name="ctl1" type="member" online="true"/><node name="comp1" type="remote" online="true"/>
</nodes><resources><resource id="comp1" role="Started" active="true"><node name="ctl1"/>
</resource></resources></cluster_status><status code="0" message="OK"/></pacemaker-result>"""

BUSY = """<pacemaker-result><actions><rsc_action action="start" resource="comp1" node="ctl1"/>
</actions><status code="0" message="OK"/></pacemaker-result>"""
IDLE = '<pacemaker-result><actions/><status code="0" message="OK"/></pacemaker-result>'


class FakeRunner:
    """Answers crm_simulate like Pacemaker would, writes -O files, records every argv."""

    def __init__(self, transitions: Sequence[str] = (BUSY, IDLE), *, missing: bool = False):
        self.calls: list[list[str]] = []
        self.transitions = list(transitions)
        self.missing = missing

    def run(self, argv: Sequence[str], *, timeout: float) -> RunResult:
        argv = list(argv)
        self.calls.append(argv)
        if self.missing:
            raise ToolNotFound(f"{argv[0]} not found in /usr/sbin")
        if "-O" in argv:
            Path(argv[argv.index("-O") + 1]).write_text(UP)
        if argv[0] == "crm_verify":
            return RunResult(tuple(argv), 0, "", "(unpack) \twarning: something odd\n")
        if "-S" not in argv:
            return RunResult(tuple(argv), 0, STATUS, "")
        out = self.transitions.pop(0) if len(self.transitions) > 1 else self.transitions[0]
        return RunResult(tuple(argv), 0, out, "")


def test_bring_up_starts_members_with_quorum_then_settles(tmp_path: Path) -> None:
    runner = FakeRunner()
    up = Scheduler(tmp_path, runner).bring_up(CIB)
    first = runner.calls[0]
    assert first[:2] == ["crm_simulate", "-x"] and first[5:7] == ["-u", "ctl1"]
    assert "-q" in first and "comp1" not in first  # remote nodes come up via their connection
    assert up.first is not None and up.passes == 1
    assert "#node-unfenced" in up.cib_text


def test_a_cluster_that_never_settles_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SchedulerError, match="does not settle"):
        Scheduler(tmp_path, FakeRunner([BUSY])).bring_up(CIB)


def test_remote_node_fails_through_its_connection_monitor(tmp_path: Path) -> None:
    runner = FakeRunner([IDLE])
    failure = Scheduler(tmp_path, runner).fail("comp1", cib_text=UP)
    assert failure.kind == "remote" and failure.connection_host == "ctl1"
    assert failure.injection == "--op-inject comp1_monitor_15000@ctl1=7"
    assert runner.calls[-1][-2:] == ["--op-inject", "comp1_monitor_15000@ctl1=7"]


def test_cluster_node_fails_with_node_fail(tmp_path: Path) -> None:
    runner = FakeRunner([IDLE])
    failure = Scheduler(tmp_path, runner).fail("ctl1", cib_text=UP)
    assert failure.kind == "member" and runner.calls[-1][-2:] == ["--node-fail", "ctl1"]


def test_unknown_or_stopped_hosts(tmp_path: Path) -> None:
    with pytest.raises(SchedulerError, match="comp9 is not a node of this cluster"):
        Scheduler(tmp_path, FakeRunner()).fail("comp9", cib_text=UP)
    stopped = FakeRunner()
    stopped.run = lambda argv, timeout: RunResult(  # type: ignore[method-assign]
        tuple(argv), 0, STATUS.replace('<node name="ctl1"/>\n</resource>', "</resource>"), "")
    with pytest.raises(SchedulerError, match="not running"):
        Scheduler(tmp_path, stopped).fail("comp1", cib_text=UP)


def test_verify_collects_messages_and_missing_tools_say_so(tmp_path: Path) -> None:
    report = Scheduler(tmp_path, FakeRunner()).verify(UP)
    assert report.valid and report.warnings == ("something odd",)
    with pytest.raises(SchedulerError, match="not found.*pacemaker-cli-utils"):
        Scheduler(tmp_path, FakeRunner(missing=True)).verify(UP)
