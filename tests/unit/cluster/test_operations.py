"""Reading the operation history of a live CIB (``cibadmin --query``)."""

from __future__ import annotations

import pytest

from instanceha.cluster.operations import (
    OperationRecord,
    OpStatus,
    check_levels,
    parse_operations,
)
from instanceha.cluster.pcmkxml import parse_xml
from instanceha.cluster.runner import OutputError

_T = "transition-key=\"{k}:7:{t}:5a1c7a4e-4f0e-4f7e-9a55-3c1bb0b2a1de\" " \
     "transition-magic=\"{m};{k}:7:{t}:5a1c7a4e-4f0e-4f7e-9a55-3c1bb0b2a1de\""


def _op(rid: str, key: str, node: str, call: int, *, exec_ms: int | None, rc: int = 0,
        status: int = 0, target: int = 0, reason: str = "",
        origin: str = "do_update_resource") -> str:
    """One lrm_rsc_op as pacemaker-controld 2.1.5 writes it (attribute names and order)."""
    times = (f'last-rc-change="1718000{call:03d}" exec-time="{exec_ms}" queue-time="0" '
             if exec_ms is not None else "")
    _, op, interval = key.rsplit("_", 2)
    return (
        f'<lrm_rsc_op id="{rid}" operation_key="{key}" operation="{op}" '
        f'crm-debug-origin="{origin}" crm_feature_set="3.16.2" '
        + _T.format(k=call + 10, t=target, m=f"{status}:{rc}")
        + f' exit-reason="{reason}" on_node="{node}" call-id="{call}" rc-code="{rc}" '
        f'op-status="{status}" interval="{interval}" {times}'
        'op-digest="f2317cad3d54cec5d7d7aa7d0bf35cf8"/>'
    )


CIB = f"""<cib crm_feature_set="3.16.2" validate-with="pacemaker-3.9" epoch="42" num_updates="17"
    admin_epoch="0" cib-last-written="Mon Jun 10 10:00:00 2024" update-origin="ctl1"
    update-client="crmd" update-user="hacluster" have-quorum="1" dc-uuid="1">
  <configuration>
    <crm_config/>
    <nodes>
      <node id="1" uname="ctl1"/>
      <node id="comp1" uname="comp1" type="remote"/>
    </nodes>
    <resources>
      <primitive id="comp1" class="ocf" provider="pacemaker" type="remote">
        <operations>
          <op id="comp1-monitor-interval-10s" name="monitor" interval="10s" timeout="20s"/>
        </operations>
      </primitive>
      <primitive id="fence-ipmi-comp1" class="stonith" type="fence_ipmi">
        <operations>
          <op id="fence-ipmi-comp1-monitor-interval-60s" name="monitor" interval="60s"/>
        </operations>
      </primitive>
      <primitive id="nova-evacuate" class="ocf" provider="instanceha" type="NovaEvacuate"/>
      <clone id="nova-compute-clone">
        <primitive id="nova-compute" class="ocf" provider="instanceha" type="NovaCompute">
          <operations>
            <op id="nova-compute-monitor-interval-10s" name="monitor" interval="10s"
                timeout="30s"/>
            <op id="nova-compute-monitor-interval-60s" name="monitor" interval="1min"
                timeout="60s">
              <instance_attributes id="nova-compute-monitor-interval-60s-instance_attributes">
                <nvpair id="nova-compute-monitor-interval-60s-instance_attributes-OCF_CHECK_LEVEL"
                        name="OCF_CHECK_LEVEL" value="10"/>
              </instance_attributes>
            </op>
          </operations>
        </primitive>
      </clone>
      <clone id="scratch-clone">
        <meta_attributes id="scratch-clone-meta"><nvpair id="scratch-clone-meta-unique"
            name="globally-unique" value="true"/></meta_attributes>
        <primitive id="scratch" class="ocf" provider="pacemaker" type="Dummy">
          <operations>
            <op id="scratch-monitor-20s" name="monitor" interval="20s">
              <instance_attributes id="scratch-monitor-20s-ia">
                <nvpair id="scratch-monitor-20s-ia-level" name="OCF_CHECK_LEVEL" value="20"/>
              </instance_attributes>
            </op>
          </operations>
        </primitive>
      </clone>
    </resources>
    <constraints/>
  </configuration>
  <status>
    <node_state id="1" uname="ctl1" in_ccm="true" crmd="online"
        crm-debug-origin="do_state_transition" join="member" expected="member">
      <lrm id="1">
        <lrm_resources>
          <lrm_resource id="comp1" type="remote" class="ocf" provider="pacemaker">
            {_op("comp1_last_0", "comp1_start_0", "ctl1", 9, exec_ms=1203,
                 origin="build_active_RAs")}
            {_op("comp1_monitor_10000", "comp1_monitor_10000", "ctl1", 10, exec_ms=31)}
          </lrm_resource>
          <lrm_resource id="fence-ipmi-comp1" type="fence_ipmi" class="stonith">
            {_op("fence-ipmi-comp1_last_0", "fence-ipmi-comp1_start_0", "ctl1", 14, exec_ms=842)}
            {_op("fence-ipmi-comp1_monitor_60000", "fence-ipmi-comp1_monitor_60000", "ctl1", 15,
                 exec_ms=611)}
          </lrm_resource>
          <lrm_resource id="nova-evacuate" type="NovaEvacuate" class="ocf" provider="instanceha">
            {_op("nova-evacuate_last_0", "nova-evacuate_start_0", "ctl1", 21, exec_ms=0, rc=193,
                 status=OpStatus.PENDING)}
          </lrm_resource>
        </lrm_resources>
      </lrm>
    </node_state>
    <node_state id="comp1" uname="comp1" in_ccm="true" crm-debug-origin="do_update_resource"
        node_fenced="0" remote_node="true">
      <transient_attributes id="comp1">
        <instance_attributes id="status-comp1"/>
      </transient_attributes>
      <lrm id="comp1">
        <lrm_resources>
          <lrm_resource id="nova-compute" type="NovaCompute" class="ocf" provider="instanceha">
            {_op("nova-compute_last_0", "nova-compute_start_0", "comp1", 31, exec_ms=2140)}
            {_op("nova-compute_monitor_60000", "nova-compute_monitor_60000", "comp1", 33,
                 exec_ms=412)}
            {_op("nova-compute_monitor_10000", "nova-compute_monitor_10000", "comp1", 32,
                 exec_ms=38)}
            {_op("nova-compute_last_failure_0", "nova-compute_monitor_60000", "comp1", 27,
                 exec_ms=60002, rc=1, status=OpStatus.TIMEOUT,
                 reason="Resource agent did not complete within 1m")}
          </lrm_resource>
          <lrm_resource id="scratch:1" type="Dummy" class="ocf" provider="pacemaker">
            {_op("scratch:1_monitor_20000", "scratch:1_monitor_20000", "comp1", 40,
                 exec_ms=None)}
          </lrm_resource>
        </lrm_resources>
      </lrm>
    </node_state>
    <node_state id="2" uname="ctl2" in_ccm="false" crmd="offline" join="down"
        expected="down"/>
  </status>
</cib>"""


def _by_id(records: list[OperationRecord]) -> dict[tuple[str, str], OperationRecord]:
    return {(r.node, r.record_id): r for r in records}


def test_every_record_with_its_resource_agent_and_node() -> None:
    records = parse_operations(CIB)
    assert [(r.node, r.record_id) for r in records] == [
        ("ctl1", "comp1_last_0"),
        ("ctl1", "comp1_monitor_10000"),
        ("ctl1", "fence-ipmi-comp1_last_0"),
        ("ctl1", "fence-ipmi-comp1_monitor_60000"),
        ("ctl1", "nova-evacuate_last_0"),
        ("comp1", "nova-compute_last_0"),
        ("comp1", "nova-compute_monitor_60000"),
        ("comp1", "nova-compute_monitor_10000"),
        ("comp1", "nova-compute_last_failure_0"),
        ("comp1", "scratch:1_monitor_20000"),
    ]
    start = _by_id(records)["comp1", "nova-compute_last_0"]
    assert start == OperationRecord(
        record_id="nova-compute_last_0", resource="nova-compute", agent_class="ocf",
        provider="instanceha", agent_type="NovaCompute", node="comp1", operation="start",
        interval_ms=0, rc=0, op_status=OpStatus.DONE, call_id=31, exec_time_ms=2140,
        queue_time_ms=0, last_rc_change=1718000031, check_level=0, exit_reason="",
    )
    assert start.agent == "ocf:instanceha:NovaCompute" and start.exec_seconds == 2.14
    assert not start.is_probe and not start.is_last_failure and not start.pending


def test_stonith_agents_have_no_provider() -> None:
    monitor = _by_id(parse_operations(CIB))["ctl1", "fence-ipmi-comp1_monitor_60000"]
    assert monitor.provider is None and monitor.agent == "stonith:fence_ipmi"
    assert monitor.interval_ms == 60000 and monitor.exec_time_ms == 611


def test_check_level_comes_from_the_configured_op() -> None:
    records = _by_id(parse_operations(CIB))
    assert records["comp1", "nova-compute_monitor_60000"].check_level == 10  # interval="1min"
    assert records["comp1", "nova-compute_monitor_10000"].check_level == 0
    assert records["comp1", "nova-compute_last_failure_0"].check_level == 10
    # a unique clone's instance ("scratch:1") is configured as its primitive
    assert records["comp1", "scratch:1_monitor_20000"].check_level == 20
    assert check_levels(parse_xml(CIB, "cib")) == {
        ("nova-compute", "monitor", 60000): 10, ("scratch", "monitor", 20000): 20}


def test_last_failure_keeps_the_failed_run() -> None:
    failure = _by_id(parse_operations(CIB))["comp1", "nova-compute_last_failure_0"]
    assert failure.is_last_failure and failure.operation == "monitor"
    assert (failure.rc, failure.op_status, failure.status_name) == (1, 2, "timed out")
    assert failure.exec_time_ms == 60002
    assert failure.exit_reason == "Resource agent did not complete within 1m"


def test_pending_and_missing_times() -> None:
    records = _by_id(parse_operations(CIB))
    pending = records["ctl1", "nova-evacuate_last_0"]
    assert pending.pending and pending.status_name == "pending" and pending.rc == 193
    assert pending.last_rc_change == 1718000021
    bare = records["comp1", "scratch:1_monitor_20000"]
    assert (bare.exec_time_ms, bare.queue_time_ms, bare.last_rc_change) == (None, None, None)
    assert bare.exec_seconds is None


def test_node_comes_from_node_state_when_on_node_is_absent() -> None:
    text = CIB.replace(' on_node="comp1"', "")
    assert {r.node for r in parse_operations(text) if r.resource == "nova-compute"} == {"comp1"}


def test_probe() -> None:
    text = CIB.replace('operation_key="comp1_start_0" operation="start"',
                       'operation_key="comp1_monitor_0" operation="monitor"')
    probe = _by_id(parse_operations(text))["ctl1", "comp1_last_0"]
    assert probe.is_probe and probe.check_level == 0


def test_a_cib_without_history() -> None:
    assert parse_operations('<cib><configuration/><status/></cib>') == []
    assert parse_operations("<cib><configuration/></cib>") == []


@pytest.mark.parametrize(("text", "message"), [
    ("not xml", "not XML"),
    ("<status/>", "not <cib>"),
    (CIB.replace('call-id="31"', 'call-id="x"'), "bad call-id 'x'"),
    (CIB.replace('rc-code="0" op-status="0" interval="0" last-rc-change="1718000031"',
                 'op-status="0" interval="0" last-rc-change="1718000031"'), "no rc-code"),
    (CIB.replace('operation="start"', 'operation=""'), "no operation"),
])
def test_unreadable_documents(text: str, message: str) -> None:
    with pytest.raises(OutputError, match=message):
        parse_operations(text)
