"""Partial configurations for staged bring-up."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from instanceha.cib.cibquery import parse_cib
from instanceha.cib.inventory import load_inventory
from instanceha.cib.normalize import normalize_cib
from instanceha.cib.render import render_cib
from instanceha.cib.staging import merge_status, per_node_resources, staged_configuration


def _cib(golden: Path) -> tuple[str, ET.Element]:
    text = render_cib(load_inventory(golden / "inventory-small.yaml"))
    return text, parse_cib(text)


def test_per_node_resources(golden: Path) -> None:
    _, cib = _cib(golden)
    assert per_node_resources(cib, "comp2") == {"comp2", "fence-ipmi-comp2"}


def test_stages_drop_only_what_belongs_to_missing_nodes(golden: Path) -> None:
    text, cib = _cib(golden)
    staged = staged_configuration(cib, ["comp1"])
    wrapped = ET.Element("cib")
    wrapped.append(staged)
    norm = normalize_cib(ET.tostring(wrapped, encoding="unicode"))
    assert sorted(n for n, v in norm["nodes"].items() if v["type"] == "remote") == ["comp1"]
    assert "comp2" not in norm["resources"] and "fence-ipmi-comp3" not in norm["resources"]
    assert {"fence-nova", "fence-ipmi-ctl1", "libvirtd", "nova-evacuate"} <= set(norm["resources"])
    assert [t[0] for t in norm["topology"]] == ["comp1"]
    full = staged_configuration(cib, ["comp1", "comp2", "comp3"])
    whole = ET.Element("cib")
    whole.append(full)
    assert normalize_cib(ET.tostring(whole, encoding="unicode")) == normalize_cib(text)


def test_merge_status_unites_histories_by_node() -> None:
    def status(text: str) -> ET.Element:
        return ET.fromstring(f"<status>{text}</status>")

    ctl = ('<node_state id="1" uname="ctl1" crmd="online"><lrm id="1"><lrm_resources>'
           '<lrm_resource id="{r}"/><lrm_resource id="shared"/></lrm_resources></lrm>'
           '<transient_attributes id="1"><instance_attributes id="s1">'
           '<nvpair id="{r}-a" name="{a}" value="1"/></instance_attributes>'
           "</transient_attributes></node_state>")
    one = status(ctl.format(r="comp1", a="#node-unfenced") + '<node_state id="comp1"/>')
    two = status(ctl.format(r="comp2", a="other") + '<node_state id="comp2"/>')
    merged = merge_status([one, two])
    assert [s.get("id") for s in merged] == ["1", "comp1", "comp2"]
    ctl1 = merged.find("node_state[@id='1']")
    assert ctl1 is not None
    assert [r.get("id") for r in ctl1.iter("lrm_resource")] == ["comp1", "shared", "comp2"]
    assert [p.get("name") for p in ctl1.iter("nvpair")] == ["#node-unfenced", "other"]
