"""instanceha.cluster against a live cluster: node names, attributes, compare-and-set, history."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from instanceha.clock import FakeClock
from instanceha.cluster import (
    ClusterNodes,
    EvacuationRequest,
    EvacuationRequests,
    EvacuationState,
    FenceHistory,
    NodeAttributes,
    TransientAttributes,
    UnknownNode,
    successes_since,
)
from labs.cluster_lab import ClusterLab

pytestmark = [pytest.mark.integration, pytest.mark.lab]

AGENT_ENV = {"OCF_RESKEY_CRM_meta_on_node": "comp1"}  # what pacemaker-execd sets for an agent


@pytest.fixture
def lab(cluster_lab: ClusterLab) -> ClusterLab:
    """The session lab with every host online."""
    cluster_lab.wait_hosts_online(timeout=60)
    return cluster_lab


@pytest.fixture
def attr_name() -> str:
    """An attribute name no other test uses."""
    return f"ihatest-{uuid.uuid4().hex[:10]}"


def race(n: int, fn: Callable[[int], bool]) -> list[bool]:
    """Run fn(0..n-1) in n threads released at the same moment."""
    barrier = threading.Barrier(n)

    def go(i: int) -> bool:
        barrier.wait()
        return fn(i)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(go, range(n)))


def test_node_lookups(lab: ClusterLab) -> None:
    nodes = ClusterNodes(lab.runner())
    assert nodes.local_name() == "ctl1"
    by_name = {n.name: n for n in nodes.nodes()}
    assert by_name["ctl1"].kind == "member" and not by_name["ctl1"].is_remote
    assert {n.name for n in nodes.remote_nodes()} == {h.name for h in lab.hosts}
    assert all(n.online for n in nodes.remote_nodes())
    assert nodes.is_remote("comp1") and not nodes.is_remote("ctl1")
    with pytest.raises(UnknownNode):
        nodes.is_remote("no-such-node")
    # inside an agent on a remote node, the local node is that remote node
    inside = ClusterNodes(lab.host_runner("comp1", AGENT_ENV))
    assert inside.local_name() == "comp1"
    assert ClusterNodes(lab.host_runner("comp2")).local_name() == "comp2"
    assert {n.name for n in inside.remote_nodes()} == {"comp1", "comp2"}


def test_permanent_attributes(lab: ClusterLab, attr_name: str) -> None:
    attrs = NodeAttributes(lab.runner())
    for node in ("ctl1", "comp1"):
        assert attrs.get(node, attr_name) is None
        attrs.set(node, attr_name, f"v-{node}")
        assert attrs.get(node, attr_name) == f"v-{node}"
    assert attrs.get_all(attr_name) == {"ctl1": "v-ctl1", "comp1": "v-comp1"}
    shown = lab.crm_mon()
    assert shown.node("comp1").attributes[attr_name] == "v-comp1"  # crm_mon -A shows it
    attrs.set("comp1", attr_name, "value with spaces and 'quotes'")
    assert attrs.get("comp1", attr_name) == "value with spaces and 'quotes'"
    for node in ("ctl1", "comp1"):
        attrs.delete(node, attr_name)
        attrs.delete(node, attr_name)  # idempotent
        assert attrs.get(node, attr_name) is None
    assert attrs.get_all(attr_name) == {}
    with pytest.raises(UnknownNode):
        attrs.set("no-such-node", attr_name, "x")


def test_agent_on_a_remote_node_reads_and_writes_every_node(
    lab: ClusterLab, attr_name: str
) -> None:
    here, agent = NodeAttributes(lab.runner()), NodeAttributes(lab.host_runner("comp1", AGENT_ENV))
    agent.set("comp1", attr_name, "from-comp1")
    here.set("comp2", attr_name, "from-ctl1")
    assert here.get("comp1", attr_name) == "from-comp1"
    assert agent.get_all(attr_name) == {"comp1": "from-comp1", "comp2": "from-ctl1"}
    assert agent.compare_and_set("comp2", attr_name, "from-ctl1", "cas-from-comp1")
    assert here.get("comp2", attr_name) == "cas-from-comp1"
    for node in ("comp1", "comp2"):
        here.delete(node, attr_name)

    # transient: the agent sees every node despite OCF_RESKEY_CRM_meta_on_node
    tr_here, tr_agent = (
        TransientAttributes(lab.runner()),
        TransientAttributes(lab.host_runner("comp1", AGENT_ENV)),
    )
    tr_agent.set("comp1", attr_name, "1")
    tr_here.set("comp2", attr_name, "2")
    lab.wait_for(
        lambda: tr_agent.get_all(attr_name) == {"comp1": "1", "comp2": "2"},
        timeout=10,
        what="transient attributes of both hosts seen from comp1",
    )
    for node in ("comp1", "comp2"):
        tr_here.delete(node, attr_name)
    lab.wait_for(lambda: tr_here.get_all(attr_name) == {}, 10, "transient attributes deleted")


def test_transient_attributes(lab: ClusterLab, attr_name: str) -> None:
    tr = TransientAttributes(lab.runner())
    assert tr.get("comp2", attr_name) is None
    assert tr.get_all(attr_name) == {}
    tr.set("comp2", attr_name, "42%")
    tr.set("ctl1", attr_name, "7%")
    lab.wait_for(lambda: tr.get("comp2", attr_name) == "42%", 10, "transient value")
    assert tr.get_all(attr_name) == {"comp2": "42%", "ctl1": "7%"}
    # a transient attribute is not a permanent one
    assert NodeAttributes(lab.runner()).get("comp2", attr_name) is None
    tr.delete("comp2", attr_name)
    tr.delete("ctl1", attr_name)
    lab.wait_for(lambda: tr.get_all(attr_name) == {}, 10, "transient attributes deleted")


def test_compare_and_set_has_exactly_one_winner(lab: ClusterLab, attr_name: str) -> None:
    attrs = NodeAttributes(lab.runner())
    n = 6
    # create-if-absent race on a node that has no such attribute
    won = race(n, lambda i: attrs.compare_and_set("comp2", attr_name, None, f"w{i}"))
    assert won.count(True) == 1
    winner = won.index(True)
    assert attrs.get("comp2", attr_name) == f"w{winner}"
    # swap race from the current value
    won2 = race(n, lambda i: attrs.compare_and_set("comp2", attr_name, f"w{winner}", f"s{i}"))
    assert won2.count(True) == 1
    current = f"s{won2.index(True)}"
    assert attrs.get("comp2", attr_name) == current
    # a stale expectation loses; delete-if-equal races too
    assert not attrs.compare_and_set("comp2", attr_name, f"w{winner}", "late")
    won3 = race(n, lambda i: attrs.compare_and_set("comp2", attr_name, current, None))
    assert won3.count(True) == 1
    assert attrs.get("comp2", attr_name) is None
    assert attrs.compare_and_set("comp2", attr_name, None, None)


def test_evacuation_request_lifecycle(lab: ClusterLab, attr_name: str) -> None:
    clock = FakeClock(start=time.time())
    store = EvacuationRequests(NodeAttributes(lab.runner()), clock=clock, name=attr_name)
    node = "comp2"
    try:
        assert store.get(node) is None
        assert store.request(node)
        assert not store.request(node), "already requested"
        assert store.get(node) == EvacuationRequest.requested(clock.time())

        claims = race(4, lambda i: store.claim(node, f"agent-{i}") is not None)
        assert claims.count(True) == 1
        owner = f"agent-{claims.index(True)}"
        loser = f"agent-{claims.index(False)}"
        req = store.get(node)
        assert req is not None and req.state is EvacuationState.IN_PROGRESS and req.owner == owner

        assert not store.complete(node, loser)
        assert store.claim(node, loser) is None, "a fresh claim is not taken over"
        clock.advance(120)
        assert store.claim(node, loser, stale_after=300) is None
        taken = store.claim(node, loser, stale_after=60)
        assert taken is not None and taken.owner == loser
        assert not store.renew(node, owner), "the old owner lost its claim"
        assert store.renew(node, loser)
        assert store.complete(node, loser)
        done = store.get(node)
        assert done is not None and done.state is EvacuationState.DONE
        assert store.all()[node] == done
        assert store.request(node), "a completed request can be requested again"
        assert not store.clear(node, only_if=done)
        assert store.clear(node)
        assert store.get(node) is None
    finally:
        NodeAttributes(lab.runner()).delete(node, attr_name)


def test_attributes_survive_a_full_cluster_restart(lab: ClusterLab, attr_name: str) -> None:
    attrs, tr = NodeAttributes(lab.runner()), TransientAttributes(lab.runner())
    store = EvacuationRequests(attrs, name=attr_name)
    assert store.request("comp1")
    attrs.set("ctl1", attr_name, "controller-value")
    tr.set("comp1", attr_name, "transient")
    lab.wait_for(lambda: tr.get("comp1", attr_name) == "transient", 10, "transient value")
    before = store.get("comp1")
    assert before is not None

    t0 = time.monotonic()
    lab.cluster_stop()
    lab.cluster_start()
    lab.wait_hosts_online(timeout=60)
    print(f"\nfull cluster restart: all hosts back after {time.monotonic() - t0:.1f} s")

    assert store.get("comp1") == before
    assert attrs.get("ctl1", attr_name) == "controller-value"
    assert lab.crm_mon().node("comp1").attributes.get(attr_name) == before.encode()
    assert tr.get("comp1", attr_name) is None, "reboot-lifetime attributes are gone"
    store.clear("comp1")
    attrs.delete("ctl1", attr_name)


def test_fencing_history_records_a_real_fencing(lab: ClusterLab) -> None:
    history = FenceHistory(lab.runner())
    t0 = time.time()
    host = lab.host("comp2")
    lab.run(["stonith_admin", "--reboot", host.name, "--timeout=60"], timeout=90)

    events = history.events()
    mine = [e for e in successes_since(events, t0) if e.target == host.name]
    ours = [e for e in mine if e.client is not None and "stonith_admin" in e.client]
    assert ours, events
    event = ours[-1]
    assert event.action == "reboot" and event.delegate == "ctl1" and event.origin == "ctl1"
    assert event.completed_at is not None and int(t0) <= event.completed_at <= time.time() + 1
    # the controller's own request (the connection dropped) may be merged into ours or
    # follow it: then both are listed as completed reboots, in either order
    assert history.last_success(host.name) in mine
    assert all(e.target == host.name for e in history.events(host.name))
    # the BMC really power-cycled the host
    assert [w for t, w in host.power_events() if t >= t0][:2] == ["power-off", "power-on"]
    lab.wait_hosts_online([host.name], timeout=45)
