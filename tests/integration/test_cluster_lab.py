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


@pytest.mark.parametrize("cluster_lab", [3], indirect=True)
def test_three_controllers_fence_a_lost_one_and_only_the_majority_keeps_quorum(
    cluster_lab: ClusterLab,
) -> None:
    """ctl1 loses power: the survivors fence it through its BMC and take over the remote
    connections it held without fencing a compute. Then ctl3 is cut off from the other
    controllers: it loses quorum and fences nothing; the majority keeps quorum and fences it."""
    lab = cluster_lab
    names = [c.name for c in lab.controllers]
    assert names == ["ctl1", "ctl2", "ctl3"]
    print(f"\nstart {lab.timings['start']:.1f} s, every controller online after "
          f"{lab.timings['online']:.1f} s")  # fmt: skip
    for c in names:
        status = lab.crm_mon(c)
        assert status.quorate, f"{c}: partition without quorum"
        assert all(status.online(n) for n in [*names, *(h.name for h in lab.hosts)]), c
        assert all(status.started(f"fence-{n}") for n in names)
        assert lab.run(["crm_node", "-n"], node=c).stdout.strip() == c

    # ctl1 holds every remote connection (sticky: they stay where they run), then loses its power
    for h in lab.hosts:
        lab.run(["crm_resource", "--resource", h.name, "--meta", "--set-parameter",
                 "resource-stickiness", "--parameter-value", "100"])  # fmt: skip
        moved = lab.run(["crm_resource", "--move", "--resource", h.name, "--node", "ctl1"],
                        check=False)  # fmt: skip
        assert moved.returncode in (0, 108), moved.stderr  # 108: it runs there already
    lab.wait_for(lambda: all(lab.crm_mon().resources[h.name].nodes == ("ctl1",)
                             for h in lab.hosts), 60, "the connections on ctl1")  # fmt: skip
    for h in lab.hosts:
        lab.run(["crm_resource", "--clear", "--resource", h.name])
    lab.settle()
    boots = {n.name: len(n.power_events()) for n in lab.nodes}
    history = FenceHistory(lab.runner("ctl2"))  # a survivor's fencer
    t_off = time.time()
    assert lab.ctl_power("ctl1", "off") == "Chassis Power Control: Down/Off"
    fenced = lab.wait_for(
        lambda: [e for e in successes_since(history.events(), t_off) if e.target == "ctl1"],
        timeout=60, what="a successful fencing of ctl1",
    )  # fmt: skip
    t_fenced = time.time()
    assert fenced[-1].delegate in ("ctl2", "ctl3")

    def moved() -> bool:
        st = lab.crm_mon()
        return all(st.online(h.name) and st.started(h.name)
                   and set(st.resources[h.name].nodes) <= {"ctl2", "ctl3"} for h in lab.hosts)

    lab.wait_for(moved, 60, "the connections on ctl2/ctl3")
    t_moved = time.time()
    assert not [e for e in history.events() if e.target.startswith("comp")], "a compute was fenced"
    assert all(len(h.power_events()) == boots[h.name] for h in lab.hosts)
    lab.wait_online(60)  # the fencing's reboot powered ctl1 on again: it rejoins
    t_back = time.time()
    lab.wait_hosts_online(timeout=60)
    print(f"ctl1 powered off: fenced by {fenced[-1].delegate} after {t_fenced - t_off:.1f} s, "
          f"connections on ctl2/ctl3 after {t_moved - t_off:.1f} s, ctl1 online again after "
          f"{t_back - t_off:.1f} s")  # fmt: skip

    # partition: ctl3 alone on one side
    boots = {n.name: len(n.power_events()) for n in lab.nodes}
    history = FenceHistory(lab.runner("ctl1"))  # the majority's
    t_cut = time.time()
    lab.isolate_ctl("ctl3")
    try:
        lab.wait_for(lambda: not lab.crm_mon("ctl3").quorate, 30, "ctl3 without quorum")
        t_minority = time.time()
        majority = lab.wait_for(
            lambda: (st := lab.crm_mon("ctl1")).quorate and not st.online("ctl3") and st, 30,
            "ctl1 and ctl2 quorate without ctl3",
        )  # fmt: skip
        t_majority = time.time()
        assert "partition WITHOUT quorum" in lab.run(["crm_mon", "-1"], node="ctl3").stdout
        assert majority.online("ctl2") and all(majority.online(h.name) for h in lab.hosts)
        lab.wait_for(
            lambda: [e for e in successes_since(history.events(), t_cut) if e.target == "ctl3"],
            timeout=60, what="the majority fencing ctl3",
        )  # fmt: skip
        t_fenced = time.time()
        assert not [e for e in successes_since(history.events(), t_cut) if e.target != "ctl3"]
        changed = [n.name for n in lab.nodes if len(n.power_events()) != boots[n.name]]
        assert changed == ["ctl3"], f"only ctl3 is power-cycled, not {changed}"
        print(f"ctl3 isolated: minority without quorum after {t_minority - t_cut:.1f} s, "
              f"majority without ctl3 after {t_majority - t_cut:.1f} s, ctl3 fenced after "
              f"{t_fenced - t_cut:.1f} s")  # fmt: skip
    finally:
        lab.rejoin_ctl("ctl3")
    t_rejoin = time.time()
    lab.wait_online(60)
    print(f"ctl3 rejoined: every controller online after {time.time() - t_rejoin:.1f} s")
