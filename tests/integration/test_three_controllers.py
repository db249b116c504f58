"""Three controllers, end to end: controller failover, a partition, quorum loss, a full cluster
restart and a mass loss of compute connections, on real Pacemaker, real Nova and real IPMI.

The lab: ctl1..ctl3 are full cluster nodes, each in its own namespaces with its own BMC
(``tests/labs/cluster_lab.py``); comp1..comp3 run the Nova lab's computes under our agents,
configured from an inventory that lists the controllers' BMCs. Every scenario checks in Nova that
each protected instance ends on another host in its state through exactly one evacuation, the
unprotected one is untouched and the request is done, and prints its timeline (``-s``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from labs.cluster_lab import ClusterLab
from labs.e2e_checks import boot, check_recovered, recover, watch
from labs.e2e_lab import E2ELab, nova_host
from labs.op_bounds import check_action_bounds
from labs.timeline import (
    ALL_INSTANCES,
    EVACUATING,
    FENCED,
    FENCING_HELD,
    INSTANCE,
    POWER_OFF,
)

pytestmark = [pytest.mark.integration,
              pytest.mark.parametrize("e2e_lab", [3], indirect=True)]  # three controllers


@pytest.fixture
def lab(e2e_lab: E2ELab) -> Iterator[E2ELab]:
    """The lab healed after each test: every controller powered and joined, every compute's
    link up, every host back in service, no server left, no action of ours past its bound."""
    yield e2e_lab
    cluster = e2e_lab.cluster
    for ctl in cluster.controllers:
        if cluster.isolated(ctl.name):
            cluster.rejoin_ctl(ctl.name)
        if not cluster.ctl_up(ctl.name):
            cluster.ctl_power(ctl.name, "on")
    for host in cluster.hosts:
        cluster.restore_host(host.name)
    cluster.wait_online(timeout=120)
    e2e_lab.wait_ready(timeout=240)
    e2e_lab.nova.delete_all_servers()
    check_action_bounds(cluster)


def evacuator_node(cluster: ClusterLab) -> str:
    """The controller NovaEvacuate runs on."""
    running = cluster.crm_mon().running_on("nova-evacuate")
    assert len(running) == 1, running
    return running[0]


def quorate(cluster: ClusterLab, ctl: str) -> bool:
    """Whether ``ctl``'s partition has quorum, as it says itself (``crm_node --quorum``)."""
    return cluster.run(["crm_node", "--quorum"], node=ctl, check=False).stdout.strip() == "1"


def fencings_of(cluster: ClusterLab, target: str, since: float) -> list[str]:
    """Successful fencing actions against ``target`` completed after ``since``, as
    ``action by delegate`` (read on any controller that is up)."""
    from instanceha.cluster.history import FenceHistory

    events = FenceHistory(cluster.runner()).events(target)
    return [f"{e.action} by {e.delegate}" for e in events
            if e.succeeded and e.completed_at is not None and e.completed_at >= int(since)]


def other(cluster: ClusterLab, *excluded: str) -> list[str]:
    return [c.name for c in cluster.controllers if c.name not in excluded]


def test_controller_losing_power_while_evacuating_is_fenced_and_taken_over(lab: E2ELab) -> None:
    """Scenario 1: the controller running NovaEvacuate loses power while it evacuates 20
    instances; the survivors fence it, NovaEvacuate starts on one of them, takes the dead
    controller's claim over at once (it is fenced) and finishes."""
    cluster = lab.cluster
    lab.set_evacuator_param("stagger_ms", "500")  # 20 evacuate calls take about 10 s
    try:
        servers, plain = boot(lab, 1, active=19)
        observer = watch(lab, {1: (servers, plain)})
        owner = evacuator_node(cluster)
        observer.start(f"crash of comp1; then {owner}, evacuating it, loses power")
        cluster.kill_host("comp1")
        observer.wait(lambda t: len(t.kinds(INSTANCE)) >= 3, 120, "the evacuation under way")
        cut = time.time()
        cluster.ctl_power(owner, "off")
        observer.timeline.add("ctl-power-off", f"{owner}: BMC cut the controller's power", cut)
        t = recover(observer, ["comp1"])
    finally:
        lab.set_evacuator_param("stagger_ms", "0")
    check_recovered(lab, 1, servers, plain)
    survivor = evacuator_node(cluster)
    assert survivor != owner
    moved = [e for e in t.kinds(EVACUATING) if e.at >= cut]
    assert moved and f":{survivor}:" in moved[0].text, t.render()
    assert fencings_of(cluster, owner, cut), f"{owner} was never fenced"
    back = t.first(ALL_INSTANCES)
    assert back is not None
    print(f"{owner} powered off -> claim taken over by {survivor} {moved[0].at - cut:.1f} s, "
          f"-> all instances back {back.at - cut:.1f} s")


def test_partition_minority_does_nothing_majority_fences_it_and_goes_on(lab: E2ELab) -> None:
    """Scenario 2: the controller running NovaEvacuate is cut off from the two others, and a
    compute crashes meanwhile: the minority has no quorum and fences nothing; the majority
    fences it, starts NovaEvacuate and handles the compute's failure once."""
    cluster = lab.cluster
    servers, plain = boot(lab, 2, active=3)
    observer = watch(lab, {2: (servers, plain)})
    minority = evacuator_node(cluster)
    majority = other(cluster, minority)
    observer.start(f"{minority} cut off from {', '.join(majority)}; comp2 crashes")
    cluster.isolate_ctl(minority)
    cluster.kill_host("comp2")
    cut = observer.timeline.t0
    observer.wait(lambda t: t.first(FENCED, "comp2") is not None, 120, "comp2 fenced")
    t = recover(observer, ["comp2"])
    check_recovered(lab, 2, servers, plain)
    assert all(quorate(cluster, ctl) for ctl in majority)
    fenced_minority = fencings_of(cluster, minority, cut)
    assert fenced_minority, f"the majority never fenced {minority}"
    comp2 = fencings_of(cluster, "comp2", cut)
    assert comp2 and not any(f.endswith(f" by {minority}") for f in comp2), comp2
    # the computes whose connections the cut-off controller held are not fenced: the majority
    # starts those connections once it has fenced the minority, not while it still holds them
    for healthy in ("comp1", "comp3"):
        assert not fencings_of(cluster, healthy, cut), f"{healthy} fenced: {t.render()}"
        request = lab.request(int(healthy[-1]))
        assert request is None or request.startswith("done:"), (healthy, request)
    assert evacuator_node(cluster) in majority
    log = cluster.controller(minority).pacemaker_log.read_text(errors="replace")
    said = "NO QUORUM" in log
    print(f"{minority} fenced by the majority: {fenced_minority}; comp2: {comp2}; "
          f"the minority's worker logged NO QUORUM before it was fenced: {said}")
    assert t.first(POWER_OFF, "comp2") is not None


def test_quorum_loss_fences_and_evacuates_nothing_until_quorum_returns(lab: E2ELab) -> None:
    """Scenario 3: two controllers lose power; a compute crashes meanwhile: nothing is fenced
    or evacuated while the survivor has no quorum; once a second controller is back, the
    compute is fenced and evacuated once."""
    cluster = lab.cluster
    servers, plain = boot(lab, 3, active=2)
    observer = watch(lab, {3: (servers, plain)})
    survivor = evacuator_node(cluster)
    down = other(cluster, survivor)
    observer.start(f"{' and '.join(down)} lose power; comp3 crashes")
    for ctl in down:
        cluster.ctl_power(ctl, "off")
    cluster.wait_for(lambda: not quorate(cluster, survivor), 60, f"{survivor} without quorum")
    cluster.kill_host("comp3")
    crashed = time.time()
    time.sleep(20)  # what an inquorate partition does in 20 s: nothing (checked below)
    t = observer.timeline
    assert t.first(POWER_OFF, "comp3") is None and t.first(FENCED, "comp3") is None, t.render()
    request = lab.request(3)
    assert request is None or request.startswith("done:"), f"recorded without quorum: {request}"
    assert not lab.nova.evacuations(source=nova_host(3))
    cluster.ctl_power(down[0], "on")
    regained = time.time()
    t = recover(observer, ["comp3"])
    check_recovered(lab, 3, servers, plain)
    fenced = t.first(FENCED, "comp3")
    assert fenced is not None and fenced.at >= regained, t.render()
    print(f"comp3 crashed {crashed - t.t0:.1f} s; nothing for {regained - crashed:.1f} s "
          f"without quorum; fenced {fenced.at - regained:.1f} s after {down[0]} was powered on")


def test_full_cluster_restart_mid_evacuation_resumes_without_duplicates(lab: E2ELab) -> None:
    """Scenario 4: every controller's Pacemaker stops while comp1's evacuation is half done;
    started again, the cluster resumes it from the durable request and journal, and no
    instance is evacuated twice."""
    cluster = lab.cluster
    lab.set_evacuator_param("stagger_ms", "500")
    try:
        servers, plain = boot(lab, 1, active=19)
        observer = watch(lab, {1: (servers, plain)})
        observer.start("crash of comp1; the whole cluster restarts mid-evacuation")
        cluster.kill_host("comp1")
        observer.wait(lambda t: len(t.kinds(INSTANCE)) >= 3, 120, "the evacuation under way")
        stopped = time.time()
        cluster.cluster_stop()
        observer.timeline.add("cluster-stop", "every controller's Pacemaker stopped", stopped)
        request = lab_request_offline(lab)
        cluster.cluster_start()
        observer.timeline.add("cluster-start", "every controller's Pacemaker started")
        t = recover(observer, ["comp1"])
    finally:
        lab.set_evacuator_param("stagger_ms", "0")
    check_recovered(lab, 1, servers, plain)
    partial = len([e for e in t.kinds(INSTANCE) if e.at < stopped])
    assert 0 < partial < len(servers), t.render()
    print(f"request while stopped: {request}; {partial} of {len(servers)} instances back "
          "before the restart, each of the others evacuated once after it")


def lab_request_offline(lab: E2ELab) -> str:
    """comp1's request as a stopped controller's CIB file holds it (what survives)."""
    ctl = lab.cluster.controllers[0]
    done = lab.cluster.run(["sh", "-c", "CIB_file=/var/lib/pacemaker/cib/cib.xml crm_attribute "
                            "-N comp1 -n instanceha-evacuate -l forever -q -G"],
                           node=ctl.name, check=False)  # fmt: skip
    value = done.stdout.strip()
    assert value and not value.startswith("done:"), (value, done.stderr)
    return value


def fence_hold_log(cluster: ClusterLab) -> str:
    """What fence_hold said on every controller (its decisions, holds and returns)."""
    lines = []
    for ctl in cluster.controllers:
        for line in ctl.pacemaker_log.read_text(errors="replace").splitlines():
            if "fence_hold" in line or "fence-hold" in line or "FENCING OF" in line:
                lines.append(f"{ctl.name}: {line}")
    return "\n".join(lines[-80:])


def test_mass_connection_loss_powers_nothing_off_and_returns_without_fencing(
        lab: E2ELab) -> None:
    try:
        _mass_connection_loss(lab)
    finally:
        print("fence_hold on the controllers:\n" + fence_hold_log(lab.cluster))


def _mass_connection_loss(lab: E2ELab) -> None:
    """Scenario 5: the controllers lose the network to two of three computes at once (the
    computes and their instances are fine). No compute is powered off, nothing is evacuated,
    the hold is loud; an admin releases one (it is then fenced and evacuated); the other
    returns to the cluster by itself, without fencing, once its link is back."""
    cluster = lab.cluster
    failures = {1: boot(lab, 1, active=2), 2: boot(lab, 2, active=2)}
    observer = watch(lab, failures)
    remoted = {n: cluster.remoted_pid(n) for n in ("comp1", "comp2")}
    observer.start("the controllers lose the network to comp1 and comp2")
    cluster.cut_host("comp1")
    cluster.cut_host("comp2")
    observer.wait(lambda t: bool(t.first(FENCING_HELD, "comp1") and t.first(FENCING_HELD, "comp2")),
                  120, "both fencings held")
    time.sleep(10)  # held means held: Pacemaker retries, nothing is powered off
    t = observer.timeline
    for node in ("comp1", "comp2"):
        assert t.first(POWER_OFF, node) is None and t.first(FENCED, node) is None, t.render()
        assert cluster.remoted_pid(node) == remoted[node], f"{node} was restarted"
    assert not any(lab.nova.evacuations(source=nova_host(i)) for i in (1, 2))
    inventory = str(lab.work / "inventory.yaml")
    status = lab.instanceha("status", "-i", inventory, "--no-nova", timeout=60)
    assert status.stdout.count("FENCING HELD") == 2, status.stdout + status.stderr
    logs = "".join(c.pacemaker_log.read_text(errors="replace") for c in cluster.controllers)
    assert "FENCING OF comp1 HELD" in logs and "FENCING OF comp2 HELD" in logs

    # comp2 is really lost, says the admin: released, it is fenced and evacuated
    lab.instanceha("evacuate", "comp2", "--release", check=True, timeout=60)
    observer.wait(lambda t: t.first(FENCED, "comp2") is not None, 120, "comp2 fenced")
    cluster.restore_host("comp2")  # its link is repaired while it reboots
    # comp1's link comes back: it returns by itself, without fencing
    restored = time.time()
    cluster.restore_host("comp1")
    cluster.wait_for(lambda: cluster.crm_mon().online("comp1"), 150, "comp1 back online")
    back_s = time.time() - restored
    t = recover(observer, ["comp2"])
    check_recovered(lab, 2, *failures[2])
    assert t.first(POWER_OFF, "comp1") is None and t.first(FENCED, "comp1") is None, t.render()
    assert cluster.remoted_pid("comp1") == remoted["comp1"], "comp1 was restarted"
    assert not lab.nova.evacuations(source=nova_host(1)), "comp1's instances were never moved"
    assert not lab.fencing_holds(), lab.fencing_holds()
    status1 = cluster.crm_mon()
    assert status1.online("comp1") and not status1.node("comp1").unclean
    assert "comp1" in status1.running_on("nova-compute"), "found running, never restarted"
    held = {n: t.since(FENCING_HELD, n) for n in ("comp1", "comp2")}
    print(f"fencing held after the cut: {held}; released comp2 fenced and evacuated; comp1 back "
          f"online without fencing {back_s:.1f} s after its link; failed actions left: "
          f"{status1.failed_actions()}")
