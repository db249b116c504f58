"""What ``crm_simulate --output-as=xml`` says the cluster will do (pure parsing).

The ``<actions>`` element is the transition summary (fencing and resource
changes with reasons); ``<cluster_status>`` and ``<revised_cluster_status>``
are the node and resource states before and after the simulated transition.
:func:`summary_lines` gives the stable one-line-per-action text the golden
files pin.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

__all__ = [
    "FenceAction",
    "NodeState",
    "ResourceAction",
    "Transition",
    "TransitionError",
    "parse_cluster_status",
    "parse_transition",
    "placements",
    "summary_lines",
]

_FENCE_TASK = re.compile(r"^Fence \((\w+)\)$")


class TransitionError(ValueError):
    """The output is not a ``crm_simulate`` XML result."""


@dataclass(frozen=True)
class NodeState:
    """A node as crm_simulate shows it; ``kind`` is ``member`` or ``remote``.

    ``fenced`` marks a node this transition powers off (see :func:`parse_transition`).
    """

    name: str
    kind: str
    online: bool
    unclean: bool = False
    fenced: bool = False

    @property
    def state(self) -> str:
        """One word: fenced, unclean, online or offline."""
        if self.fenced:
            return "fenced"
        if self.unclean:
            return "unclean"
        return "online" if self.online else "offline"


@dataclass(frozen=True)
class FenceAction:
    """The cluster fences ``target`` (``reboot``, ``off`` or ``on`` for unfencing)."""

    target: str
    action: str
    reason: str = ""


@dataclass(frozen=True)
class ResourceAction:
    """A resource change of the summary: start, stop, move, recover, restart, …"""

    action: str
    resource: str
    node: str | None = None
    source: str | None = None
    dest: str | None = None
    reason: str = ""

    @property
    def where(self) -> str:
        """``node``, or ``source -> dest`` for a move."""
        if self.source or self.dest:
            return f"{self.source or '?'} -> {self.dest or '?'}"
        return self.node or ""


@dataclass(frozen=True)
class Transition:
    """One simulated transition: what is fenced, what changes, and the states around it."""

    fencing: tuple[FenceAction, ...]
    actions: tuple[ResourceAction, ...]
    before: tuple[NodeState, ...] = ()
    after: tuple[NodeState, ...] = ()
    running_after: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        """True when the cluster has nothing to do."""
        return not self.fencing and not self.actions


def _root(xml_text: str) -> ET.Element:
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError as err:
        raise TransitionError(f"crm_simulate output is not XML: {err}") from None
    if root.tag != "pacemaker-result":
        raise TransitionError(f"crm_simulate output has root <{root.tag}>")
    return root


def _nodes(status: ET.Element | None) -> tuple[NodeState, ...]:
    if status is None:
        return ()
    return tuple(
        NodeState(
            name=n.get("name", ""),
            kind=n.get("type", "member"),
            online=n.get("online") == "true",
            unclean=n.get("unclean") == "true",
        )
        for n in status.iterfind("nodes/node")
    )


def placements(status: ET.Element | None) -> dict[str, tuple[str, ...]]:
    """Where each primitive (clone instances merged by id) is active, sorted by node."""
    found: dict[str, set[str]] = {}
    if status is None:
        return {}
    for res in status.iter("resource"):
        rid = res.get("id", "")
        if res.get("active") == "false" and res.get("role") == "Stopped":
            found.setdefault(rid, set())
            continue
        nodes = found.setdefault(rid, set())
        nodes.update(n.get("name", "") for n in res.iterfind("node"))
    return {rid: tuple(sorted(nodes)) for rid, nodes in sorted(found.items())}


def parse_cluster_status(xml_text: str) -> tuple[tuple[NodeState, ...], dict[str, tuple[str, ...]]]:
    """Nodes and resource placements of a ``crm_simulate --output-as=xml`` status dump."""
    status = _root(xml_text).find("cluster_status")
    return _nodes(status), placements(status)


def parse_transition(xml_text: str) -> Transition:
    """Parse ``crm_simulate -S --output-as=xml``.

    :raises TransitionError: when the output is not crm_simulate's XML, or
        reports a non-zero status.
    """
    root = _root(xml_text)
    status = root.find("status")
    if status is not None and status.get("code", "0") != "0":
        errors = "; ".join((e.text or "").strip() for e in status.iterfind("errors/error"))
        raise TransitionError(
            f"crm_simulate failed ({status.get('message', '')}): {errors or 'no detail'}"
        )
    fencing, actions = [], []
    for el in root.iterfind("actions/*"):
        if el.tag == "node_action":
            task = el.get("task", "")
            match = _FENCE_TASK.match(task)
            if match:
                fencing.append(
                    FenceAction(el.get("node", ""), match.group(1), el.get("reason", ""))
                )
            else:  # e.g. "Shutdown": not fencing, keep it visible
                actions.append(
                    ResourceAction(task.lower(), "", node=el.get("node"),
                                   reason=el.get("reason", ""))
                )
        elif el.tag == "rsc_action":
            actions.append(
                ResourceAction(
                    action=el.get("action", ""),
                    resource=el.get("resource", ""),
                    node=el.get("node"),
                    source=el.get("source"),
                    dest=el.get("dest"),
                    reason=el.get("reason", ""),
                )
            )
    before = _nodes(root.find("cluster_status"))
    killed = {f.target for f in fencing if f.action in ("reboot", "off")}
    revised = root.find("revised_cluster_status")
    # Without --simulate (crm_simulate -R) there is no revised status: the nodes
    # afterwards are the nodes before, minus those fenced. Fenced nodes are marked
    # either way (crm_simulate leaves a fenced remote node with reconnect_interval
    # "unclean" forever, an artefact of the simulation).
    after = _nodes(revised) if revised is not None else before
    return Transition(
        fencing=tuple(fencing),
        actions=tuple(actions),
        before=before,
        after=tuple(replace(n, online=False, unclean=False, fenced=True) if n.name in killed
                    else n for n in after),
        running_after=placements(revised),
    )


def summary_lines(transition: Transition) -> list[str]:
    """One stable line per fencing and resource action, in crm_simulate's order."""
    lines = [
        f"fence {f.action} {f.target}" + (f": {f.reason}" if f.reason else "")
        for f in transition.fencing
    ]
    for a in transition.actions:
        where = a.where
        line = f"{a.action} {a.resource}".rstrip()
        if where:
            line += f" {'on ' if a.node and not (a.source or a.dest) else ''}{where}"
        if a.reason:
            line += f": {a.reason}"
        lines.append(line)
    return lines
