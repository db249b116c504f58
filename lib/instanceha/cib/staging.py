"""Partial clusters for bringing a large CIB up offline, and merging their status (pure XML).

``crm_simulate`` spends time proportional to the CIB's size on every action it
executes (each is a CIB update with a diff and a digest of the whole
document), so bringing 500 computes up in one pass (~7,000 actions on a CIB
growing to ~5 MB) takes most of an hour. Instead the computes are brought up
in independent partial clusters: :func:`staged_configuration` is the
configuration with only some remote nodes and everything that belongs to them
alone (the connection resource, the ``<nodes>`` entry, stonith devices whose
``pcmk_host_list`` is just that node, its fencing levels, constraints on those
resources). Everything else is unchanged, so each resource's history (and its
parameter digest) is valid in the full configuration, and
:func:`merge_status` unites the parts' status sections.
"""

from __future__ import annotations

import copy
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Collection, Sequence

from instanceha.cib.cibquery import remote_connections

__all__ = ["merge_status", "per_node_resources", "staged_configuration"]

_REFS = ("rsc", "with-rsc", "first", "then")


def per_node_resources(cib: ET.Element, node: str) -> set[str]:
    """Ids of the resources that exist only for remote node ``node``."""
    ids = {node}
    for prim in cib.iterfind("configuration/resources/primitive"):
        if prim.get("class") != "stonith":
            continue
        hosts = {
            p.get("value", "")
            for p in prim.iterfind("instance_attributes/nvpair")
            if p.get("name") == "pcmk_host_list"
        }
        targets = {t for h in hosts for t in re.split(r"[\s,]+", h) if t}
        if targets == {node}:
            ids.add(prim.get("id", ""))
    return ids


def staged_configuration(cib: ET.Element, keep: Collection[str]) -> ET.Element:
    """A copy of ``<configuration>`` with the remote nodes not in ``keep`` left out."""
    config = cib.find("configuration")
    if config is None:
        raise ValueError("not a CIB: no <configuration>")
    out = copy.deepcopy(config)
    dropped_nodes = set(remote_connections(cib)) - set(keep)
    dropped: set[str] = set()
    for node in dropped_nodes:
        dropped |= per_node_resources(cib, node)

    def prune(section: str, doomed: Callable[[ET.Element], bool]) -> None:
        parent = out.find(section)
        if parent is None:
            return
        for child in list(parent):
            if doomed(child):
                parent.remove(child)

    prune("nodes", lambda el: el.get("uname") in dropped_nodes and el.get("type") == "remote")
    prune("resources", lambda el: el.get("id") in dropped)
    prune("fencing-topology", lambda el: el.get("target") in dropped_nodes)
    prune("constraints", lambda el: el.get("node") in dropped_nodes
          or any(el.get(ref) in dropped for ref in _REFS))
    return out


def _merge_attributes(target: ET.Element, source: ET.Element) -> None:
    """Add ``source``'s transient nvpairs that ``target`` lacks (by name)."""
    mine = target.find("transient_attributes/instance_attributes")
    theirs = source.find("transient_attributes/instance_attributes")
    if theirs is None:
        return
    if mine is None:
        transient = target.find("transient_attributes")
        if transient is not None:
            target.remove(transient)
        copied = source.find("transient_attributes")
        if copied is not None:
            target.append(copy.deepcopy(copied))
        return
    names = {p.get("name") for p in mine.iterfind("nvpair")}
    mine.extend(copy.deepcopy(p) for p in theirs.iterfind("nvpair") if p.get("name") not in names)


def merge_status(statuses: Sequence[ET.Element]) -> ET.Element:
    """One ``<status>`` from those of partial clusters sharing the same cluster nodes.

    Node states are matched by id; a cluster node's resource histories are
    united (the first history of a resource wins: shared resources are
    identical in every part), transient attributes likewise.
    """
    merged = ET.Element("status")
    by_id: dict[str, ET.Element] = {}
    for status in statuses:
        for state in status.iterfind("node_state"):
            node_id = state.get("id", "")
            target = by_id.get(node_id)
            if target is None:
                by_id[node_id] = copy.deepcopy(state)
                merged.append(by_id[node_id])
                continue
            resources = target.find("lrm/lrm_resources")
            if resources is None:
                lrm = target.find("lrm") or ET.SubElement(target, "lrm", id=node_id)
                resources = ET.SubElement(lrm, "lrm_resources")
            known = {r.get("id") for r in resources}
            resources.extend(
                copy.deepcopy(r) for r in state.iterfind("lrm/lrm_resources/lrm_resource")
                if r.get("id") not in known
            )
            _merge_attributes(target, state)
    return merged
