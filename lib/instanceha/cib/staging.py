"""Partial configurations for bringing a large CIB up in stages (pure XML).

``crm_simulate`` executes a transition in time that grows much faster than
linearly with its number of actions, so bringing 500 computes up in one pass
takes most of an hour. Adding the computes a batch at a time keeps every
pass small: :func:`staged_configuration` is the configuration with only some
remote nodes and everything that belongs to them alone (the connection
resource, the ``<nodes>`` entry, stonith devices whose ``pcmk_host_list`` is
just that node, its fencing levels, constraints on those resources). The
objects that stay are unchanged, so their resource history stays valid, and
the last stage is the original configuration itself.
"""

from __future__ import annotations

import copy
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Collection

from instanceha.cib.cibquery import remote_connections

__all__ = ["per_node_resources", "staged_configuration"]

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
