"""Questions asked of a CIB document (pure XML, no Pacemaker tools).

Which nodes are cluster members, which are Pacemaker Remote connections and
how often their connection is monitored, which nodes the status section shows
online, the fencing level of a node; and :func:`mark_unfenced`, the one change
``crm_simulate`` does not make itself.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from instanceha.cib.durations import DurationError, to_ms
from instanceha.cluster.attribute_names import UNFENCED_ATTRIBUTE

__all__ = [
    "REMOTE_PORT",
    "CibQueryError",
    "RemoteConnection",
    "cluster_node_names",
    "fencing_devices",
    "mark_unfenced",
    "online_node_names",
    "parse_cib",
    "primitive_params",
    "remote_connections",
]

#: pacemaker-remoted's port when the connection resource sets none.
REMOTE_PORT = 3121



class CibQueryError(ValueError):
    """The document is not a CIB, or lacks what was asked for."""


@dataclass(frozen=True)
class RemoteConnection:
    """An ``ocf:pacemaker:remote`` resource: the remote node it connects to, and where.

    ``server`` and ``port`` are the resource's parameters, or Pacemaker's defaults
    (the node name, 3121) when unset.
    """

    node: str
    monitor_interval_ms: int | None  # None when it has no recurring monitor
    server: str = ""
    port: int = REMOTE_PORT


def parse_cib(text: str) -> ET.Element:
    """The ``<cib>`` root of ``text``.

    :raises CibQueryError: when it is not XML or not a CIB.
    """
    try:
        root = ET.fromstring(text)
    except ET.ParseError as err:
        raise CibQueryError(f"not XML: {err}") from None
    if root.tag != "cib" or root.find("configuration") is None:
        raise CibQueryError(f"not a CIB (root element <{root.tag}>)")
    return root


def remote_connections(cib: ET.Element) -> dict[str, RemoteConnection]:
    """Remote connection resources by node name (the resource id is the node name)."""
    found: dict[str, RemoteConnection] = {}
    for prim in cib.iterfind("configuration/resources//primitive"):
        if (prim.get("class"), prim.get("provider"), prim.get("type")) != (
            "ocf", "pacemaker", "remote"
        ):
            continue
        node = prim.get("id", "")
        interval = None
        for op in prim.iterfind("operations/op"):
            if op.get("name") != "monitor":
                continue
            try:
                ms = to_ms(op.get("interval", "0"))
            except DurationError:
                continue
            if ms > 0 and op.get("role") in (None, "Started"):
                interval = ms
                break
        params = _instance_params(prim)
        port = params.get("port", "")
        number = int(port) if port.isdigit() and 0 < int(port) < 65536 else REMOTE_PORT
        found[node] = RemoteConnection(node, interval, server=params.get("server") or node,
                                       port=number)
    return found


def _instance_params(prim: ET.Element) -> dict[str, str]:
    """A primitive's instance attributes from its rule-less sets."""
    params: dict[str, str] = {}
    for nvset in prim.iterfind("instance_attributes"):
        if nvset.find("rule") is None:
            params.update((p.get("name", ""), p.get("value", "")) for p in nvset.iterfind("nvpair"))
    return params


def primitive_params(cib: ET.Element, provider: str, kind: str) -> dict[str, str] | None:
    """Instance attributes (rule-less sets) of the first ``ocf:<provider>:<kind>`` primitive."""
    for prim in cib.iterfind("configuration/resources//primitive"):
        if (prim.get("class"), prim.get("provider"), prim.get("type")) == ("ocf", provider, kind):
            return _instance_params(prim)
    return None


def cluster_node_names(cib: ET.Element) -> list[str]:
    """Names of the cluster members listed in ``<nodes>`` (not remote nodes), in order."""
    return [
        n.get("uname") or n.get("id") or ""
        for n in cib.iterfind("configuration/nodes/node")
        if n.get("type", "member") in ("member", "normal")
    ]


def online_node_names(cib: ET.Element) -> list[str]:
    """Cluster members the status section shows online."""
    return [
        ns.get("uname") or ns.get("id") or ""
        for ns in cib.iterfind("status/node_state")
        if ns.get("crmd") == "online" and ns.get("in_ccm") not in (None, "false")
    ]


def fencing_devices(cib: ET.Element, target: str) -> list[list[str]]:
    """Device lists of the fencing levels naming ``target``, by index (empty: no topology)."""
    levels = []
    for level in cib.iterfind("configuration/fencing-topology/fencing-level"):
        if level.get("target") == target:
            devices = [d for d in level.get("devices", "").split(",") if d]
            levels.append((int(level.get("index", "0")), devices))
    return [devices for _, devices in sorted(levels)]


def mark_unfenced(cib: ET.Element, value: str = "1") -> int:
    """Record in the status section that every known node has been unfenced.

    In a live cluster pacemaker-controld sets the transient attribute
    ``#node-unfenced`` once a node's unfencing succeeds; ``crm_simulate``
    executes the unfencing but never sets it, so without this every later
    pass would unfence again and restart everything "due to required stonith".
    Returns how many node states were changed.
    """
    changed = 0
    for state in cib.iterfind("status/node_state"):
        node_id = state.get("id", "")
        transient = state.find("transient_attributes")
        if transient is None:
            transient = ET.SubElement(state, "transient_attributes", id=node_id)
        attrs = transient.find("instance_attributes")
        if attrs is None:
            attrs = ET.SubElement(transient, "instance_attributes", id=f"status-{node_id}")
        pair = next(
            (p for p in attrs.iterfind("nvpair") if p.get("name") == UNFENCED_ATTRIBUTE), None
        )
        if pair is None:
            ET.SubElement(
                attrs, "nvpair", id=f"status-{node_id}-node-unfenced",
                name=UNFENCED_ATTRIBUTE, value=value,
            )
            changed += 1
        elif pair.get("value") in (None, "", "0"):
            pair.set("value", value)
            changed += 1
    return changed
