"""Node lookups from crm_node and crm_mon output."""

from __future__ import annotations

import pytest

from instanceha.cluster.nodes import ClusterNodes
from instanceha.cluster.runner import CommandError, OutputError, UnknownNode
from unit.cluster.cluster_fakes import CRM_MON_NODES, FakeRunner, pcmk_result


def test_local_name() -> None:
    runner = FakeRunner().on("crm_node", 0, "comp1\n")
    assert ClusterNodes(runner, timeout=7).local_name() == "comp1"
    assert runner.calls == [["crm_node", "-n"]] and runner.timeouts == [7]


@pytest.mark.parametrize("out", ["", "\n", "a\nb\n", "two words\n", "<x>\n"])
def test_local_name_rejects_unexpected_output(out: str) -> None:
    with pytest.raises(OutputError):
        ClusterNodes(FakeRunner().on("crm_node", 0, out)).local_name()


def test_local_name_failure() -> None:
    with pytest.raises(CommandError):
        ClusterNodes(FakeRunner().on("crm_node", 102, "", "not connected")).local_name()


def test_nodes_from_crm_mon() -> None:
    runner = FakeRunner().on("crm_mon", 0, CRM_MON_NODES)
    cluster = ClusterNodes(runner)
    nodes = {n.name: n for n in cluster.nodes()}
    assert runner.calls[0][:2] == ["crm_mon", "--one-shot"]
    assert "--output-as=xml" in runner.calls[0]
    assert set(nodes) == {"comp1", "comp2", "ctl1"}
    assert nodes["ctl1"].id == "1" and nodes["ctl1"].kind == "member"
    assert not nodes["ctl1"].is_remote and nodes["ctl1"].online
    assert nodes["comp2"].is_remote and not nodes["comp2"].online and nodes["comp2"].unclean
    assert [n.name for n in cluster.remote_nodes()] == ["comp1", "comp2"]
    assert cluster.is_remote("comp1") and not cluster.is_remote("ctl1")
    assert cluster.get("nope") is None
    with pytest.raises(UnknownNode):
        cluster.is_remote("nope")


def test_guest_nodes_count_as_remote() -> None:
    xml = pcmk_result('<nodes><node name="g1" id="g1" online="true" type="guest"/></nodes>')
    assert ClusterNodes(FakeRunner().on("crm_mon", 0, xml)).is_remote("g1")


def test_cluster_down() -> None:
    xml = pcmk_result("", 102, "Not connected", ["Connection to cluster failed"])
    with pytest.raises(CommandError) as exc:
        ClusterNodes(FakeRunner().on("crm_mon", 102, xml)).nodes()
    assert exc.value.rc == 102
