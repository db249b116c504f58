"""Node attributes: permanent ones in the CIB, transient ones in pacemaker-attrd.

Permanent attributes (``crm_attribute --lifetime forever``) live in the CIB's
``configuration/nodes`` section: they survive a full cluster restart, show in
``crm_mon -A`` and can be read and written from any node, including from an
agent on a Pacemaker Remote node (pacemaker-remoted proxies the CIB). They are
what the durable evacuation request uses.

Transient attributes (lifetime ``reboot``, ``attrd_updater``) live in
pacemaker-attrd and the CIB ``status`` section and vanish when the node leaves;
they suit progress reports.

Compare-and-set
---------------
Pacemaker has no compare-and-set command, but the CIB manager applies each
request on one copy of the CIB, one request at a time, and ``cibadmin
--modify --xpath X`` fails with "No such device or address" (exit 105) when
``X`` matches nothing. :meth:`NodeAttributes.compare_and_set` therefore puts
the expected value *into the XPath* (``nvpair[@value='old']``, or "the node has
no such nvpair" to create one): the check and the write are one CIB operation,
so of two racing writers exactly one wins. Limits:

* atomic within one CIB, i.e. within one cluster partition; a partitioned
  cluster has one CIB per partition until they merge (quorum and fencing are
  what resolve that);
* deleting is two operations: the value is first swapped for a unique
  tombstone (``instanceha-deleting:<token>``, the atomic step that decides the
  winner), then that tombstone is deleted; a writer that dies in between
  leaves the tombstone, which any later compare-and-set can replace;
* it is not a lease: a holder that dies keeps what it wrote (see
  :mod:`instanceha.cluster.evacuation` for staleness);
* plain :meth:`NodeAttributes.set` / ``crm_attribute`` writers are not
  coordinated with it (last writer wins).

``attrd_updater --query --all`` returns only the local node whenever
``OCF_RESKEY_CRM_meta_on_node`` is set, which is always the case inside an
agent (Pacemaker 2.1.5): :meth:`TransientAttributes.get_all` runs it through
``env -u OCF_RESKEY_CRM_meta_on_node``.
"""

from __future__ import annotations

import re
import uuid
import xml.etree.ElementTree as ET

from instanceha.cluster.nodes import ClusterNodes
from instanceha.cluster.pcmkxml import parse_xml, run_xml, xpath_literal
from instanceha.cluster.runner import (
    DEFAULT_TIMEOUT,
    CommandError,
    Runner,
    SubprocessRunner,
    UnknownNode,
)

__all__ = [
    "TOMBSTONE_PREFIX",
    "NodeAttributes",
    "TransientAttributes",
    "validate_name",
]

#: Value a compare-and-set delete writes before it deletes (see module docstring).
TOMBSTONE_PREFIX = "instanceha-deleting:"

#: Exit code of Pacemaker tools for "no such object" (CRM_EX_NOSUCH, from -ENXIO).
RC_NOSUCH = 105
#: attrd_updater's exit code when the attribute exists nowhere (CRM_EX_CONFIG in 2.1.5).
RC_ATTRD_NO_ATTRIBUTE = 78

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_NODES_XPATH = "/cib/configuration/nodes"


def validate_name(name: str) -> str:
    """Return ``name`` if it is usable as an attribute name (and in an XML id)."""
    if not _NAME.match(name):
        raise ValueError(f"invalid attribute name {name!r}")
    return name


def _validate_node(node: str) -> str:
    if not node or any(c.isspace() for c in node) or node.startswith("-"):
        raise ValueError(f"invalid node name {node!r}")
    return node


def _node_element(nodes: ET.Element, node: str) -> ET.Element | None:
    for el in nodes.iterfind("node"):
        if el.get("uname", el.get("id")) == node:
            return el
    return None


def _nvpair(node_el: ET.Element, name: str) -> ET.Element | None:
    for nv in node_el.iterfind("instance_attributes/nvpair"):
        if nv.get("name") == name:
            return nv
    return None


class NodeAttributes:
    """Permanent (``--lifetime forever``) node attributes."""

    def __init__(self, runner: Runner | None = None, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._runner = runner or SubprocessRunner()
        self._timeout = timeout

    def _crm_attribute(self, node: str, name: str, *args: str) -> list[str]:
        return [
            "crm_attribute",
            f"--node={_validate_node(node)}",
            f"--name={validate_name(name)}",
            "--lifetime=forever",
            *args,
        ]

    def get(self, node: str, name: str) -> str | None:
        """The value, or None when the attribute (or the node) does not exist."""
        argv = self._crm_attribute(node, name, "--query", "--output-as=xml")
        res, doc = run_xml(self._runner, argv, timeout=self._timeout, ok=(0, RC_NOSUCH))
        if res.rc == RC_NOSUCH:
            return None
        attr = doc.root.find("attribute")
        return None if attr is None else attr.get("value")

    def set(self, node: str, name: str, value: str) -> None:
        """Set unconditionally (last writer wins); raises :class:`UnknownNode`."""
        if "\n" in value or "\0" in value:
            raise ValueError("attribute values are single-line")
        argv = self._crm_attribute(node, name, f"--update={value}")
        res = self._runner.run(argv, timeout=self._timeout)
        if res.rc == RC_NOSUCH:
            raise UnknownNode(node)
        if res.rc != 0:
            raise CommandError(argv, res.rc, res.stderr or res.stdout)

    def delete(self, node: str, name: str) -> None:
        """Delete unconditionally; deleting what does not exist is not an error."""
        argv = self._crm_attribute(node, name, "--delete")
        res = self._runner.run(argv, timeout=self._timeout)
        if res.rc not in (0, RC_NOSUCH):
            raise CommandError(argv, res.rc, res.stderr or res.stdout)

    def nodes_section(self) -> ET.Element:
        """The CIB's ``<nodes>`` element (``cibadmin --query --scope nodes``)."""
        argv = ["cibadmin", "--query", "--scope=nodes"]
        res = self._runner.run(argv, timeout=self._timeout)
        if res.rc == RC_NOSUCH:
            return ET.Element("nodes")
        if res.rc != 0:
            raise CommandError(argv, res.rc, res.stderr or res.stdout)
        root = parse_xml(res.stdout, "cibadmin --query --scope=nodes")
        if root.tag != "nodes":
            raise CommandError(argv, res.rc, f"expected <nodes>, got <{root.tag}>")
        return root

    def get_all(self, name: str) -> dict[str, str]:
        """``{node name: value}`` for every node that has the attribute (one CIB query)."""
        validate_name(name)
        found: dict[str, str] = {}
        for el in self.nodes_section().iterfind("node"):
            node = el.get("uname", el.get("id"))
            nv = _nvpair(el, name)
            if node and nv is not None and nv.get("value") is not None:
                found[node] = nv.get("value", "")
        return found

    def compare_and_set(self, node: str, name: str, expected: str | None, new: str | None) -> bool:
        """Atomically replace ``expected`` by ``new``; None means "absent".

        Returns True when this call made the change (or when both are None and
        the attribute is absent), False when the current value is not
        ``expected`` (someone else won). See the module docstring for the limits.
        """
        _validate_node(node)
        validate_name(name)
        if new is not None and ("\n" in new or "\0" in new):
            raise ValueError("attribute values are single-line")
        nodes = self.nodes_section()
        node_el = _node_element(nodes, node)
        nv = _nvpair(node_el, name) if node_el is not None else None
        current = nv.get("value") if nv is not None else None
        if current != expected:
            return False
        if expected is None and new is None:
            return True
        if nv is None:
            assert new is not None
            return self._create(node, name, node_el, new)
        nv_id = nv.get("id", "")
        if new is not None:
            return self._swap(node, name, nv_id, current or "", new)
        tombstone = TOMBSTONE_PREFIX + uuid.uuid4().hex
        if not self._swap(node, name, nv_id, current or "", tombstone):
            return False
        xpath = self._nvpair_xpath(node, name) + f"[@id={xpath_literal(nv_id)}]"
        xpath += f"[@value={xpath_literal(tombstone)}]"
        self._cibadmin(["cibadmin", "--delete", f"--xpath={xpath}"])
        return True

    # -- compare-and-set internals --------------------------------------------

    @staticmethod
    def _nvpair_xpath(node: str, name: str) -> str:
        return (
            f"{_NODES_XPATH}/node[@uname={xpath_literal(node)}]"
            f"/instance_attributes/nvpair[@name={xpath_literal(name)}]"
        )

    def _cibadmin(self, argv: list[str]) -> bool:
        """Run a cibadmin write: True on success, False when its XPath matched nothing."""
        res = self._runner.run(argv, timeout=self._timeout)
        if res.rc == 0:
            return True
        if res.rc == RC_NOSUCH:
            return False
        raise CommandError(argv, res.rc, res.stderr or res.stdout)

    def _swap(self, node: str, name: str, nv_id: str, expected: str, new: str) -> bool:
        xpath = (
            self._nvpair_xpath(node, name)
            + f"[@id={xpath_literal(nv_id)}][@value={xpath_literal(expected)}]"
        )
        update = ET.Element("nvpair", {"id": nv_id, "value": new})
        return self._cibadmin(
            [
                "cibadmin",
                "--modify",
                f"--xpath={xpath}",
                f"--xml-text={ET.tostring(update, encoding='unicode')}",
            ]
        )

    def _create(self, node: str, name: str, node_el: ET.Element | None, value: str) -> bool:
        if node_el is not None:
            node_id = node_el.get("id", node)
            node_type = node_el.get("type")
        else:
            info = ClusterNodes(self._runner, timeout=self._timeout).get(node)
            if info is None:
                raise UnknownNode(node)
            node_id = info.id
            node_type = "remote" if info.is_remote else None
        ia = node_el.find("instance_attributes") if node_el is not None else None
        ia_id = ia.get("id", f"nodes-{node_id}") if ia is not None else f"nodes-{node_id}"
        doc = ET.Element("nodes")
        attrs = {"id": node_id, "uname": node}
        if node_type:
            attrs["type"] = node_type
        node_xml = ET.SubElement(doc, "node", attrs)
        ia_xml = ET.SubElement(node_xml, "instance_attributes", {"id": ia_id})
        nv_id = f"nodes-{node_id}-{name}"
        ET.SubElement(ia_xml, "nvpair", {"id": nv_id, "name": name, "value": value})
        absent = (
            f"{_NODES_XPATH}[not(node[@uname={xpath_literal(node)}]"
            f"/instance_attributes/nvpair[@name={xpath_literal(name)}])]"
        )
        return self._cibadmin(
            [
                "cibadmin",
                "--modify",
                f"--xpath={absent}",
                f"--xml-text={ET.tostring(doc, encoding='unicode')}",
            ]
        )


class TransientAttributes:
    """Reboot-lifetime node attributes through pacemaker-attrd (``attrd_updater``).

    Updates are applied by the attribute manager asynchronously; a read right
    after a write on another node may still see the old value.
    """

    def __init__(self, runner: Runner | None = None, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._runner = runner or SubprocessRunner()
        self._timeout = timeout

    def get(self, node: str, name: str) -> str | None:
        """The value on ``node``; None when unset (attrd reports unset as empty)."""
        argv = [
            "attrd_updater",
            "--query",
            f"--name={validate_name(name)}",
            f"--node={_validate_node(node)}",
            "--output-as=xml",
        ]
        res, doc = run_xml(
            self._runner, argv, timeout=self._timeout, ok=(0, RC_ATTRD_NO_ATTRIBUTE, RC_NOSUCH)
        )
        if res.rc != 0:
            return None
        for attr in doc.root.iterfind("attribute"):
            if attr.get("host") == node:
                return attr.get("value") or None
        return None

    def set(self, node: str, name: str, value: str) -> None:
        """Set ``name`` on ``node``."""
        if "\n" in value or "\0" in value:
            raise ValueError("attribute values are single-line")
        self._write(
            [
                "attrd_updater",
                f"--update={value}",
                f"--name={validate_name(name)}",
                f"--node={_validate_node(node)}",
            ]
        )

    def delete(self, node: str, name: str) -> None:
        """Delete ``name`` on ``node`` (no error when unset)."""
        self._write(
            [
                "attrd_updater",
                "--delete",
                f"--name={validate_name(name)}",
                f"--node={_validate_node(node)}",
            ]
        )

    def _write(self, argv: list[str]) -> None:
        res = self._runner.run(argv, timeout=self._timeout)
        if res.rc != 0:
            raise CommandError(argv, res.rc, res.stderr or res.stdout)

    def get_all(self, name: str) -> dict[str, str]:
        """``{node name: value}`` for every node where ``name`` is set."""
        argv = [
            "env",
            "-u",
            "OCF_RESKEY_CRM_meta_on_node",
            "attrd_updater",
            "--query",
            "--all",
            f"--name={validate_name(name)}",
            "--output-as=xml",
        ]
        res, doc = run_xml(
            self._runner, argv, timeout=self._timeout, ok=(0, RC_ATTRD_NO_ATTRIBUTE, RC_NOSUCH)
        )
        if res.rc != 0:
            return {}
        return {
            host: value
            for attr in doc.root.iterfind("attribute")
            if (host := attr.get("host")) and (value := attr.get("value"))
        }
