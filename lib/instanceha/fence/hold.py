"""fence_hold — holds the power fencing of computes lost all at once (a network failure).

The first device of every compute's fencing level, in the manner of
fence-agents' fence_heuristics_ping: its off succeeds, letting the power
device that follows in the level act, unless the loss looks like the
controllers' network rather than the host. When more computes than
max_unreachable_hosts (or than max_unreachable_percent of all computes; at
least two) cannot be reached from the fencing controller at once, off
fails and the power-off is held: a switch failure would otherwise power off
every healthy compute and every instance on them.

Evidence: a TCP connect, from the controller running the fencing, to every
other compute's pacemaker-remoted (the connection resource's server and port),
all at once within probe_timeout. The target counts as lost; so does every other
compute that does not answer, or that the cluster lost too (a controller that
lost the network to the computes fails every connection it held), except one
the cluster already knows is down (offline and clean: fenced, not back yet),
which is a handled failure, not evidence of a network failure. One compute lost
alone is fenced at once.

A hold is sticky and loud: the node gets the permanent attribute
instanceha-fencing-hold=held:<t> (crm_mon -A, instanceha status), the
hold is logged at the critical level, and every retry Pacemaker makes holds
again, even once fewer computes are lost (links coming back one by one must
not get the last ones powered off). It ends in one of two ways:

* the held compute answers again (proven alive): at its next fencing retry
  this device returns it to the cluster without fencing (its resource history
  is deleted, so Pacemaker probes what runs there instead of fencing it, and
  its connection is cleaned up) and marks it returned:<t>; for two minutes a
  fencing of it while it answers is the cluster catching up with the return
  (a transition computed before it), and returns it again;
* an admin releases it (instanceha evacuate NODE --release, writing
  released:<t>): the power-off goes ahead, and fence_nova's record of the
  fencing ends the hold.

Pacemaker retries a failed fencing at every transition (at least every
cluster-recheck-interval), so a returning compute is returned within that time;
it reconnects once no other fencing is pending. Answering means more than a TCP
connect (a hung host's kernel accepts those): its pacemaker-remoted must answer
the opening of a TLS handshake.
Set both thresholds to 0 to let every fencing through.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NoReturn

from instanceha.cib.cibquery import CibQueryError, RemoteConnection, parse_cib, remote_connections
from instanceha.clock import Clock
from instanceha.cluster import ClusterError, ClusterNodes, NodeAttributes, NodeInfo
from instanceha.cluster.attribute_names import (
    FENCING_HOLD_ATTRIBUTE,
    HELD,
    RELEASED,
    RETURNED,
    hold_stamp,
    hold_value,
)
from instanceha.cluster.reachability import answers, probe
from instanceha.cluster.remote_return import return_to_cluster
from instanceha.cluster.runner import Runner, SubprocessRunner
from instanceha.fencing.agent import FenceAgentSpec, PlugUse
from instanceha.fencing.codes import ExitCode, FenceError
from instanceha.fencing.device import FenceDevice, FenceRequest, PowerState
from instanceha.fencing.run import FenceAgent
from instanceha.fencing.run import main as fence_main
from instanceha.manpages.fence import render_manpage
from instanceha.spec import Param, Params, ParamSet, ParamType

__all__ = [
    "AGENT",
    "AGENT_NAME",
    "RETURN_GRACE",
    "SPEC",
    "Decision",
    "HoldDevice",
    "HoldPolicy",
    "Verdict",
    "decide",
    "main",
    "manpage",
]

AGENT_NAME = "fence_hold"
_LOG = logging.getLogger("instanceha.fencing")

SPEC = FenceAgentSpec(
    name=AGENT_NAME,
    shortdesc="Holds the power fencing of compute hosts lost all at once",
    longdesc=__doc__.split("\n\n", 1)[1].strip() if __doc__ else "",
    params=ParamSet((
        Param("max_unreachable_hosts", "computes that may be unreachable at once",
              "Hold when more computes than this cannot be reached at once (0: no count "
              "threshold).",
              type=ParamType.INTEGER, default=0, minimum=0, maximum=100000),
        Param("max_unreachable_percent", "share of computes that may be unreachable at once",
              "Hold when more than this percentage of all computes cannot be reached at once "
              "(0: no share threshold).",
              type=ParamType.INTEGER, default=50, minimum=0, maximum=100),
        Param("probe_timeout", "seconds for each compute's probe",
              "Deadline of the TCP connect to each compute's pacemaker-remoted; all are probed "
              "at once.",
              type=ParamType.INTEGER, default=1, minimum=1, maximum=10),
    )),
    fabric_fencing=True,
    plug=PlugUse.REQUIRED,
    password=False,
    seconds=frozenset({"probe_timeout"}),
)


@dataclass(frozen=True)
class HoldPolicy:
    """When a number of unreachable computes is a network failure rather than host failures."""

    max_hosts: int = 0
    max_percent: int = 50

    @classmethod
    def from_params(cls, params: Params) -> HoldPolicy:
        return cls(params.integer("max_unreachable_hosts"),
                   params.integer("max_unreachable_percent"))

    def trips(self, unreachable: int, total: int) -> bool:
        """True when ``unreachable`` of ``total`` computes is too many (never for one)."""
        if unreachable < 2:
            return False
        by_count = self.max_hosts > 0 and unreachable > self.max_hosts
        by_share = self.max_percent > 0 and unreachable * 100 > self.max_percent * total
        return by_count or by_share


class Verdict(enum.Enum):
    """What fence_hold does with one fencing of one compute."""

    PASS = "pass"      # power fencing goes ahead
    HOLD = "hold"      # fencing fails; the node is (or stays) held
    RETURN = "return"  # the held node answers again: back to the cluster, no fencing


@dataclass(frozen=True)
class Decision:
    """A verdict, why, and the computes counted as lost."""

    verdict: Verdict
    reason: str
    lost: tuple[str, ...] = ()


def _known_down(info: NodeInfo | None) -> bool:
    return info is not None and not info.online and not info.unclean


#: Seconds after a return during which a fencing of the returned node, still reachable, is
#: the cluster catching up with the return (a transition computed before it), not a new failure.
RETURN_GRACE = 120


def _lost(info: NodeInfo | None) -> bool:
    """The cluster lost it and has not fenced it yet (offline and unclean)."""
    return info is not None and not info.online and info.unclean


def _hold_in_play(target: str, hold: str, *, now: float, alive: bool) -> Decision | None:
    """The verdict when the target is held, released or just returned; None otherwise."""
    if hold.startswith(RELEASED):
        if alive:
            return Decision(Verdict.RETURN, f"{target} was released but answers again: it is "
                            "alive, never powered off by a release")
        return Decision(Verdict.PASS, "released from the fencing hold by an admin")
    returned = hold_stamp(hold, RETURNED)
    if returned is not None and now - returned < RETURN_GRACE and alive:
        return Decision(Verdict.RETURN, f"{target} was returned to the cluster "
                        f"{now - returned:.0f}s ago and answers: the cluster catching up")
    if hold.startswith(HELD):
        if alive:
            return Decision(Verdict.RETURN, f"{target} answers again: it is alive")
        return Decision(Verdict.HOLD, f"{target} is held (since {hold[len(HELD):]}) and still "
                        "unreachable: release it with instanceha evacuate "
                        f"{target} --release if it is dead")
    return None


def decide(target: str, hold: str | None, nodes: Mapping[str, NodeInfo],
           reachable: Mapping[str, bool], policy: HoldPolicy, *, now: float,
           alive: bool = False) -> Decision:
    """The verdict on fencing ``target`` at ``now``.

    ``hold`` is the target's :data:`FENCING_HOLD_ATTRIBUTE`; ``nodes`` the cluster's view of
    the computes; ``reachable`` the probe of every other compute from here; ``alive`` whether
    the target's pacemaker-remoted answers (asked only when a hold is in play).
    Another compute counts as lost when it does not answer from here or when the cluster
    lost it too (a controller that lost the network to the computes fails all the connections
    it held, while the others still reach them), unless the cluster knows it is down.
    """
    in_play = _hold_in_play(target, hold or "", now=now, alive=alive)
    if in_play is not None:
        return in_play
    others = {n for n in reachable if n != target} | {n for n in nodes if n != target}
    up = [n for n in others if not _known_down(nodes.get(n))]
    lost = [target] + sorted(n for n in up if not reachable.get(n, True) or _lost(nodes.get(n)))
    total = len(up) + 1
    if policy.trips(len(lost), total):
        return Decision(Verdict.HOLD, f"{len(lost)} of {total} computes lost at once "
                        f"({', '.join(lost)}): the network, not the hosts; holding the "
                        "power-off", tuple(lost))
    return Decision(Verdict.PASS, f"{len(lost)} of {total} computes lost", tuple(lost))


class HoldDevice(FenceDevice):
    """``off`` decides; ``on`` is a no-op; the state is off once this invocation let it pass."""

    def __init__(self, params: Params, clock: Clock, runner: Runner | None = None,
                 attributes: NodeAttributes | None = None) -> None:
        self.params = params
        self.clock = clock
        self.runner = runner or SubprocessRunner()
        self.attributes = attributes or NodeAttributes(self.runner)
        self._passed: set[str] = set()

    def get_power(self, plug: str) -> PowerState:
        if not plug:  # monitor: the device works when the CIB can be read
            self._connections()
            return PowerState.ON
        return PowerState.OFF if plug in self._passed else PowerState.ON

    def set_power(self, plug: str, state: PowerState) -> None:
        if state is PowerState.ON:
            self._passed.discard(plug)
            return
        try:
            hold = self.attributes.get(plug, FENCING_HOLD_ATTRIBUTE)
            connections = self._connections()
            nodes = {n.name: n for n in ClusterNodes(self.runner).remote_nodes()}
        except (ClusterError, ValueError) as error:
            raise FenceError(ExitCode.GENERIC_ERROR,
                             f"cannot read the cluster state: {error}") from None
        timeout = float(self.params.integer("probe_timeout"))
        # the target itself is not probed (it is lost: fencing was asked for), unless a hold is
        # in play: then whether it answers decides a return
        others = {n: c for n, c in connections.items() if n != plug}
        target = connections.get(plug)
        alive = (target is not None and (hold or "").startswith((HELD, RETURNED, RELEASED))
                 and answers(target.server, target.port, timeout))
        decision = decide(plug, hold, nodes, probe(others, timeout),
                          HoldPolicy.from_params(self.params), now=self.clock.time(), alive=alive)
        if decision.verdict is Verdict.PASS:
            _LOG.info("fencing of %s goes ahead: %s", plug, decision.reason)
            self._passed.add(plug)
            return
        if decision.verdict is Verdict.RETURN:
            self._return(plug, decision.reason)
        self._hold(plug, hold, decision.reason)

    def _connections(self) -> dict[str, RemoteConnection]:
        try:
            done = self.runner.run(["cibadmin", "--query", "--local"], timeout=10)
            if done.rc != 0:
                raise FenceError(ExitCode.GENERIC_ERROR,
                                 f"cibadmin --query failed: {done.stderr.strip()}")
            return remote_connections(parse_cib(done.stdout))
        except (ClusterError, CibQueryError) as error:
            raise FenceError(ExitCode.GENERIC_ERROR, f"cannot read the CIB: {error}") from None

    def _hold(self, plug: str, hold: str | None, reason: str) -> NoReturn:
        if not (hold or "").startswith(HELD):
            try:
                self.attributes.set(plug, FENCING_HOLD_ATTRIBUTE,
                                    hold_value(HELD, self.clock.time()))
            except ClusterError as error:
                _LOG.error("cannot mark %s held: %s", plug, error)
            _LOG.critical("FENCING OF %s HELD: %s", plug, reason)
        raise FenceError(ExitCode.GENERIC_ERROR, f"fencing of {plug} held: {reason}",
                         transient=False)

    def _return(self, plug: str, reason: str) -> NoReturn:
        try:
            return_to_cluster(plug, self.runner)
            self.attributes.set(plug, FENCING_HOLD_ATTRIBUTE,
                                hold_value(RETURNED, self.clock.time()))
        except (ClusterError, ValueError) as error:
            raise FenceError(ExitCode.GENERIC_ERROR,
                             f"{reason}, but returning it failed: {error}") from None
        _LOG.warning("%s: returned to the cluster without fencing", reason)
        raise FenceError(ExitCode.GENERIC_ERROR,
                         f"{reason}: returned to the cluster without fencing", transient=False)


def connect(request: FenceRequest) -> HoldDevice:
    """The device for one invocation (nothing is contacted yet)."""
    return HoldDevice(request.params, request.clock)


AGENT = FenceAgent(SPEC, connect)


def manpage() -> str:
    """The roff source of fence_hold(8)."""
    return render_manpage(SPEC)


def main() -> NoReturn:
    """Entry point of the fence/fence_hold shim."""
    fence_main(AGENT)
