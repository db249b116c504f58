"""Permanent and transient node attributes, compare-and-set command construction."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from instanceha.cluster.attributes import (
    TOMBSTONE_PREFIX,
    NodeAttributes,
    TransientAttributes,
    validate_name,
)
from instanceha.cluster.runner import CommandError, UnknownNode
from unit.cluster.cluster_fakes import CIB_NODES, CRM_MON_NODES, FakeRunner, pcmk_result

NAME = "instanceha-evacuate"


def _opt(argv: list[str], prefix: str) -> str:
    return next(a[len(prefix) :] for a in argv if a.startswith(prefix))


def test_get() -> None:
    xml = pcmk_result(f'<attribute name="{NAME}" value="requested:5" scope="nodes"/>')
    runner = FakeRunner().on("crm_attribute", 0, xml)
    assert NodeAttributes(runner, timeout=4).get("comp1", NAME) == "requested:5"
    assert runner.calls == [
        [
            "crm_attribute",
            "--node=comp1",
            f"--name={NAME}",
            "--lifetime=forever",
            "--query",
            "--output-as=xml",
        ]
    ]
    assert runner.timeouts == [4]


def test_get_missing_attribute_or_node() -> None:
    xml = pcmk_result("", 105, "No such object", ["Error performing operation"])
    assert NodeAttributes(FakeRunner().on("crm_attribute", 105, xml)).get("comp1", NAME) is None


def test_get_other_failure() -> None:
    xml = pcmk_result("", 102, "Not connected", ["Could not connect to the CIB"])
    with pytest.raises(CommandError):
        NodeAttributes(FakeRunner().on("crm_attribute", 102, xml)).get("comp1", NAME)


def test_set_and_delete() -> None:
    runner = FakeRunner().on("crm_attribute", 0)
    attrs = NodeAttributes(runner)
    attrs.set("comp1", NAME, "-looks like an option")
    attrs.delete("comp1", NAME)
    assert runner.calls[0][-1] == "--update=-looks like an option"
    assert runner.calls[1][-1] == "--delete"
    assert all("--lifetime=forever" in c for c in runner.calls)


def test_set_unknown_node_and_failures() -> None:
    with pytest.raises(UnknownNode):
        NodeAttributes(FakeRunner().on("crm_attribute", 105)).set("nope", NAME, "x")
    with pytest.raises(CommandError):
        NodeAttributes(FakeRunner().on("crm_attribute", 1)).set("comp1", NAME, "x")
    NodeAttributes(FakeRunner().on("crm_attribute", 105)).delete("nope", NAME)  # no error
    with pytest.raises(CommandError):
        NodeAttributes(FakeRunner().on("crm_attribute", 1)).delete("comp1", NAME)


@pytest.mark.parametrize("node", ["", "a b", "--all"])
def test_invalid_node_names(node: str) -> None:
    with pytest.raises(ValueError):
        NodeAttributes(FakeRunner()).get(node, NAME)


@pytest.mark.parametrize("name", ["", "a b", "-x", "a'b", "x=y"])
def test_invalid_attribute_names(name: str) -> None:
    with pytest.raises(ValueError):
        validate_name(name)


def test_values_are_single_line() -> None:
    with pytest.raises(ValueError):
        NodeAttributes(FakeRunner()).set("comp1", NAME, "a\nb")
    with pytest.raises(ValueError):
        NodeAttributes(FakeRunner()).compare_and_set("comp1", NAME, None, "a\nb")
    with pytest.raises(ValueError):
        TransientAttributes(FakeRunner()).set("comp1", NAME, "a\nb")


def test_get_all_reads_the_nodes_section_once() -> None:
    runner = FakeRunner().on("cibadmin", 0, CIB_NODES)
    attrs = NodeAttributes(runner)
    assert attrs.get_all(NAME) == {"ctl1": "x", "comp1": "in-progress:ctl1:1795214466"}
    assert attrs.get_all("other") == {"comp1": "1"}
    assert attrs.get_all("absent") == {}
    assert runner.calls[0] == ["cibadmin", "--query", "--scope=nodes"]


def test_get_all_without_nodes_section() -> None:
    assert NodeAttributes(FakeRunner().on("cibadmin", 105)).get_all(NAME) == {}


# -- compare-and-set ------------------------------------------------------------


def test_cas_mismatch_writes_nothing() -> None:
    runner = FakeRunner().on("cibadmin --query", 0, CIB_NODES)
    attrs = NodeAttributes(runner)
    assert not attrs.compare_and_set("ctl1", NAME, "y", "z")
    assert not attrs.compare_and_set("ctl1", NAME, None, "z")
    assert not attrs.compare_and_set("comp3", NAME, "y", "z")
    assert all(c[1] == "--query" for c in runner.calls[:3])


def test_cas_absent_to_absent_is_a_read() -> None:
    runner = FakeRunner().on("cibadmin --query", 0, CIB_NODES)
    assert NodeAttributes(runner).compare_and_set("comp3", NAME, None, None)
    assert len(runner.calls) == 1


def test_cas_swap_puts_the_expected_value_in_the_xpath() -> None:
    runner = FakeRunner().on("cibadmin --query", 0, CIB_NODES).on("cibadmin --modify", 0)
    attrs = NodeAttributes(runner)
    assert attrs.compare_and_set("comp1", NAME, "in-progress:ctl1:1795214466", "done:9")
    modify = runner.calls[1]
    xpath = _opt(modify, "--xpath=")
    assert xpath == (
        "/cib/configuration/nodes/node[@uname='comp1']/instance_attributes"
        f"/nvpair[@name='{NAME}'][@id='nodes-comp1-{NAME}']"
        "[@value='in-progress:ctl1:1795214466']"
    )
    update = ET.fromstring(_opt(modify, "--xml-text="))
    assert update.tag == "nvpair"
    assert update.attrib == {"id": f"nodes-comp1-{NAME}", "value": "done:9"}


def test_cas_lost_race_is_false_and_other_errors_raise() -> None:
    lost = FakeRunner().on("cibadmin --query", 0, CIB_NODES).on("cibadmin --modify", 105)
    assert not NodeAttributes(lost).compare_and_set("ctl1", NAME, "x", "y")
    broken = FakeRunner().on("cibadmin --query", 0, CIB_NODES).on("cibadmin --modify", 1)
    with pytest.raises(CommandError):
        NodeAttributes(broken).compare_and_set("ctl1", NAME, "x", "y")


def test_cas_create_on_an_existing_node_element() -> None:
    runner = FakeRunner().on("cibadmin --query", 0, CIB_NODES).on("cibadmin --modify", 0)
    assert NodeAttributes(runner).compare_and_set("ctl1", "fresh", None, "v")
    modify = runner.calls[1]
    assert _opt(modify, "--xpath=") == (
        "/cib/configuration/nodes[not(node[@uname='ctl1']/instance_attributes"
        "/nvpair[@name='fresh'])]"
    )
    doc = ET.fromstring(_opt(modify, "--xml-text="))
    node = doc.find("node")
    assert doc.tag == "nodes" and node is not None
    assert node.attrib == {"id": "1", "uname": "ctl1"}  # the node's real id, no type
    ia = node.find("instance_attributes")
    assert ia is not None and ia.get("id") == "nodes-1"  # merged into the existing set
    nv = ia.find("nvpair")
    assert nv is not None and nv.attrib == {"id": "nodes-1-fresh", "name": "fresh", "value": "v"}


def test_cas_create_on_a_remote_node_without_element_looks_the_node_up() -> None:
    runner = (
        FakeRunner()
        .on("cibadmin --query", 0, "<nodes/>")
        .on("crm_mon", 0, CRM_MON_NODES)
        .on("cibadmin --modify", 0)
    )
    assert NodeAttributes(runner).compare_and_set("comp2", NAME, None, "requested:1")
    assert runner.tools() == ["cibadmin", "crm_mon", "cibadmin"]
    node = ET.fromstring(_opt(runner.calls[2], "--xml-text=")).find("node")
    assert node is not None
    assert node.attrib == {"id": "comp2", "uname": "comp2", "type": "remote"}


def test_cas_create_on_an_unknown_node() -> None:
    runner = FakeRunner().on("cibadmin --query", 0, "<nodes/>").on("crm_mon", 0, CRM_MON_NODES)
    with pytest.raises(UnknownNode):
        NodeAttributes(runner).compare_and_set("nope", NAME, None, "x")


def test_cas_delete_swaps_in_a_tombstone_then_deletes_it() -> None:
    runner = (
        FakeRunner()
        .on("cibadmin --query", 0, CIB_NODES)
        .on("cibadmin --modify", 0)
        .on("cibadmin --delete", 0)
    )
    assert NodeAttributes(runner).compare_and_set("ctl1", NAME, "x", None)
    modify, delete = runner.calls[1], runner.calls[2]
    tombstone = ET.fromstring(_opt(modify, "--xml-text=")).get("value", "")
    assert tombstone.startswith(TOMBSTONE_PREFIX)
    assert _opt(delete, "--xpath=").endswith(f"[@id='nodes-1-{NAME}'][@value='{tombstone}']")


def test_cas_delete_that_loses_deletes_nothing() -> None:
    runner = FakeRunner().on("cibadmin --query", 0, CIB_NODES).on("cibadmin --modify", 105)
    assert not NodeAttributes(runner).compare_and_set("ctl1", NAME, "x", None)
    assert [c[1] for c in runner.calls] == ["--query", "--modify"]


def test_cas_quotes_in_values() -> None:
    runner = FakeRunner().on("cibadmin --query", 0, CIB_NODES).on("cibadmin --modify", 0)
    NodeAttributes(runner).compare_and_set("comp1", "other", "1", """it's "x" """)
    assert ET.fromstring(_opt(runner.calls[1], "--xml-text=")).get("value") == """it's "x" """


# -- transient ---------------------------------------------------------------------


def test_transient_get() -> None:
    xml = pcmk_result('<attribute name="p" value="42" host="comp1"/>')
    runner = FakeRunner().on("attrd_updater", 0, xml)
    assert TransientAttributes(runner).get("comp1", "p") == "42"
    assert runner.calls[0] == [
        "attrd_updater",
        "--query",
        "--name=p",
        "--node=comp1",
        "--output-as=xml",
    ]


@pytest.mark.parametrize(
    ("rc", "body"),
    [(0, '<attribute name="p" value="" host="comp1"/>'), (78, ""), (105, ""), (0, "")],
)
def test_transient_get_unset(rc: int, body: str) -> None:
    runner = FakeRunner().on("attrd_updater", rc, pcmk_result(body, rc))
    assert TransientAttributes(runner).get("comp1", "p") is None


def test_transient_get_all_hides_the_agent_node_from_attrd_updater() -> None:
    xml = pcmk_result(
        '<attribute name="p" value="1" host="comp1"/><attribute name="p" value="2" host="comp2"/>'
        '<attribute name="p" value="" host="ctl1"/>'
    )
    runner = FakeRunner().on("env", 0, xml)
    assert TransientAttributes(runner).get_all("p") == {"comp1": "1", "comp2": "2"}
    argv = runner.calls[0]
    assert argv[:4] == ["env", "-u", "OCF_RESKEY_CRM_meta_on_node", "attrd_updater"]
    assert "--all" in argv and "--query" in argv
    assert TransientAttributes(FakeRunner().on("env", 78, pcmk_result("", 78))).get_all("p") == {}


def test_transient_writes() -> None:
    runner = FakeRunner().on("attrd_updater", 0)
    tr = TransientAttributes(runner)
    tr.set("comp1", "p", "50%")
    tr.delete("comp1", "p")
    assert runner.calls == [
        ["attrd_updater", "--update=50%", "--name=p", "--node=comp1"],
        ["attrd_updater", "--delete", "--name=p", "--node=comp1"],
    ]
    with pytest.raises(CommandError):
        TransientAttributes(FakeRunner().on("attrd_updater", 102)).set("comp1", "p", "1")
