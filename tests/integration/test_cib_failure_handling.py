"""Failure handling of the rendered CIB, decided by Pacemaker's own scheduler (crm_simulate).

Issue 10: one failed NovaEvacuate start set its fail-count to INFINITY on the only controller
it could run on (start-failure-is-fatal=true, no failure-timeout) and evacuation stopped
until ``pcs resource cleanup``. Here every start of a resource keeps failing until the
scheduler stops trying; then the cause goes away and time passes. The resource must have
been retried in place, moved where it can, and run again once its failure-timeout is over,
without any cleanup. ``test_without_the_settings_a_failed_start_bans_for_good`` runs the same
outage on the render without its failure handling and shows the old ban for good.

Two things a live cluster does that crm_simulate on a rendered CIB does not, done here by
:class:`Simulation`:

* pacemaker-controld records a failed start as the transition graph's ``failed-start-offset``
  (INFINITY when start failures are fatal); crm_simulate always adds one (``value++``). After
  each simulated failed start the controller's value is written, read from the graph
  crm_simulate saved for that transition.
* The DC stamps the CIB with its ``crm_feature_set``. Without it the scheduler reads fail-counts
  under their pre-3.0.13 names (``fail-count-<rsc>``) and ignores the per-operation ones
  (``fail-count-<rsc>#start_0``) that crm_simulate and the controller write: no failure would
  ever count. The feature set is taken from the installed Pacemaker (``cibadmin --empty``).
"""

from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from instanceha.cib.durations import to_ms
from instanceha.cib.inventory import parse_inventory
from instanceha.cib.render import render_cib
from instanceha.cib.scheduler import Scheduler

pytestmark = pytest.mark.integration

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "cib"
#: More passes than any retry policy of ours needs before the scheduler gives up.
MAX_PASSES = 12
#: "For good": how long the old settings are given to bring a resource back.
A_DAY = timedelta(days=1)
#: What the failure handling adds to a render (removed to rebuild the old behaviour).
FAILURE_SETTINGS = ("start-failure-is-fatal", "migration-threshold", "failure-timeout")


@pytest.fixture(autouse=True)
def _pacemaker() -> None:
    if shutil.which("crm_simulate", path="/usr/sbin:/usr/bin") is None:
        pytest.skip("needs crm_simulate (pacemaker-cli-utils; make test-deps)")


def _inventory(controllers: int) -> dict[str, Any]:
    doc = yaml.safe_load((GOLDEN / "inventory-small.yaml").read_text())
    assert isinstance(doc, dict)
    doc["controllers"] = doc["controllers"][:controllers]
    return doc


_RENDERED: dict[int, str] = {}


def rendered(controllers: int) -> str:
    """inventory-small.yaml's CIB (two controllers), or with its first controller only."""
    if controllers not in _RENDERED:
        _RENDERED[controllers] = render_cib(parse_inventory(_inventory(controllers)))
    return _RENDERED[controllers]


def without_failure_handling(cib_text: str) -> str:
    """The render as it was before issue 10: no failure settings, Pacemaker's defaults."""
    root = ET.fromstring(cib_text)
    for parent in root.iter():
        for nvpair in [p for p in parent.findall("nvpair") if p.get("name") in FAILURE_SETTINGS]:
            parent.remove(nvpair)
    return ET.tostring(root, encoding="unicode")


def _meta(cib: ET.Element, rsc: str) -> dict[str, str]:
    """A primitive's meta attributes, with those it inherits from its clone."""
    meta: dict[str, str] = {}
    for clone in cib.iter("clone"):
        if clone.find(f"primitive[@id='{rsc}']") is not None:
            meta.update((p.get("name", ""), p.get("value", ""))
                        for p in clone.iterfind("meta_attributes/nvpair"))
    for prim in cib.iter("primitive"):
        if prim.get("id") == rsc:
            meta.update((p.get("name", ""), p.get("value", ""))
                        for p in prim.iterfind("meta_attributes/nvpair"))
    return meta


def _property(cib: ET.Element, name: str, default: str) -> str:
    for nvpair in cib.iterfind("configuration/crm_config/cluster_property_set/nvpair"):
        if nvpair.get("name") == name:
            return nvpair.get("value", default)
    return default


def _with_feature_set(cib_text: str) -> str:
    """``cib_text`` stamped with the installed Pacemaker's feature set, as the DC does."""
    root = ET.fromstring(cib_text)
    if root.get("crm_feature_set") is None:
        empty = subprocess.run(["cibadmin", "--empty"], capture_output=True, text=True,
                               timeout=30, check=True)
        root.set("crm_feature_set", ET.fromstring(empty.stdout).get("crm_feature_set", ""))
    return ET.tostring(root, encoding="unicode")


def _healthy(simulate_xml: str, rsc: str) -> tuple[str, ...]:
    """Nodes where ``rsc`` runs without a failure after the simulated transition."""
    revised = ET.fromstring(simulate_xml).find("revised_cluster_status")
    assert revised is not None, "crm_simulate -S printed no revised status"
    return tuple(sorted(
        node.get("name", "") for res in revised.iter("resource")
        if res.get("id") == rsc and res.get("active") == "true" and res.get("failed") == "false"
        for node in res.iterfind("node")))


@dataclass(frozen=True)
class Pass:
    """One simulated transition, as it concerns one resource."""

    starts: tuple[str, ...]  # nodes where the transition started it
    cleared: tuple[str, ...]  # nodes where its fail-count was cleared (expired failures)
    running: tuple[str, ...]  # where it runs afterwards


class Simulation:
    """A CIB file moved forward one crm_simulate transition at a time."""

    def __init__(self, workdir: Path, cib_text: str) -> None:
        self.workdir = workdir / "simulation"
        self.workdir.mkdir()
        self._serial = 0
        self.current = self._file("start")
        self.current.write_text(_with_feature_set(cib_text))

    def _file(self, stem: str) -> Path:
        self._serial += 1
        return self.workdir / f"{self._serial:03d}-{stem}.xml"

    def _simulate(self, *args: str) -> str:
        done = subprocess.run(["crm_simulate", "-x", str(self.current), *args],
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    def inject_failed_start(self, rsc: str, node: str) -> None:
        """The last start of ``rsc`` on ``node`` failed (rc 1), recorded as the cluster would."""
        out = self._file("injected")
        self._simulate("-i", f"{rsc}_start_0@{node}=1", "-O", str(out))
        self.current = out
        graph = self._file("graph")
        self._simulate("-R", "-G", str(graph))
        self._record_like_the_controller(rsc, [node], ET.parse(graph).getroot())

    def run(self, rsc: str, *, failing: Sequence[str] = (), at: datetime | None = None) -> Pass:
        """Simulate the next transition; every start of ``rsc`` on ``failing`` nodes fails.

        ``at``: the scheduler's clock (default: now, when crm_simulate records failures).
        """
        out, graph_file = self._file("pass"), self._file("graph")
        args = ["-S", "--output-as=xml", "-G", str(graph_file), "-O", str(out)]
        args += [arg for node in failing for arg in ("-F", f"{rsc}_start_0@{node}=1")]
        if at is not None:
            args += ["-t", at.strftime("%Y-%m-%d %H:%M:%SZ")]
        stdout = self._simulate(*args)
        graph = ET.parse(graph_file).getroot()
        actions = list(graph.iterfind("synapse/action_set/*"))
        starts = tuple(a.get("on_node", "") for a in actions
                       if a.get("operation_key") == f"{rsc}_start_0")
        cleared = tuple(a.get("on_node", "") for a in actions
                        if a.get("operation_key") == f"{rsc}_clear_failcount_0")
        self.current = out
        self._record_like_the_controller(rsc, [n for n in starts if n in failing], graph)
        return Pass(starts, cleared, _healthy(stdout, rsc))

    def _record_like_the_controller(self, rsc: str, nodes: Sequence[str],
                                    graph: ET.Element) -> None:
        """A failed start's fail-count as pacemaker-controld writes it: the graph's
        failed-start-offset when that is INFINITY (crm_simulate already counted one)."""
        if not nodes or graph.get("failed-start-offset") != "INFINITY":
            return
        tree = ET.parse(self.current)
        name = f"fail-count-{rsc}#start_0"
        for node in nodes:
            found = [p for state in tree.getroot().iterfind("status/node_state")
                     if state.get("uname") == node
                     for p in state.iter("nvpair") if p.get("name") == name]
            assert found, f"crm_simulate recorded no {name} on {node}"
            for nvpair in found:
                nvpair.set("value", "INFINITY")
        tree.write(self.current, encoding="unicode")


@dataclass(frozen=True)
class Outage:
    """What the cluster did while every start of a resource failed, and after.

    Placements count only ``allowed``: the nodes the resource may run on (for a clone, the
    one compute whose instance fails; the others are not part of the outage).
    """

    allowed: frozenset[str]
    first: str  # where it ran when its start first failed
    retries: Counter[str]  # further start attempts per node during the outage
    settled: bool  # the scheduler stopped trying by itself
    at_end: Pass  # the last pass of the outage
    right_after: Pass  # the outage is over, no time has passed
    later: Pass  # after failure-timeout (or a day, without one) plus the recheck interval
    waited: timedelta

    def running(self, step: Pass) -> set[str]:
        """Where ``step`` left the resource running healthy, among the allowed nodes."""
        return set(step.running) & self.allowed


def _allowed(cib_file: Path, rsc: str) -> frozenset[str]:
    """Where ``rsc`` may run: nodes whose allocation score for it is not -INFINITY."""
    done = subprocess.run(["crm_simulate", "-x", str(cib_file), "-s", "-Q"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    allowed = set()
    for line in done.stdout.splitlines():
        # pcmk__primitive_assign: nova-evacuate allocation score on ctl1: 0
        head, _, score = line.rpartition(": ")
        words = head.split()
        if (len(words) == 6 and words[1] == rsc and words[2:5] == ["allocation", "score", "on"]
                and score.strip() != "-INFINITY"):
            allowed.add(words[5])
    assert allowed, f"no allocation scores for {rsc}"
    return frozenset(allowed)


def outage(tmp_path: Path, cib_text: str, rsc: str, instance: str | None = None) -> Outage:
    """Bring the cluster up, fail a start of ``rsc`` where it runs (a clone: its instance on
    ``instance``), keep failing every start of it until the scheduler stops trying, end the
    outage, let time pass."""
    scheduler = Scheduler(tmp_path)
    up_file = tmp_path / "up.xml"
    up_file.write_text(scheduler.bring_up(cib_text).cib_text)
    kinds, running = scheduler.status(["-x", str(up_file)])
    first = instance or running[rsc][0]
    assert first in running[rsc]
    allowed = frozenset({first}) if instance else _allowed(up_file, rsc)
    sim = Simulation(tmp_path, up_file.read_text())
    sim.inject_failed_start(rsc, first)
    retries: Counter[str] = Counter()
    passes = [sim.run(rsc, failing=sorted(kinds))]
    while passes[-1].starts and len(passes) < MAX_PASSES:
        retries.update(passes[-1].starts)
        passes.append(sim.run(rsc, failing=sorted(kinds)))
    retries.update(passes[-1].starts)
    cib = ET.fromstring(cib_text)
    timeout = _meta(cib, rsc).get("failure-timeout")
    waited = (timedelta(milliseconds=to_ms(timeout)) if timeout else A_DAY) + timedelta(
        milliseconds=to_ms(_property(cib, "cluster-recheck-interval", "15min")))
    right_after = sim.run(rsc)
    later = sim.run(rsc, at=datetime.now(UTC) + waited)
    return Outage(allowed, first, retries, not passes[-1].starts, passes[-1], right_after,
                  later, waited)


CASES = [
    # resource, controllers, compute whose instance fails (clones)
    pytest.param("nova-evacuate", 1, None, id="nova-evacuate-one-controller"),
    pytest.param("nova-evacuate", 2, None, id="nova-evacuate-two-controllers"),
    pytest.param("nova-compute", 2, "comp1", id="nova-compute-comp1"),
    pytest.param("nova-compute", 1, "comp3", id="nova-compute-comp3-one-controller"),
    pytest.param("libvirtd", 2, "comp2", id="libvirtd-comp2"),
    pytest.param("fence-ipmi-comp1", 1, None, id="fence-ipmi-one-controller"),
    pytest.param("fence-ipmi-comp3", 2, None, id="fence-ipmi-two-controllers"),
    pytest.param("fence-nova", 2, None, id="fence-nova-two-controllers"),
]


@pytest.mark.parametrize(("rsc", "controllers", "instance"), CASES)
def test_a_failing_start_is_retried_moved_and_forgiven(
    tmp_path: Path, rsc: str, controllers: int, instance: str | None
) -> None:
    seen = outage(tmp_path, rendered(controllers), rsc, instance)
    # Back by itself once the failures expire: no node stays banned, no cleanup needed.
    assert seen.running(seen.later), (
        f"{rsc} still stopped {seen.waited} after its last failure: banned for good "
        f"(start attempts after the first failure: {dict(seen.retries)})")
    assert seen.first in seen.later.cleared  # the scheduler forgot the first node's failures
    # Retried in place before giving up on a node.
    assert seen.retries[seen.first] >= 1, f"{rsc}: not retried on {seen.first}"
    # Tried on every node it may run on before resting (a clone instance has only its own).
    assert set(seen.retries) == seen.allowed
    # Bounded: the scheduler stops trying by itself and rests until the failures expire.
    assert seen.settled and not seen.running(seen.at_end)
    assert not seen.right_after.starts and not seen.running(seen.right_after)


@pytest.mark.parametrize(("rsc", "controllers", "instance"), [
    pytest.param("nova-evacuate", 1, None, id="nova-evacuate-one-controller"),
    pytest.param("nova-compute", 2, "comp1", id="nova-compute-comp1"),
    pytest.param("fence-ipmi-comp3", 2, None, id="fence-ipmi-two-controllers"),
])
def test_without_the_settings_a_failed_start_bans_for_good(
    tmp_path: Path, rsc: str, controllers: int, instance: str | None
) -> None:
    """Issue 10 itself, on the render without its failure handling: the test above catches it."""
    seen = outage(tmp_path, without_failure_handling(rendered(controllers)), rsc, instance)
    assert not seen.retries[seen.first]  # one failed start: INFINITY there at once
    assert not seen.running(seen.later)  # still stopped a day later
    assert not seen.later.cleared


def test_connection_failures_are_forgotten_after_reconnect_interval(tmp_path: Path) -> None:
    """remote.xml.in sets no failure-timeout: Pacemaker uses reconnect_interval as one."""
    cib_text = rendered(1)
    cib = ET.fromstring(cib_text)
    assert "failure-timeout" not in _meta(cib, "comp1")
    params = {p.get("name"): p.get("value", "") for p in cib.iterfind(
        "configuration/resources/primitive[@id='comp1']/instance_attributes/nvpair")}
    interval = timedelta(milliseconds=to_ms(params["reconnect_interval"]))
    scheduler = Scheduler(tmp_path)
    up = scheduler.bring_up(cib_text).cib_text
    sim = Simulation(tmp_path, up)
    sim.inject_failed_start("comp1", "ctl1")
    sim.run("comp1", failing=["ctl1"])
    base = sim.current
    assert not sim.run("comp1").cleared  # not before reconnect_interval
    sim.current = base
    later = sim.run("comp1", at=datetime.now(UTC) + interval + timedelta(seconds=5))
    assert later.cleared == ("ctl1",)
