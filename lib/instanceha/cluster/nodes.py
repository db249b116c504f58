"""Node names: the local node, every node known to the cluster, remote nodes.

``crm_node -n`` names the node a command runs on. It honours
``OCF_RESKEY_CRM_meta_on_node`` (always set inside an agent) and, on a
Pacemaker Remote node, asks the cluster through pacemaker-remoted, so it is
right even where the host name differs from the node name. Everything else
comes from ``crm_mon --output-as=xml``, which works on cluster and remote nodes
alike (``crm_node -l`` lists cluster members only).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from instanceha.cluster.pcmkxml import run_xml
from instanceha.cluster.runner import (
    DEFAULT_TIMEOUT,
    CommandError,
    OutputError,
    Runner,
    SubprocessRunner,
    UnknownNode,
)

__all__ = ["REMOTE_KINDS", "ClusterNodes", "NodeInfo"]

#: ``crm_mon`` node types that run pacemaker-remoted instead of the full stack.
REMOTE_KINDS = frozenset({"remote", "guest"})

_NODE_NAME = re.compile(r"^[^\s<>&'\"]+$")


def _flag(value: str | None) -> bool:
    return value == "true"


@dataclass(frozen=True)
class NodeInfo:
    """One node as ``crm_mon`` reports it.

    ``kind`` is crm_mon's ``type``: ``member`` (a corosync cluster node),
    ``remote`` (an ``ocf:pacemaker:remote`` connection) or ``guest``.
    """

    name: str
    id: str
    kind: str
    online: bool
    unclean: bool = False
    standby: bool = False
    maintenance: bool = False
    shutdown: bool = False

    @property
    def is_remote(self) -> bool:
        """True for Pacemaker Remote (and guest) nodes."""
        return self.kind in REMOTE_KINDS


class ClusterNodes:
    """Read-only node lookups."""

    def __init__(self, runner: Runner | None = None, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._runner = runner or SubprocessRunner()
        self._timeout = timeout

    def local_name(self) -> str:
        """The name of the node this process runs on (``crm_node -n``)."""
        argv = ["crm_node", "-n"]
        res = self._runner.run(argv, timeout=self._timeout)
        if res.rc != 0:
            raise CommandError(argv, res.rc, res.stderr or res.stdout)
        # crm_node has no --output-as in Pacemaker 2.1; its -n output is just the name.
        lines = [line.strip() for line in res.stdout.splitlines() if line.strip()]
        if len(lines) != 1 or not _NODE_NAME.match(lines[0]):
            raise OutputError(f"crm_node -n: unexpected output {res.stdout[:200]!r}")
        return lines[0]

    def quorate(self) -> bool:
        """Whether the partition this process runs in has quorum (``crm_node --quorum``).

        Only a quorate partition may act for the cluster: an inquorate one fences nothing,
        and its CIB is not the cluster's.
        """
        argv = ["crm_node", "--quorum"]
        res = self._runner.run(argv, timeout=self._timeout)
        # crm_node has no --output-as in Pacemaker 2.1: it prints 1 or 0 (its exit code
        # may tell the same, so the printed answer decides)
        answer = res.stdout.strip()
        if answer not in ("0", "1"):
            raise CommandError(argv, res.rc, res.stderr or res.stdout)
        return answer == "1"

    def nodes(self) -> list[NodeInfo]:
        """Every node the cluster knows, members and remote nodes, online or not."""
        argv = ["crm_mon", "--one-shot", "--output-as=xml", "--include=none", "--include=nodes"]
        _, doc = run_xml(self._runner, argv, timeout=self._timeout)
        nodes = []
        for el in doc.root.iterfind("nodes/node"):
            name = el.get("name")
            if not name:
                raise OutputError("crm_mon: <node> without a name")
            nodes.append(
                NodeInfo(
                    name=name,
                    id=el.get("id", name),
                    kind=el.get("type", "member"),
                    online=_flag(el.get("online")),
                    unclean=_flag(el.get("unclean")),
                    standby=_flag(el.get("standby")),
                    maintenance=_flag(el.get("maintenance")),
                    shutdown=_flag(el.get("shutdown")),
                )
            )
        return nodes

    def get(self, name: str) -> NodeInfo | None:
        """The node called ``name``, or None."""
        return next((n for n in self.nodes() if n.name == name), None)

    def remote_nodes(self) -> list[NodeInfo]:
        """The Pacemaker Remote (and guest) nodes."""
        return [n for n in self.nodes() if n.is_remote]

    def is_remote(self, name: str) -> bool:
        """Whether ``name`` is a remote node; raises :class:`UnknownNode`."""
        node = self.get(name)
        if node is None:
            raise UnknownNode(name)
        return node.is_remote
