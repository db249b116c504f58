"""Parsing crm_simulate's XML (samples trimmed from Pacemaker 2.1.5 output)."""

from __future__ import annotations

import pytest

from instanceha.cib.transition import (
    TransitionError,
    parse_cluster_status,
    parse_transition,
    summary_lines,
)

RESULT = """<pacemaker-result api-version="2.25" request="crm_simulate">
  <cluster_status>
    <nodes>
      <node name="ctl1" id="1" online="true" standby="false" unclean="false" type="member"/>
      <node name="comp1" id="comp1" online="true" unclean="false" type="remote"/>
    </nodes>
    <resources>
      <resource id="comp1" resource_agent="ocf:pacemaker:remote" role="Started" active="true">
        <node name="ctl1" id="1" cached="true"/>
      </resource>
      <clone id="libvirtd-clone">
        <resource id="libvirtd" role="Started" active="true">
          <node name="comp1" id="comp1"/></resource>
        <resource id="libvirtd" role="Stopped" active="false"/>
      </clone>
    </resources>
  </cluster_status>
  <actions>
    <node_action task="Fence (reboot)" node="comp1" reason="remote connection is unrecoverable"/>
    <rsc_action action="stop" resource="comp1" node="ctl1" reason="node availability"/>
    <rsc_action action="move" resource="nova-evacuate" source="ctl2" dest="ctl1"/>
  </actions>
  <transition><fencing_action target="comp1" op="reboot"/></transition>
  <revised_cluster_status>
    <nodes>
      <node name="ctl1" id="1" online="true" unclean="false" type="member"/>
      <node name="comp1" id="comp1" online="false" unclean="true" type="remote"/>
    </nodes>
    <resources/>
  </revised_cluster_status>
  <status code="0" message="OK"/>
</pacemaker-result>"""


def test_actions_and_states() -> None:
    t = parse_transition(RESULT)
    assert [(f.target, f.action) for f in t.fencing] == [("comp1", "reboot")]
    assert [a.action for a in t.actions] == ["stop", "move"]
    assert t.actions[1].where == "ctl2 -> ctl1"
    assert [(n.name, n.state) for n in t.before] == [("ctl1", "online"), ("comp1", "online")]
    assert [(n.name, n.state) for n in t.after] == [("ctl1", "online"), ("comp1", "fenced")]
    assert not t.empty


def test_summary_lines_are_stable_text() -> None:
    assert summary_lines(parse_transition(RESULT)) == [
        "fence reboot comp1: remote connection is unrecoverable",
        "stop comp1 on ctl1: node availability",
        "move nova-evacuate ctl2 -> ctl1",
    ]


def test_cluster_status_placements() -> None:
    nodes, running = parse_cluster_status(RESULT)
    assert {n.name: n.kind for n in nodes} == {"ctl1": "member", "comp1": "remote"}
    assert running["comp1"] == ("ctl1",) and running["libvirtd"] == ("comp1",)


def test_errors() -> None:
    with pytest.raises(TransitionError, match="not XML"):
        parse_transition("oops")
    with pytest.raises(TransitionError, match="root <cib>"):
        parse_transition("<cib/>")
    failed = ('<pacemaker-result><status code="78" message="Invalid configuration">'
              "<errors><error>bad</error></errors></status></pacemaker-result>")
    with pytest.raises(TransitionError, match="Invalid configuration.*bad"):
        parse_transition(failed)


def test_without_revised_status_fenced_nodes_are_derived() -> None:
    head = RESULT.split("<transition>", maxsplit=1)[0]
    computed_only = head + '<status code="0" message="OK"/></pacemaker-result>'
    t = parse_transition(computed_only)
    assert [(n.name, n.state) for n in t.after] == [("ctl1", "online"), ("comp1", "fenced")]
    assert t.running_after == {}
