"""The live cluster lab itself: hosts are real remote nodes, fenced through their own BMC."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET

import pytest

from instanceha.cluster.history import FenceHistory, successes_since
from labs.cluster_lab import ClusterLab

pytestmark = [pytest.mark.integration, pytest.mark.lab]


@pytest.fixture
def lab(cluster_lab: ClusterLab) -> ClusterLab:
    """The session lab with every host online."""
    cluster_lab.wait_hosts_online(timeout=60)
    return cluster_lab


def test_hosts_are_isolated_remote_nodes(lab: ClusterLab) -> None:
    status = lab.crm_mon()
    assert status.dc == "ctl1"
    for host in lab.hosts:
        node = status.node(host.name)
        assert node.type == "remote" and node.online
        assert status.started(f"fence-{host.name}")
        # each host has its own UTS and network namespace and address
        assert lab.host_exec(host.name, ["hostname"]).stdout.strip() == host.name
        addrs = lab.host_exec(host.name, ["ip", "-o", "-4", "addr", "show"]).stdout
        assert f"{host.address}/24" in addrs
        assert lab.power(host.name, "status") == "Chassis Power is on"


def test_freeze_and_thaw_host(lab: ClusterLab) -> None:
    pid = lab.remoted_pid("comp2")
    assert pid is not None
    lab.freeze_host("comp2")
    try:
        assert _proc_state(pid) == "T"
        assert lab.powered_on("comp2"), "a hung host keeps its power (and its BMC answers)"
        assert lab.power("comp2", "status") == "Chassis Power is on"
    finally:
        lab.thaw_host("comp2")
    assert _proc_state(pid) in ("S", "R")


def test_push_cib_replaces_the_configuration(lab: ClusterLab) -> None:
    original = lab.cib()
    root = ET.fromstring(original)
    props = root.find("configuration/crm_config/cluster_property_set")
    assert props is not None
    ET.SubElement(props, "nvpair", id="lab-test-prop", name="instanceha-lab-test", value="42")
    lab.push_cib(ET.tostring(root, encoding="unicode"))
    query = ["crm_attribute", "--type=crm_config", "--name=instanceha-lab-test", "--query"]
    assert "42" in lab.run([*query, "--quiet"]).stdout
    lab.push_cib(original)
    assert lab.run(query, check=False).returncode != 0
    assert lab.crm_mon().started("comp1")


def _proc_state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def test_crashed_host_is_fenced_through_its_bmc_and_comes_back(lab: ClusterLab) -> None:
    victim, bystander = lab.host("comp1"), lab.host("comp2")
    bystander_boots = len(bystander.power_events())
    t_kill = time.time()
    lab.kill_host(victim.name)  # the chassis stays powered: fencing must power-cycle it

    history = FenceHistory(lab.runner())
    fenced = lab.wait_for(
        lambda: [e for e in successes_since(history.events(), t_kill) if e.target == victim.name],
        timeout=30,
        what=f"a successful fencing of {victim.name}",
    )
    t_fenced = time.time()
    event = fenced[-1]
    assert event.action == "reboot"
    assert event.delegate == "ctl1"

    # the fencing went through the BMC: it powered the host off, then on again
    events = [(t, what) for t, what in victim.power_events() if t >= t_kill]
    assert [what for _, what in events][:2] == ["power-off", "power-on"]
    assert len(bystander.power_events()) == bystander_boots, "only the victim was power-cycled"

    lab.wait_hosts_online([victim.name], timeout=45)
    t_back = time.time()
    assert lab.remoted_pid(victim.name) is not None
    print(f"\nfenced {t_fenced - t_kill:.1f} s after the crash, back after {t_back - t_kill:.1f} s")
