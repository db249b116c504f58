"""Which crm_simulate calls the scheduler makes, with a recording fake runner."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from instanceha.cib.scheduler import Scheduler, SchedulerError
from instanceha.cluster.runner import CommandTimeout, RunResult, ToolNotFound

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


def test_a_timeout_does_not_advise_installing_pacemaker(tmp_path: Path) -> None:
    """Issue 11 item 10: a slow crm_verify said "(install pacemaker-cli-utils)"."""
    class Slow(FakeRunner):
        def run(self, argv: Sequence[str], *, timeout: float) -> RunResult:
            raise CommandTimeout(argv, timeout)

    with pytest.raises(SchedulerError) as caught:
        Scheduler(tmp_path, Slow(), timeout=5).verify(UP)
    assert "crm_verify did not finish within 5 s" in str(caught.value)
    assert "install" not in str(caught.value) and not caught.value.tool_missing
    with pytest.raises(SchedulerError) as missing:
        Scheduler(tmp_path, FakeRunner(missing=True)).verify(UP)
    assert missing.value.tool_missing


def _remotes(count: int) -> str:
    nodes = "".join(f'<node id="c{i}" uname="c{i}" type="remote"/>' for i in range(count))
    prims = "".join(
        f'<primitive id="c{i}" class="ocf" provider="pacemaker" type="remote"/>'
        f'<primitive id="fence-c{i}" class="stonith" type="fence_ipmi"><instance_attributes '
        f'id="f{i}"><nvpair id="f{i}-h" name="pcmk_host_list" value="c{i}"/>'
        "</instance_attributes></primitive>"
        for i in range(count))
    return (f'<cib validate-with="pacemaker-3.9"><configuration><crm_config/><nodes>'
            f'<node id="1" uname="ctl1"/>{nodes}</nodes><resources>{prims}'
            '<primitive id="shared" class="ocf" provider="instanceha" type="NovaEvacuate"/>'
            "</resources><constraints/></configuration><status/></cib>")


def test_a_large_cib_is_verified_in_parts(tmp_path: Path) -> None:
    """Issue 11 item 10: crm_verify's time grows with the square of the CIB's size."""
    runner = FakeRunner()
    runner.run = _verify_parts(runner)  # type: ignore[method-assign]
    report = Scheduler(tmp_path, runner).verify_configuration(_remotes(25), batch=10)
    verified = [c for c in runner.calls if c[0] == "crm_verify"]
    assert report.parts == 3 and len(verified) == 3 and report.remote_nodes == 25
    seen: list[str] = []
    for call in verified:
        root = ET.parse(call[2]).getroot()
        remotes = [n.get("uname", "") for n in root.iterfind("configuration/nodes/node")
                   if n.get("type") == "remote"]
        assert 0 < len(remotes) <= 10
        assert root.find("configuration/resources/primitive[@id='shared']") is not None
        seen += remotes
    assert sorted(seen) == sorted(f"c{i}" for i in range(25))
    assert report.errors == ("bad c7",) and report.warnings == ("odd",)  # once each
    assert report.rc == 1 and not report.valid


def _verify_parts(runner: FakeRunner) -> Callable[..., RunResult]:
    def run(argv: Sequence[str], *, timeout: float) -> RunResult:
        argv = list(argv)
        runner.calls.append(argv)
        if "-O" in argv:  # nodes up: the input as it is
            Path(argv[argv.index("-O") + 1]).write_text(Path(argv[2]).read_text())
            return RunResult(tuple(argv), 0, "", "")
        text = Path(argv[2]).read_text()
        bad = "error: bad c7\n" if 'uname="c7"' in text else ""
        return RunResult(tuple(argv), 1 if bad else 0, "", bad + "warning: odd\n")
    return run


def test_a_small_cib_is_verified_whole(tmp_path: Path) -> None:
    runner = FakeRunner()
    runner.run = _verify_parts(runner)  # type: ignore[method-assign]
    report = Scheduler(tmp_path, runner).verify_configuration(_remotes(10), batch=10)
    assert report.parts == 1 and [c[0] for c in runner.calls] == ["crm_simulate", "crm_verify"]
    assert report.warnings == ("odd",)
