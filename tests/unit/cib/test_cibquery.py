"""Questions asked of a CIB, and marking nodes unfenced."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from instanceha.cib.cibquery import (
    CibQueryError,
    cluster_node_names,
    fencing_devices,
    mark_unfenced,
    online_node_names,
    parse_cib,
    primitive_params,
    remote_connections,
)
from instanceha.cib.inventory import load_inventory
from instanceha.cib.render import render_cib
from instanceha.cluster.attribute_names import UNFENCED_ATTRIBUTE


@pytest.fixture
def cib(golden: Path) -> ET.Element:
    return parse_cib(render_cib(load_inventory(golden / "inventory-small.yaml")))


def test_rendered_cib_answers(cib: ET.Element) -> None:
    remotes = remote_connections(cib)
    assert sorted(remotes) == ["comp1", "comp2", "comp3"]
    assert remotes["comp1"].monitor_interval_ms == 10_000
    assert cluster_node_names(cib) == ["ctl1", "ctl2"]
    assert online_node_names(cib) == []
    assert fencing_devices(cib, "comp2") == [["fence-hold", "fence-ipmi-comp2", "fence-nova"]]
    assert fencing_devices(cib, "ctl1") == []
    params = primitive_params(cib, "instanceha", "NovaEvacuate")
    assert params is not None and params["evacuation_mode"] == "tagged-or-all"
    assert primitive_params(cib, "instanceha", "Nope") is None


def test_mark_unfenced_is_idempotent() -> None:
    cib = parse_cib(
        "<cib><configuration/><status>"
        '<node_state id="1" uname="ctl1" crmd="online" in_ccm="true"/>'
        '<node_state id="comp1" uname="comp1"><transient_attributes id="comp1">'
        '<instance_attributes id="status-comp1">'
        f'<nvpair id="x" name="{UNFENCED_ATTRIBUTE}" value="0"/>'
        "</instance_attributes></transient_attributes></node_state></status></cib>"
    )
    assert mark_unfenced(cib) == 2
    assert mark_unfenced(cib) == 0
    values = [p.get("value") for p in cib.iter("nvpair") if p.get("name") == UNFENCED_ATTRIBUTE]
    assert values == ["1", "1"]
    assert online_node_names(cib) == ["ctl1"]


def test_not_a_cib() -> None:
    with pytest.raises(CibQueryError, match="not XML"):
        parse_cib("<")
    with pytest.raises(CibQueryError, match="not a CIB"):
        parse_cib("<pacemaker-result/>")
