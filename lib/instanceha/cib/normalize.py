"""A CIB's configuration as plain comparable data, ignoring ids and ordering noise.

Two CIBs that configure the same resources, constraints, fencing topology,
alerts, node attributes and cluster properties normalize to equal values
however they were built (templates, ``pcs``, hand edits): element order,
generated ids of nvsets, operations and fencing levels, and textual
differences such as ``10s`` versus ``10000ms`` do not count. Constraint ids
do count: they are how an admin names a constraint.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from instanceha.cib.durations import DurationError, to_ms

__all__ = ["normalize_cib", "normalized_diff"]

_DURATION_ATTRS = frozenset({"interval", "timeout", "start-delay"})


def _nv(el: ET.Element | None) -> dict[str, str]:
    if el is None:
        return {}
    return {p.get("name", ""): p.get("value", "") for p in el.iterfind("nvpair")}


def _sets(parent: ET.Element, tag: str) -> dict[str, str]:
    merged: dict[str, str] = {}
    for nvset in parent.iterfind(tag):
        merged.update(_nv(nvset))
    return merged


def _duration(value: str) -> str:
    try:
        return f"{to_ms(value)}ms"
    except DurationError:
        return value


def _op(op: ET.Element) -> tuple[Any, ...]:
    attrs = {
        k: (_duration(v) if k in _DURATION_ATTRS else v)
        for k, v in op.attrib.items()
        if k != "id"
    }
    attrs.setdefault("interval", "0ms")
    return (tuple(sorted(attrs.items())), tuple(sorted(_sets(op, "instance_attributes").items())))


def _primitive(prim: ET.Element, parent: str | None, parent_meta: dict[str, str]) -> Any:
    return {
        "agent": (prim.get("class"), prim.get("provider"), prim.get("type")),
        "params": _sets(prim, "instance_attributes"),
        "meta": _sets(prim, "meta_attributes"),
        "ops": sorted(_op(op) for op in prim.iterfind("operations/op")),
        "parent": parent,
        "parent_meta": parent_meta,
    }


def _resources(config: ET.Element) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for el in config.iterfind("resources/*"):
        if el.tag == "primitive":
            found[el.get("id", "")] = _primitive(el, None, {})
        elif el.tag in ("clone", "group", "bundle"):
            meta = _sets(el, "meta_attributes")
            for prim in el.iter("primitive"):
                found[prim.get("id", "")] = _primitive(prim, f"{el.tag}:{el.get('id')}", meta)
    return found


def _expression(expr: ET.Element) -> tuple[Any, ...]:
    return tuple(sorted((k, v) for k, v in expr.attrib.items() if k != "id"))


def _constraint(el: ET.Element) -> tuple[Any, ...]:
    attrs = tuple(sorted((k, v) for k, v in el.attrib.items()))
    rules = tuple(
        (
            tuple(sorted((k, v) for k, v in rule.attrib.items() if k != "id")),
            tuple(sorted(_expression(e) for e in rule.iterfind("expression"))),
        )
        for rule in el.iterfind("rule")
    )
    return (el.tag, attrs, rules)


def normalize_cib(text: str) -> dict[str, Any]:
    """The comparable content of a CIB's ``<configuration>``.

    :raises ValueError: when ``text`` is not a CIB.
    """
    root = ET.fromstring(text)
    config = root.find("configuration")
    if config is None:
        raise ValueError("not a CIB: no <configuration>")
    props: dict[str, str] = {}
    for ps in config.iterfind("crm_config/cluster_property_set"):
        props.update(_nv(ps))
    nodes = {
        (n.get("uname") or n.get("id") or ""): {
            "type": n.get("type", "member"),
            "attributes": _sets(n, "instance_attributes"),
        }
        for n in config.iterfind("nodes/node")
    }
    topology = sorted(
        (lvl.get("target", ""), lvl.get("index", ""), lvl.get("devices", ""))
        for lvl in config.iterfind("fencing-topology/fencing-level")
    )
    alerts = {
        a.get("id", ""): {
            "path": a.get("path"),
            "select": sorted(s.tag for s in a.iterfind("select/*")),
            "options": _sets(a, "instance_attributes"),
            "meta": _sets(a, "meta_attributes"),
            "recipients": sorted(
                (r.get("value", ""), tuple(sorted(_sets(r, "meta_attributes").items())))
                for r in a.iterfind("recipient")
            ),
        }
        for a in config.iterfind("alerts/alert")
    }
    defaults: dict[str, str] = {}
    for ms in config.iterfind("rsc_defaults/meta_attributes"):
        defaults.update(_nv(ms))
    return {
        "properties": props,
        "rsc_defaults": defaults,
        "nodes": nodes,
        "resources": _resources(config),
        "constraints": sorted(_constraint(c) for c in config.iterfind("constraints/*")),
        "topology": topology,
        "alerts": alerts,
    }


def normalized_diff(left: str, right: str) -> list[str]:
    """Human-readable differences between two CIBs' normalized configurations."""
    a, b = normalize_cib(left), normalize_cib(right)
    diffs = []
    for section in a:
        x, y = a[section], b[section]
        if x == y:
            continue
        if isinstance(x, dict) and isinstance(y, dict):
            for key in sorted(set(x) | set(y)):
                if x.get(key) != y.get(key):
                    diffs.append(f"{section}.{key}: {x.get(key)!r} != {y.get(key)!r}")
        else:
            only_a = [i for i in x if i not in y]
            only_b = [i for i in y if i not in x]
            diffs.append(f"{section}: only left {only_a!r}; only right {only_b!r}")
    return diffs
