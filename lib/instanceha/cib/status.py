"""Per-compute state for ``instanceha status``: Pacemaker, fencing, evacuation, Nova.

:func:`gather_cluster` reads the cluster through Pacemaker's CLIs (one
``crm_mon``, one ``cibadmin --query``, one ``stonith_admin --history``, via
:mod:`instanceha.cluster`). Node attributes come from the CIB: the permanent
ones from ``configuration/nodes``, the transient ones, such as the
evacuation's progress, from ``status/node_state/transient_attributes``. While
a compute's evacuation runs and the CIB has no progress for it, its progress is
asked of pacemaker-attrd (``attrd_updater --query``): attrd keeps a transient
attribute of a Pacemaker Remote node that is down without writing it to the
CIB, which is where a failed host is for most of its evacuation.
:func:`compute_rows` turns that, plus Nova's services when available, into one
:class:`ComputeRow` per compute node (pure),
with every server the last evacuation run left on the node and why (the
worker's ``instanceha-not-evacuated``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from instanceha.cib.cibquery import parse_cib, primitive_params
from instanceha.cib.transition import NodeState
from instanceha.cluster import (
    EvacuationRequest,
    EvacuationState,
    FenceEvent,
    FenceHistory,
    FenceState,
    InvalidRequestValue,
    Runner,
    TransientAttributes,
)
from instanceha.cluster.attribute_names import (
    EVACUATE_ATTRIBUTE,
    FENCING_HOLD_ATTRIBUTE,
    HELD,
    HOLD_ATTRIBUTE,
    NOT_EVACUATED_ATTRIBUTE,
    NOVA_HOST_ATTRIBUTE,
    PROGRESS_ATTRIBUTE,
    RELEASED,
    RESULT_ATTRIBUTE,
    RETURNED,
    hold_stamp,
)
from instanceha.cluster.pcmkxml import run_xml
from instanceha.cluster.runner import ClusterError, CommandError, SubprocessRunner
from instanceha.evacuation.outcome import NotEvacuated, decode_not_evacuated
from instanceha.nova.hostmap import HostMap, HostMapError
from instanceha.nova.model import ComputeService

__all__ = ["ClusterView", "ComputeRow", "compute_rows", "gather_cluster", "nova_host_map"]

_SERVICES = {"ocf:instanceha:libvirtd": "libvirtd", "ocf:instanceha:NovaCompute": "nova-compute"}


@dataclass(frozen=True)
class ClusterView:
    """What the cluster says, read once."""

    nodes: tuple[NodeState, ...]
    running: Mapping[str, tuple[str, ...]]  # service label -> nodes running it
    attributes: Mapping[str, Mapping[str, str]]  # node -> permanent attributes
    fencing: tuple[FenceEvent, ...]
    evacuate_params: Mapping[str, str]  # NovaEvacuate's instance attributes
    transient: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # node -> transient


@dataclass(frozen=True)
class ComputeRow:
    """One compute node's state, each field a short phrase."""

    node: str
    nova_host: str
    pacemaker: str
    services: str
    last_fencing: str
    evacuation: str
    nova: str
    not_evacuated: tuple[NotEvacuated, ...] = ()  # what the last run left here, and why
    not_evacuated_more: int = 0  # left out of the bounded attribute (named in the log)


def _when(epoch: float | None) -> str:
    if epoch is None:
        return "?"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def gather_cluster(runner: Runner | None = None, *, timeout: float = 60.0) -> ClusterView:
    """Read nodes, running services, node attributes, fencing history and NovaEvacuate's params.

    :raises instanceha.cluster.ClusterError: when a tool fails or is missing.
    """
    runner = runner or SubprocessRunner()
    _, mon = run_xml(runner, ["crm_mon", "--one-shot", "--output-as=xml", "--include=none",
                              "--include=nodes", "--include=resources"], timeout=timeout)
    nodes = tuple(
        NodeState(n.get("name", ""), n.get("type", "member"), n.get("online") == "true",
                  n.get("unclean") == "true")
        for n in mon.root.iterfind("nodes/node")
    )
    running: dict[str, set[str]] = {}
    for res in mon.root.iter("resource"):
        label = _SERVICES.get(res.get("resource_agent", ""))
        if label and res.get("active") == "true" and res.get("failed") != "true":
            running.setdefault(label, set()).update(n.get("name", "") for n in res.iter("node"))
    argv = ["cibadmin", "--query"]
    query = runner.run(argv, timeout=timeout)
    if query.rc != 0:
        raise CommandError(argv, query.rc, query.stderr or query.stdout)
    cib = parse_cib(query.stdout)
    attributes = {
        (n.get("uname") or n.get("id") or ""): {
            p.get("name", ""): p.get("value", "")
            for p in n.iterfind("instance_attributes/nvpair")
        }
        for n in cib.iterfind("configuration/nodes/node")
    }
    transient = {
        (n.get("uname") or n.get("id") or ""): {
            p.get("name", ""): p.get("value", "")
            for p in n.iterfind("transient_attributes/instance_attributes/nvpair")
        }
        for n in cib.iterfind("status/node_state")
    }
    unseen = [node for node, attrs in attributes.items()
              if _evacuating(attrs) and not transient.get(node, {}).get(PROGRESS_ATTRIBUTE)]
    if unseen:
        held = _attrd_values(runner, PROGRESS_ATTRIBUTE, timeout)
        for node in unseen:
            if held.get(node):
                transient.setdefault(node, {})[PROGRESS_ATTRIBUTE] = held[node]
    return ClusterView(
        nodes=nodes,
        running={k: tuple(sorted(v)) for k, v in running.items()},
        attributes=attributes,
        fencing=tuple(FenceHistory(runner, timeout=timeout).events()),
        evacuate_params=primitive_params(cib, "instanceha", "NovaEvacuate") or {},
        transient=transient,
    )


def _attrd_values(runner: Runner, name: str, timeout: float) -> dict[str, str]:
    """``name`` on every node as pacemaker-attrd holds it; empty when attrd cannot say."""
    try:
        return TransientAttributes(runner, timeout=timeout).get_all(name)
    except ClusterError:
        return {}


def nova_host_map(view: ClusterView) -> HostMap:
    """The node → Nova host rules NovaEvacuate uses, with NovaCompute's published names.

    :raises HostMapError: when NovaEvacuate's host_map or domain is malformed (its agents
        fail the same way; a status built on other rules would show the wrong hosts).
    """
    params = view.evacuate_params
    published = {n: a[NOVA_HOST_ATTRIBUTE] for n, a in view.attributes.items()
                 if a.get(NOVA_HOST_ATTRIBUTE)}
    try:
        return HostMap.from_params(params.get("host_map", ""), params.get("domain", ""),
                                   published)
    except HostMapError as err:
        raise HostMapError(f"NovaEvacuate's host mapping: {err}") from None


def _pacemaker(node: NodeState | None) -> str:
    if node is None:
        return "not in cluster"
    return node.state


def _fencing(events: Iterable[FenceEvent], node: str) -> str:
    mine = [e for e in events if e.target == node]
    if not mine:
        return "never"
    pending = [e for e in mine if e.state is FenceState.PENDING]
    if pending:
        return f"{pending[0].action} pending"
    last = max(mine, key=lambda e: e.completed_at or 0.0)
    verdict = "ok" if last.succeeded else "FAILED"
    by = f" by {last.delegate}" if last.delegate else ""
    return f"{last.action} {verdict} {_when(last.completed_at)}{by}"


#: How ``status`` says each state of fence_hold's attribute.
_FENCING_HOLD_TEXTS = (
    (HELD, "FENCING HELD since {when} (many computes unreachable at once; back without fencing "
           "when it answers; dead: instanceha evacuate --release)"),
    (RELEASED, "fencing hold released at {when} (fenced at Pacemaker's next retry unless it "
               "answers)"),
    (RETURNED, "returned to the cluster without fencing at {when}"),
)


def _evacuation(attrs: Mapping[str, str], transient: Mapping[str, str]) -> str:
    """The request, a hold, the progress (transient; permanent from an older version) and
    the last result."""
    raw = attrs.get(EVACUATE_ATTRIBUTE)
    parts = []
    if raw:
        try:
            req = EvacuationRequest.decode(raw)
        except InvalidRequestValue:
            parts.append(f"unreadable request {raw!r}")
        else:
            owner = f" by {req.owner}" if req.owner else ""
            parts.append(f"{req.state.value}{owner} since {_when(req.since)}")
    fencing_hold = attrs.get(FENCING_HOLD_ATTRIBUTE, "")
    for prefix, text in _FENCING_HOLD_TEXTS:
        if fencing_hold.startswith(prefix):
            parts.append(text.format(when=_when(hold_stamp(fencing_hold, prefix))))
    hold = attrs.get(HOLD_ATTRIBUTE, "")
    if hold.startswith(HELD):
        parts.append("HELD (mass failure; instanceha evacuate --release)")
    progress = transient.get(PROGRESS_ATTRIBUTE) or attrs.get(PROGRESS_ATTRIBUTE)
    for value in (progress, attrs.get(RESULT_ATTRIBUTE)):
        if value:
            parts.append(value)
    return "; ".join(parts) or "none"


def _evacuating(attrs: Mapping[str, str]) -> bool:
    """What the gate rule holds nova-compute back for: a request set and not done."""
    raw = attrs.get(EVACUATE_ATTRIBUTE)
    try:
        return raw is not None and EvacuationRequest.decode(raw).state is not EvacuationState.DONE
    except InvalidRequestValue:
        return True


def _nova(service: ComputeService | None, available: bool) -> str:
    if not available:
        return "?"
    if service is None:
        return "no nova-compute service"
    words = [service.state, service.status]
    if service.forced_down:
        words.append("forced down")
    if service.disabled_reason:
        words.append(f"({service.disabled_reason})")
    return " ".join(words)


def compute_rows(
    view: ClusterView,
    computes: Sequence[str],
    nova_services: Mapping[str, ComputeService] | None,
) -> list[ComputeRow]:
    """One row per compute node (``computes``: inventory names, else the remote nodes)."""
    by_name = {n.name: n for n in view.nodes}
    names = list(computes) or sorted(n.name for n in view.nodes if n.kind == "remote")
    hosts = nova_host_map(view)
    rows = []
    for name in names:
        try:
            nova_host = hosts.nova_host(name)
        except HostMapError:
            nova_host = name
        services = [s for s in ("libvirtd", "nova-compute") if name in view.running.get(s, ())]
        if "nova-compute" not in services and _evacuating(view.attributes.get(name, {})):
            services.append("(nova-compute held back until the evacuation is done)")
        left, more = decode_not_evacuated(
            view.attributes.get(name, {}).get(NOT_EVACUATED_ATTRIBUTE, ""))
        rows.append(ComputeRow(
            node=name,
            nova_host=nova_host,
            pacemaker=_pacemaker(by_name.get(name)),
            services=" ".join(services) or "none",
            last_fencing=_fencing(view.fencing, name),
            evacuation=_evacuation(view.attributes.get(name, {}), view.transient.get(name, {})),
            nova=_nova((nova_services or {}).get(nova_host), nova_services is not None),
            not_evacuated=tuple(left),
            not_evacuated_more=more,
        ))
    return rows
