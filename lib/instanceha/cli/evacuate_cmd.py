"""``instanceha evacuate HOST``: ask the evacuator to evacuate a host that is really down.

It only records the durable evacuation request NovaEvacuate acts on (the
same one fence_nova and the post-fence alert write), and refuses unless the
host is known to be down: the cluster fenced it (a successful reboot/off in
the fencing history and the node not online since), or Nova has its
nova-compute forced down and the node is not online in the cluster. Evacuating
a host that still runs its instances would start them twice, so a node online
in the cluster is refused even when an admin forced it down in Nova, unless
``--force`` says the admin knows it runs nothing (with a warning).

``--release`` lifts the hold on a node: fence_hold's fencing hold (many
computes unreachable at once; the node is then fenced and evacuated) or the
mass-failure hold NovaEvacuate put on its evacuation, for the failure it was
held for; a node that is not held is refused (a release is never given in
advance).
"""

from __future__ import annotations

import argparse

from instanceha.cib.status import ClusterView, nova_host_map
from instanceha.cli.common import CliError, ExitCode, Io
from instanceha.cli.status_cmd import cluster_nova_services, read_cluster
from instanceha.clock import Clock, SystemClock
from instanceha.cluster import (
    ClusterError,
    EvacuationRequest,
    EvacuationRequests,
    EvacuationState,
    InvalidRequestValue,
    NodeAttributes,
    latest_success,
)
from instanceha.cluster.attribute_names import (
    EVACUATE_ATTRIBUTE,
    FENCING_HOLD_ATTRIBUTE,
    HELD,
    HOLD_ATTRIBUTE,
    RELEASED,
    hold_value,
)
from instanceha.nova.hostmap import HostMapError

__all__ = ["register", "why_down"]


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``evacuate``."""
    evac = commands.add_parser("evacuate", help="request the evacuation of a fenced host")
    evac.add_argument("host", help="compute node name")
    evac.add_argument("--release", action="store_true",
                      help="release the node from a hold instead: fence_hold's fencing hold "
                           "(it is then fenced and evacuated) or the evacuation guard's")
    evac.add_argument("--force", action="store_true",
                      help="accept a node online in the cluster when Nova has it forced down "
                           "(only if you know it runs no instance: they would run twice)")
    evac.add_argument("--cloud", help="clouds.yaml cloud to check forced_down (default: "
                                      "NovaEvacuate's)")
    evac.set_defaults(func=run_evacuate)


def _online(view: ClusterView, node: str) -> bool:
    return any(n.name == node and n.online for n in view.nodes)


def why_down(view: ClusterView, node: str, forced_down: bool | None, *,
             force: bool = False) -> str | None:
    """Why ``node`` may be evacuated (fenced, or forced down in Nova), or None.

    A node online in the cluster is never down, even forced down in Nova,
    unless ``force``. A fencing counts only while the node is not online and
    when it happened after the node's last completed evacuation (an older one
    was handled).
    """
    if _online(view, node):
        return "forced down in Nova (online: --force)" if forced_down and force else None
    if forced_down:
        return "forced down in Nova"
    fenced = latest_success(view.fencing, node)
    if fenced is None or fenced.completed_at is None:
        return None
    raw = view.attributes.get(node, {}).get(EVACUATE_ATTRIBUTE)
    try:
        previous = EvacuationRequest.decode(raw) if raw else None
    except InvalidRequestValue:
        previous = None
    if (previous is not None and previous.state is EvacuationState.DONE
            and previous.since >= fenced.completed_at):
        return None
    return f"fenced ({fenced.action} succeeded)"


#: What holds a node, by attribute: fence_hold's fencing hold first (the node is not fenced
#: yet), then the evacuation guard's.
_HOLDS = ((FENCING_HOLD_ATTRIBUTE, "fencing hold (many computes unreachable at once)"),
          (HOLD_ATTRIBUTE, "mass-failure hold"))


def _release(node: str, attributes: NodeAttributes, now: float, io: Io) -> int:
    """Release ``node`` from the hold that holds it; refused when none does."""
    values = {name: attributes.get(node, name) for name, _ in _HOLDS}
    for name, what in _HOLDS:
        if (values[name] or "").startswith(HELD):
            attributes.set(node, name, hold_value(RELEASED, now))
            io.note(f"{node} released from the {what}")
            return ExitCode.OK
    shown = ", ".join(f"{name}: {value or 'none'}" for name, value in values.items())
    raise CliError(ExitCode.REFUSED, f"{node} is not held ({shown}); nothing to release")


def run_evacuate(args: argparse.Namespace, io: Io, clock: Clock | None = None) -> int:
    """``evacuate`` (``clock`` stamps a release; the system's by default)."""
    view = read_cluster()
    node = args.host
    if node not in {n.name for n in view.nodes}:
        known = " ".join(sorted(n.name for n in view.nodes if n.kind == "remote"))
        raise CliError(ExitCode.CONFIG, f"{node} is not a node of this cluster "
                       f"(compute nodes: {known or 'none'})")
    try:
        if args.release:
            return _release(node, NodeAttributes(), (clock or SystemClock()).time(), io)
        forced = None
        try:
            services = cluster_nova_services(view, args.cloud, io.env)
            svc = services.get(nova_host_map(view).nova_host(node))
            forced = bool(svc and svc.forced_down)
        except (CliError, HostMapError) as err:
            message = err.message if isinstance(err, CliError) else str(err)
            io.note(f"cannot check Nova ({message}); relying on the fencing history")
        reason = why_down(view, node, forced, force=args.force)
        if reason is None and _online(view, node) and forced:
            raise CliError(ExitCode.REFUSED, f"{node} is online in the cluster although Nova has "
                           "it forced down: its instances may still run there and would run "
                           f"twice; fence it (pcs stonith fence {node}), or pass --force if "
                           "you know it runs none")
        if reason is None:
            raise CliError(ExitCode.REFUSED, f"{node} is neither fenced nor forced down in Nova: "
                           f"fence it first (pcs stonith fence {node})")
        if args.force and _online(view, node):
            io.note(f"WARNING: {node} is online in the cluster; evacuating it on --force: "
                    "any instance still running there will run twice")
        if EvacuationRequests().request(node):
            io.note(f"evacuation of {node} requested ({reason}); follow it with "
                    "'instanceha status'")
        else:
            io.note(f"an evacuation of {node} is already pending")
    except ClusterError as err:
        raise CliError(ExitCode.UNAVAILABLE, f"cannot write to the CIB: {err}") from None
    return ExitCode.OK
