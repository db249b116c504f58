"""Rendering: structure, ids, secrets, escaping (no Pacemaker needed)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from instanceha.cib.inventory import load_inventory, parse_inventory
from instanceha.cib.render import RenderError, RenderOptions, render_cib


def _params(root: ET.Element, rid: str) -> dict[str, str]:
    prim = root.find(f".//primitive[@id='{rid}']")
    assert prim is not None, rid
    pairs = prim.iterfind("instance_attributes/nvpair")
    return {p.get("name", ""): p.get("value", "") for p in pairs}


def test_ids_are_unique_and_every_piece_is_there(golden: Path) -> None:
    root = ET.fromstring(render_cib(load_inventory(golden / "inventory-small.yaml")))
    # <node id> is not an XML ID: a remote node is named like its connection resource.
    ids = Counter(el.get("id") for el in root.iter() if el.get("id") and el.tag != "node")
    assert [i for i, n in ids.items() if n > 1] == []
    assert root.get("validate-with") == "pacemaker-3.9"
    resources = {el.get("id") for el in root.iterfind("configuration/resources/*")}
    assert resources == {
        "comp1", "comp2", "comp3", "fence-ipmi-ctl1", "fence-ipmi-ctl2", "fence-ipmi-comp1",
        "fence-ipmi-comp2", "fence-ipmi-comp3", "fence-nova", "fence-hold", "libvirtd-clone",
        "nova-compute-clone", "nova-evacuate"}
    levels = root.findall("configuration/fencing-topology/fencing-level")
    assert [(lv.get("target"), lv.get("devices")) for lv in levels][0] == (
        "comp1", "fence-hold,fence-ipmi-comp1,fence-nova")
    alert = root.find("configuration/alerts/alert")
    assert alert is not None and alert.find("select/select_fencing") is not None
    assert alert.get("path") == "/usr/lib/instanceha/alert_fence_event"
    roles = {n.get("uname"): n.find("instance_attributes/nvpair").get("value")  # type: ignore[union-attr]
             for n in root.iterfind("configuration/nodes/node")}
    assert roles == {"ctl1": "controller", "ctl2": "controller", "comp1": "compute",
                     "comp2": "compute", "comp3": "compute"}


def test_nova_agents_share_cloud_domain_and_host_map(golden: Path) -> None:
    root = ET.fromstring(render_cib(load_inventory(golden / "inventory-small.yaml")))
    for rid in ("fence-nova", "nova-compute", "nova-evacuate"):
        params = _params(root, rid)
        assert params["cloud"] == "overcloud"
        assert params["domain"] == "example.com"
        assert params["host_map"] == "comp3:compute-03.example.com"
    assert _params(root, "fence-nova")["pcmk_host_list"] == "comp1,comp2,comp3"
    evacuate = _params(root, "nova-evacuate")
    assert evacuate["evacuation_mode"] == "tagged-or-all"
    assert evacuate["mass_failure_percent"] == "50"


def test_passwords_stay_out_of_the_cib_unless_asked(golden: Path, tmp_path: Path) -> None:
    inv = load_inventory(golden / "inventory-small.yaml")
    root = ET.fromstring(render_cib(inv))
    params = _params(root, "fence-ipmi-comp1")
    assert "password" not in params
    assert params["password_script"] == "/bin/cat /etc/instanceha/bmc/comp1"
    assert _params(root, "fence-ipmi-comp3")["password_script"] == (
        "/usr/local/sbin/bmc-password comp3")

    read: list[str] = []

    def reader(path: str) -> str:
        read.append(path)
        return f"pw-of-{Path(path).name}"

    secret = ET.fromstring(render_cib(inv, options=RenderOptions(include_secrets=True),
                                      read_secret=reader))
    assert _params(secret, "fence-ipmi-comp1")["password"] == "pw-of-comp1"
    assert "password_script" not in _params(secret, "fence-ipmi-comp1")
    assert "password" not in _params(secret, "fence-ipmi-comp3")  # a script stays a script
    assert "/etc/instanceha/bmc/comp3" not in read


def test_unreadable_password_file_is_a_render_error(doc: dict[str, Any]) -> None:
    with pytest.raises(RenderError, match="/etc/ih/comp1: cannot read password file"):
        render_cib(parse_inventory(doc), options=RenderOptions(include_secrets=True))


def test_values_are_escaped(doc: dict[str, Any]) -> None:
    doc["cloud"] = 'we"ird <&> cloud'
    doc["computes"][0]["bmc"]["password_file"] = "/etc/ih/with space"
    root = ET.fromstring(render_cib(parse_inventory(doc)))
    assert _params(root, "nova-compute")["cloud"] == 'we"ird <&> cloud'
    assert _params(root, "fence-ipmi-comp1")["password_script"] == "/bin/cat '/etc/ih/with space'"


def test_optional_pieces(doc: dict[str, Any]) -> None:
    doc["controllers"] = [{"name": "ctl1", "node_id": "101",
                           "bmc": {"address": "10.0.0.1", "password_file": "/etc/ih/c"}}]
    doc["remote"] = {"port": 3122}
    doc["alert"] = {"recipient": "/var/log/ih.log", "options": {"cloud": "x"}, "timeout": "1min"}
    doc["evacuation"] = {"reserved_hosts": ["spare1", "spare2"]}
    doc["agents"] = {"libvirtd": {"params": {"service_manager": "direct"}},
                     "nova_compute": {"start_timeout": "1h"}}
    text = render_cib(parse_inventory(doc))
    root = ET.fromstring(text)
    assert root.find("configuration/nodes/node[@uname='ctl1']").get("id") == "101"  # type: ignore[union-attr]
    avoid = root.find("configuration/constraints/rsc_location[@rsc='fence-ipmi-ctl1']")
    assert avoid is not None and (avoid.get("node"), avoid.get("score")) == ("ctl1", "-INFINITY")
    assert _params(root, "comp1")["port"] == "3122"
    assert _params(root, "libvirtd") == {"service_manager": "direct"}
    assert _params(root, "nova-evacuate")["reserved_hosts"] == "spare1,spare2"
    start = root.find(".//primitive[@id='nova-compute']/operations/op[@name='start']")
    assert start is not None and start.get("timeout") == "1h"
    alert = root.find("configuration/alerts/alert")
    assert alert is not None
    assert alert.find("recipient").get("value") == "/var/log/ih.log"  # type: ignore[union-attr]
    assert alert.find("instance_attributes/nvpair").get("name") == "cloud"  # type: ignore[union-attr]
    assert "host_map" in _params(root, "fence-nova")  # comp2 has an explicit Nova host


def test_repeated_objects_carry_their_comment_once(golden: Path) -> None:
    text = render_cib(load_inventory(golden / "inventory-small.yaml"))
    assert text.count("The connection to a compute node") == 1
    assert text.count("A compute is fenced only when") == 1
    assert text.count("Failure handling (meta attributes)") == 1  # five fence_ipmi devices


def test_every_resource_forgets_its_failures(golden: Path) -> None:
    """Issue 10: nothing may stay banned after a failure (behaviour: test_cib_failure_handling)."""
    root = ET.fromstring(render_cib(load_inventory(golden / "inventory-small.yaml")))
    props = {p.get("name"): p.get("value") for p in root.iterfind(
        "configuration/crm_config/cluster_property_set/nvpair")}
    assert props["start-failure-is-fatal"] == "false"
    for prim in root.iter("primitive"):
        rid = prim.get("id", "")
        meta: dict[str, str] = {}
        for clone in root.iterfind("configuration/resources/clone"):
            if clone.find(f"primitive[@id='{rid}']") is not None:
                meta.update((p.get("name", ""), p.get("value", ""))
                            for p in clone.iterfind("meta_attributes/nvpair"))
        meta.update((p.get("name", ""), p.get("value", ""))
                    for p in prim.iterfind("meta_attributes/nvpair"))
        if prim.get("type") == "remote":  # Pacemaker takes reconnect_interval as failure-timeout
            assert not meta, rid  # no failure settings, and requires=fencing (the default)
            assert _params(root, rid)["reconnect_interval"] != "0", rid
            continue
        assert int(meta["migration-threshold"]) > 1, rid  # a transient failure is retried
        assert meta["failure-timeout"] not in ("", "0"), rid


def test_an_inlined_password_fence_ipmi_would_refuse_is_a_render_error(
        doc: dict[str, Any]) -> None:
    """Issue 11 item 8: IPMI 2.0 passwords have at most 20 bytes; never render a longer one."""
    too_long = "p" * 21
    with pytest.raises(RenderError) as caught:
        render_cib(parse_inventory(doc), options=RenderOptions(include_secrets=True),
                   read_secret=lambda path: too_long)
    message = str(caught.value)
    assert message.startswith("computes[0].bmc.password_file: /etc/ih/comp1: ")
    assert "more than 20 bytes (IPMI limit)" in message and too_long not in message
    text = render_cib(parse_inventory(doc), options=RenderOptions(include_secrets=True),
                      read_secret=lambda path: "p" * 20)
    assert 'value="' + "p" * 20 + '"' in text


def test_only_two_controllers_get_a_fencing_delay_that_lets_the_evacuators_side_win(
        golden: Path) -> None:
    """Two controllers keep quorum on both sides of a split and race to fence each other;
    three or more never do (a minority has no quorum)."""
    def props(name: str) -> dict[str, str]:
        root = ET.fromstring(render_cib(load_inventory(golden / name)))
        return {p.get("name", ""): p.get("value", "") for p in root.iterfind(
            "configuration/crm_config/cluster_property_set/nvpair")}

    assert props("inventory-small.yaml")["priority-fencing-delay"] == "15s"  # ctl1, ctl2
    assert "priority-fencing-delay" not in props("inventory-three.yaml")
    assert props("inventory-three.yaml")["no-quorum-policy"] == "freeze"
