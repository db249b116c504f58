"""fence_hold: a compute lost alone is fenced, computes lost all at once are held, a held one
that answers again is returned without fencing. Probes are real TCP connects on loopback; the
live cluster proof is tests/integration/test_three_controllers.py (scenario 5)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from fakes.memory_cib import MemoryAttributes
from instanceha.cib.cibquery import RemoteConnection
from instanceha.clock import FakeClock
from instanceha.cluster import NodeInfo
from instanceha.cluster.attribute_names import FENCING_HOLD_ATTRIBUTE
from instanceha.cluster.reachability import answers, probe
from instanceha.fence.hold import (
    RETURN_GRACE,
    SPEC,
    HoldDevice,
    HoldPolicy,
    Verdict,
    decide,
)
from instanceha.fencing.codes import FenceError
from instanceha.fencing.device import PowerState
from unit.cluster.cluster_fakes import FakeRunner, pcmk_result

DEFAULT = HoldPolicy()
NOW = 1000.0


def node(name: str, *, online: bool = True, unclean: bool = False) -> NodeInfo:
    return NodeInfo(name=name, id=name, kind="remote", online=online, unclean=unclean)


def view(*infos: NodeInfo) -> dict[str, NodeInfo]:
    return {n.name: n for n in infos}


def test_one_compute_lost_alone_is_fenced() -> None:
    nodes = view(node("c1", online=False, unclean=True), node("c2"), node("c3"))
    decision = decide("c1", None, nodes, {"c1": False, "c2": True, "c3": True}, DEFAULT, now=NOW)
    assert decision.verdict is Verdict.PASS
    assert decision.lost == ("c1",)


def test_most_computes_unreachable_at_once_hold_the_power_off() -> None:
    nodes = view(node("c1", online=False, unclean=True), node("c2"), node("c3"))
    decision = decide("c1", None, nodes, {"c1": False, "c2": False, "c3": True}, DEFAULT, now=NOW)
    assert decision.verdict is Verdict.HOLD
    assert decision.lost == ("c1", "c2")
    assert "2 of 3 computes lost at once" in decision.reason


def test_a_compute_already_fenced_is_a_handled_failure_not_evidence() -> None:
    # c2 was fenced before (offline, clean) and has not come back: c1 alone is new
    nodes = view(node("c1", online=False, unclean=True), node("c2", online=False), node("c3"))
    decision = decide("c1", None, nodes, {"c1": False, "c2": False, "c3": True}, DEFAULT, now=NOW)
    assert decision.verdict is Verdict.PASS


def test_a_held_node_stays_held_while_unreachable_even_once_the_others_are_back() -> None:
    nodes = view(node("c1", online=False, unclean=True), node("c2"), node("c3"))
    alive = {"c1": False, "c2": True, "c3": True}
    decision = decide("c1", "held:100", nodes, alive, DEFAULT, now=NOW)
    assert decision.verdict is Verdict.HOLD
    assert "instanceha evacuate c1 --release" in decision.reason


def test_a_held_node_that_answers_again_returns_without_fencing() -> None:
    nodes = view(node("c1", online=False, unclean=True), node("c2", online=False, unclean=True))
    decision = decide("c1", "held:100", nodes, {"c2": False}, DEFAULT, now=NOW, alive=True)
    assert decision.verdict is Verdict.RETURN
    # a hung host accepts TCP connections but does not answer: still held
    decision = decide("c1", "held:100", nodes, {"c2": False}, DEFAULT, now=NOW, alive=False)
    assert decision.verdict is Verdict.HOLD


def test_a_fencing_of_a_returned_node_that_answers_returns_it_again_for_a_while() -> None:
    """A transition computed before the return may still fence the node: that is the
    cluster catching up, not a new failure (seen on the live cluster)."""
    nodes = view(node("c1", online=False, unclean=True), node("c2"), node("c3"))
    others = {"c2": True, "c3": True}
    returned = f"returned:{int(NOW) - 30}"
    assert decide("c1", returned, nodes, others, DEFAULT, now=NOW,
                  alive=True).verdict is Verdict.RETURN
    later = NOW + RETURN_GRACE
    assert decide("c1", returned, nodes, others, DEFAULT, now=later,
                  alive=True).verdict is Verdict.PASS
    # it failed again right after: a new, lone failure
    assert decide("c1", returned, nodes, others, DEFAULT, now=NOW).verdict is Verdict.PASS


def test_a_controller_that_lost_the_computes_network_powers_none_off() -> None:
    """ctl1 lost its network to the computes, not the cluster: every connection it held
    failed; the controller that fences still reaches them all. They count as lost anyway."""
    nodes = view(node("c1", online=False, unclean=True), node("c2", online=False, unclean=True),
                 node("c3"))
    decision = decide("c1", None, nodes, {"c2": True, "c3": True}, DEFAULT, now=NOW)
    assert decision.verdict is Verdict.HOLD and decision.lost == ("c1", "c2")


def test_a_released_node_that_answers_again_is_returned_not_powered_off() -> None:
    nodes = view(node("c1", online=False, unclean=True), node("c2"))
    decision = decide("c1", "released:200", nodes, {"c2": True}, DEFAULT, now=NOW, alive=True)
    assert decision.verdict is Verdict.RETURN


def test_shares_are_of_the_computes_not_known_down() -> None:
    """4 of 10 lost while 4 others were fenced and are down: 4 of the 6 up, more than half."""
    down = [node(f"d{i}", online=False) for i in range(4)]
    cut = [node(f"c{i}", online=False, unclean=True) for i in range(1, 5)]
    fine = [node("u1"), node("u2")]
    nodes = view(*down, *cut, *fine)
    probed = {n.name: n.name.startswith("u") for n in [*down, *cut, *fine] if n.name != "c1"}
    decision = decide("c1", None, nodes, probed, DEFAULT, now=NOW)
    assert decision.verdict is Verdict.HOLD and "4 of 6" in decision.reason


def test_a_release_lets_the_fencing_through_whatever_the_others_do() -> None:
    nodes = view(node("c1", online=False, unclean=True), node("c2", online=False, unclean=True))
    decision = decide("c1", "released:200", nodes, {"c2": False}, DEFAULT, now=NOW)
    assert decision.verdict is Verdict.PASS


@pytest.mark.parametrize(("policy", "lost", "total", "trips"), [
    (HoldPolicy(0, 50), 2, 3, True),
    (HoldPolicy(0, 50), 2, 4, False),       # exactly half is not more than half
    (HoldPolicy(0, 50), 1, 1, False),       # never for one compute
    (HoldPolicy(3, 0), 3, 10, False),
    (HoldPolicy(3, 0), 4, 10, True),
    (HoldPolicy(0, 0), 10, 10, False),      # both thresholds off: every fencing goes through
    (HoldPolicy(5, 20), 3, 10, True),       # either threshold trips
])
def test_thresholds(policy: HoldPolicy, lost: int, total: int, trips: bool) -> None:
    assert policy.trips(lost, total) is trips


@pytest.fixture
def listening() -> Iterator[int]:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield server.getsockname()[1]


@pytest.fixture
def answering() -> Iterator[int]:
    """A port whose process answers (accepts and closes at once), as a live remoted does."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(2)
    server.close()


def test_answers_tells_a_running_process_from_a_hung_or_gone_one(
        listening: int, answering: int) -> None:
    assert answers("127.0.0.1", answering, 1.0)
    assert not answers("127.0.0.1", listening, 0.3), "accepted by the kernel, never read"
    assert not answers("127.0.0.1", closed_port(), 1.0)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_probe_tells_a_listening_remoted_from_a_gone_one(listening: int) -> None:
    conns = {"up": RemoteConnection("up", None, "127.0.0.1", listening),
             "down": RemoteConnection("down", None, "127.0.0.1", closed_port()),
             "bad": RemoteConnection("bad", None, "no such host.invalid", 3121)}
    assert probe(conns, 1.0) == {"up": True, "down": False, "bad": False}


def cib(ports: dict[str, int]) -> str:
    prims = "".join(
        f'<primitive id="{n}" class="ocf" provider="pacemaker" type="remote">'
        f'<instance_attributes id="{n}-ia">'
        f'<nvpair id="{n}-s" name="server" value="127.0.0.1"/>'
        f'<nvpair id="{n}-p" name="port" value="{p}"/></instance_attributes></primitive>'
        for n, p in ports.items())
    return f"<cib><configuration><resources>{prims}</resources></configuration><status/></cib>"


def crm_mon(*infos: NodeInfo) -> str:
    body = "".join(
        f'<node name="{n.name}" id="{n.name}" online="{str(n.online).lower()}" '
        f'unclean="{str(n.unclean).lower()}" type="remote"/>' for n in infos)
    return pcmk_result(f"<nodes>{body}</nodes>")


def device(ports: dict[str, int], *infos: NodeInfo,
           attrs: MemoryAttributes | None = None) -> tuple[HoldDevice, FakeRunner]:
    runner = FakeRunner().on("cibadmin --query", stdout=cib(ports)).on("crm_mon",
                                                                         stdout=crm_mon(*infos))
    runner.on("cibadmin --delete").on("crm_resource")
    params = SPEC.all_params.parse({"plug": "c1"})
    return HoldDevice(params, FakeClock(500), runner, attrs or MemoryAttributes()), runner


def test_device_passes_a_lone_failure_and_reads_off_after(listening: int) -> None:
    dev, _ = device({"c1": closed_port(), "c2": listening, "c3": listening},
                    node("c1", online=False, unclean=True), node("c2"), node("c3"))
    assert dev.get_power("c1") is PowerState.ON
    dev.set_power("c1", PowerState.OFF)
    assert dev.get_power("c1") is PowerState.OFF
    dev.set_power("c1", PowerState.ON)
    assert dev.get_power("c1") is PowerState.ON


def test_device_holds_marks_the_node_and_returns_it_once_it_answers(
        listening: int, answering: int) -> None:
    attrs = MemoryAttributes()
    gone = closed_port()
    dev, _ = device({"c1": gone, "c2": gone, "c3": listening},
                    node("c1", online=False, unclean=True), node("c2", online=False, unclean=True),
                    node("c3"), attrs=attrs)
    with pytest.raises(FenceError, match="fencing of c1 held: 2 of 3"):
        dev.set_power("c1", PowerState.OFF)
    assert attrs.get("c1", FENCING_HOLD_ATTRIBUTE) == "held:500"
    assert dev.get_power("c1") is PowerState.ON  # the level fails: nothing powered off

    # the link is back: c1's remoted answers; c2 is still cut off
    dev, runner = device({"c1": answering, "c2": gone, "c3": listening},
                         node("c1", online=False, unclean=True),
                         node("c2", online=False, unclean=True), node("c3"), attrs=attrs)
    with pytest.raises(FenceError, match="returned to the cluster without fencing"):
        dev.set_power("c1", PowerState.OFF)
    assert attrs.get("c1", FENCING_HOLD_ATTRIBUTE) == "returned:500"
    cleanup = runner.calls.index(["crm_resource", "--cleanup", "--resource", "c1"])
    delete = runner.calls.index(
        ["cibadmin", "--delete", "--xpath", "/cib/status/node_state[@uname='c1']/lrm"])
    assert cleanup < delete, "unclean until the very last step: a failure in between is retried"


def test_device_lets_a_released_node_through(listening: int) -> None:
    attrs = MemoryAttributes()
    attrs.set("c1", FENCING_HOLD_ATTRIBUTE, "released:600")
    gone = closed_port()
    dev, _ = device({"c1": gone, "c2": gone, "c3": listening},
                    node("c1", online=False, unclean=True), node("c2", online=False, unclean=True),
                    node("c3"), attrs=attrs)
    dev.set_power("c1", PowerState.OFF)
    assert dev.get_power("c1") is PowerState.OFF
