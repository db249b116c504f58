"""Translate a rendered CIB into the equivalent ``pcs -f`` shell script.

The script is derived from the XML the templates produced, so the two can
never drift apart: every element is either translated or refused with
:class:`PcsTranslationError`. The comments that justify each object in the
templates become shell comments. Where pcs 0.11 has no command (an alert's
``select`` section), the script uses ``cibadmin`` on the same file.

Usage of the script: ``pcs cluster cib > cib.xml; sh script cib.xml;
pcs cluster cib-push cib.xml --config``.
"""

from __future__ import annotations

import shlex
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence

__all__ = ["PcsTranslationError", "pcs_script"]

_PCS = 'pcs -f "$CIB"'
_INFINITY = {"INFINITY", "+INFINITY"}


class PcsTranslationError(ValueError):
    """The CIB holds something this translator cannot express with pcs."""


def _q(text: str) -> str:
    return shlex.quote(text)


def _kv(name: str, value: str) -> str:
    return _q(f"{name}={value}")


def _pairs(el: ET.Element | None) -> list[tuple[str, str]]:
    if el is None:
        return []
    if el.find("rule") is not None:
        raise PcsTranslationError(f"<{el.tag} id={el.get('id')}> with a rule")
    return [(p.get("name", ""), p.get("value", "")) for p in el.iterfind("nvpair")]


def _one(parent: ET.Element, tag: str) -> ET.Element | None:
    found = parent.findall(tag)
    if len(found) > 1:
        raise PcsTranslationError(f"<{parent.tag} id={parent.get('id')}> has several <{tag}>")
    return found[0] if found else None


def _is_comment(el: ET.Element) -> bool:
    return not isinstance(el.tag, str)


def _with_comments(parent: ET.Element) -> Iterator[tuple[list[str], ET.Element]]:
    """Child elements of ``parent``, each with the XML comments right before it."""
    pending: list[str] = []
    for child in parent:
        if _is_comment(child):
            pending.append(" ".join((child.text or "").split()))
            continue
        yield pending, child
        pending = []


def _inner_comments(el: ET.Element) -> list[str]:
    """The XML comments inside ``el`` (e.g. justifying a meta attribute), in document order."""
    return [" ".join((c.text or "").split()) for c in el.iter() if _is_comment(c)]


def _comment_lines(comments: Sequence[str]) -> list[str]:
    lines = []
    for text in comments:
        words, line = text.split(), "#"
        for word in words:
            if len(line) + 1 + len(word) > 96:
                lines.append(line)
                line = "#"
            line += " " + word
        lines.append(line)
    return lines


def _ops(prim: ET.Element) -> list[str]:
    words: list[str] = []
    ops = _one(prim, "operations")
    if ops is None:
        return words
    for op in ops.iterfind("op"):
        words += ["op", _q(op.get("name", ""))]
        for key, value in op.attrib.items():
            if key not in ("id", "name"):
                words.append(_kv(key, value))
        for child in op:
            if child.tag != "instance_attributes":
                raise PcsTranslationError(f"op {op.get('id')}: <{child.tag}>")
            words += [_kv(k, v) for k, v in _pairs(child)]
    return words


def _agent(prim: ET.Element) -> str:
    cls, provider, kind = prim.get("class"), prim.get("provider"), prim.get("type", "")
    if cls == "stonith":
        return kind
    return ":".join(p for p in (cls, provider, kind) if p)


def _primitive(prim: ET.Element, clone: ET.Element | None) -> str:
    for child in prim:
        if _is_comment(child):
            continue
        if child.tag not in ("instance_attributes", "meta_attributes", "operations"):
            raise PcsTranslationError(f"primitive {prim.get('id')}: <{child.tag}>")
    params = [_kv(k, v) for k, v in _pairs(_one(prim, "instance_attributes"))]
    meta = [_kv(k, v) for k, v in _pairs(_one(prim, "meta_attributes"))]
    rid = prim.get("id", "")
    if prim.get("class") == "stonith":
        if clone is not None:
            raise PcsTranslationError(f"cloned stonith resource {rid}")
        words = [_PCS, "stonith", "create", _q(rid), _q(_agent(prim)), *params, *_ops(prim)]
        if meta:
            words += ["meta", *meta]
        return " ".join(words)
    words = [_PCS, "resource", "create", _q(rid), _q(_agent(prim)), *params, *_ops(prim)]
    if meta:
        words += ["meta", *meta]
    if clone is not None:
        for child in clone:
            if _is_comment(child):
                continue
            if child.tag not in ("primitive", "meta_attributes"):
                raise PcsTranslationError(f"clone {clone.get('id')}: <{child.tag}>")
        clone_meta = [_kv(k, v) for k, v in _pairs(_one(clone, "meta_attributes"))]
        words += ["clone", _q(clone.get("id", "")), *clone_meta]
    words.append("--no-default-ops")
    if _agent(prim) == "ocf:pacemaker:remote":
        # pcs wants 'cluster node add-remote' (which needs pcsd); --force accepts the resource.
        words.append("--force")
    return " ".join(words)


def _resources(section: ET.Element) -> list[str]:
    lines: list[str] = []
    for comments, el in _with_comments(section):
        lines += _comment_lines([*comments, *_inner_comments(el)])
        if el.tag == "primitive":
            lines.append(_primitive(el, None))
        elif el.tag == "clone":
            prims = el.findall("primitive")
            if len(prims) != 1:
                raise PcsTranslationError(f"clone {el.get('id')} without exactly one primitive")
            lines.append(_primitive(prims[0], el))
        else:
            raise PcsTranslationError(f"resource <{el.tag} id={el.get('id')}>")
    return lines


def _expression(expr: ET.Element) -> list[str]:
    attribute, operation = expr.get("attribute", ""), expr.get("operation", "")
    if operation in ("defined", "not_defined"):
        return [operation, _q(attribute)]
    words = [_q(attribute), operation]
    if expr.get("type"):
        words.append(expr.get("type", ""))
    return [*words, _q(expr.get("value", ""))]


def _location(el: ET.Element) -> str:
    rsc, cid = el.get("rsc", ""), el.get("id", "")
    rules = el.findall("rule")
    if not rules:
        node, score = el.get("node", ""), el.get("score", "")
        discovery = el.get("resource-discovery")
        if score == "-INFINITY" and not discovery:
            return f"{_PCS} constraint location {_q(rsc)} avoids {_q(node)}"
        if score in _INFINITY and not discovery:
            return f"{_PCS} constraint location {_q(rsc)} prefers {_q(node)}"
        words = [_PCS, "constraint", "location", "add", _q(cid), _q(rsc), _q(node), "--", score]
        if discovery:
            words.append(_kv("resource-discovery", discovery))
        return " ".join(words)
    if len(rules) != 1:
        raise PcsTranslationError(f"location {cid} with several rules")
    rule = rules[0]
    words = [_PCS, "constraint", "location", _q(rsc), "rule", _kv("id", rule.get("id", ""))]
    if el.get("resource-discovery"):
        words.append(_kv("resource-discovery", el.get("resource-discovery", "")))
    words += [_kv("constraint-id", cid), _kv("score", rule.get("score", "0"))]
    joiner = rule.get("boolean-op", "and")
    exprs = rule.findall("expression")
    if not exprs or len(exprs) != len(rule):
        raise PcsTranslationError(f"location {cid}: rule {rule.get('id')} is not expressions only")
    for i, expr in enumerate(exprs):
        if i:
            words.append(joiner)
        words += _expression(expr)
    return " ".join(words)


def _constraints(section: ET.Element) -> list[str]:
    lines: list[str] = []
    for comments, el in _with_comments(section):
        lines += _comment_lines(comments)
        cid = el.get("id", "")
        if el.tag == "rsc_location":
            lines.append(_location(el))
        elif el.tag == "rsc_order":
            words = [
                _PCS, "constraint", "order",
                el.get("first-action", "start"), _q(el.get("first", "")),
                "then", el.get("then-action", "start"), _q(el.get("then", "")),
            ]
            words += [_kv(k, el.get(k, "")) for k in ("kind", "symmetrical") if el.get(k)]
            lines.append(" ".join([*words, _kv("id", cid)]))
        elif el.tag == "rsc_colocation":
            score = el.get("score", "INFINITY")
            lines.append(
                f"{_PCS} constraint colocation add {_q(el.get('rsc', ''))} with "
                f"{_q(el.get('with-rsc', ''))} -- {score} {_kv('id', cid)}"
            )
        else:
            raise PcsTranslationError(f"constraint <{el.tag} id={cid}>")
    return lines


def _topology(section: ET.Element) -> list[str]:
    lines: list[str] = []
    for comments, el in _with_comments(section):
        lines += _comment_lines(comments)
        if el.tag != "fencing-level" or not el.get("target"):
            raise PcsTranslationError(f"fencing level {el.get('id')} without a plain target")
        devices = [_q(d) for d in el.get("devices", "").split(",") if d]
        lines.append(
            f"{_PCS} stonith level add {el.get('index', '1')} {_q(el.get('target', ''))} "
            + " ".join(devices)
        )
    return lines


def _compact(el: ET.Element) -> ET.Element:
    """A copy of ``el`` without comments or whitespace, for a one-line cibadmin fragment."""
    copy = ET.Element(str(el.tag), dict(el.attrib))
    copy.extend(_compact(child) for child in el if not _is_comment(child))
    return copy


def _alerts(section: ET.Element) -> list[str]:
    lines: list[str] = []
    for comments, alert in _with_comments(section):
        lines += _comment_lines(comments)
        aid = alert.get("id", "")
        words = [_PCS, "alert", "create", _kv("path", alert.get("path", "")), _kv("id", aid)]
        if alert.get("description"):
            words.append(_kv("description", alert.get("description", "")))
        options = _pairs(_one(alert, "instance_attributes"))
        if options:
            words += ["options", *(_kv(k, v) for k, v in options)]
        meta = _pairs(_one(alert, "meta_attributes"))
        if meta:
            words += ["meta", *(_kv(k, v) for k, v in meta)]
        lines.append(" ".join(words))
        for rcpt in alert.iterfind("recipient"):
            if len(rcpt):
                raise PcsTranslationError(f"recipient {rcpt.get('id')} with attributes")
            lines.append(
                f"{_PCS} alert recipient add {_q(aid)} {_kv('value', rcpt.get('value', ''))} "
                f"{_kv('id', rcpt.get('id', ''))}"
            )
        select = alert.find("select")
        if select is not None:
            fragment = ET.Element("alert", id=aid)
            fragment.append(_compact(select))
            lines.append("# pcs 0.11 cannot set what an alert selects: cibadmin on the same file")
            lines.append(
                'CIB_file="$CIB" cibadmin --modify --xml-text '
                + _q(ET.tostring(fragment, encoding="unicode"))
            )
        for child in alert:
            if child.tag not in ("select", "instance_attributes", "meta_attributes", "recipient"):
                raise PcsTranslationError(f"alert {aid}: <{child.tag}>")
    return lines


def _rsc_defaults(section: ET.Element) -> list[str]:
    lines: list[str] = []
    for comments, el in _with_comments(section):
        lines += _comment_lines(comments)
        if el.tag != "meta_attributes":
            raise PcsTranslationError(f"rsc_defaults <{el.tag}>")
        for comments_inner, _ in _with_comments(el):
            lines += _comment_lines(comments_inner)
        pairs = _pairs(el)
        if pairs:
            lines.append(f"{_PCS} resource defaults update "
                         + " ".join(_kv(k, v) for k, v in pairs))
    return lines


def _nodes(section: ET.Element) -> list[str]:
    lines: list[str] = []
    for comments, node in _with_comments(section):
        lines += _comment_lines(comments)
        for child in node:
            if child.tag != "instance_attributes":
                raise PcsTranslationError(f"node {node.get('uname')}: <{child.tag}>")
        pairs = _pairs(_one(node, "instance_attributes"))
        if pairs:
            name = node.get("uname") or node.get("id") or ""
            attrs = " ".join(_kv(k, v) for k, v in pairs)
            lines.append(f"{_PCS} node attribute {_q(name)} {attrs}")
    return lines


def pcs_script(cib_text: str, *, source: str = "the inventory") -> str:
    """The shell script that builds ``cib_text``'s configuration with ``pcs -f``.

    :raises PcsTranslationError: for anything pcs cannot express.
    """
    parser = ET.XMLParser(target=ET.TreeBuilder(insert_comments=True))
    try:
        root = ET.fromstring(cib_text, parser=parser)
    except ET.ParseError as err:
        raise PcsTranslationError(f"not XML: {err}") from None
    config = root.find("configuration")
    if config is None:
        raise PcsTranslationError("no <configuration>")
    out = [
        "#!/bin/sh",
        f"# instance HA configuration, generated by 'instanceha cib render --pcs' from {source}.",
        "#   pcs cluster cib > cib.xml && sh THIS_SCRIPT cib.xml && "
        "pcs cluster cib-push cib.xml --config",
        "# Offline only (pcs -f): nothing reaches the cluster before cib-push. The controllers",
        "# must already be cluster nodes (pcs node attribute refuses unknown nodes).",
        "set -eu",
        'CIB="${1:?usage: $0 CIB_FILE}"',
        "",
    ]
    crm = [
        (k, v)
        for ps in config.iterfind("crm_config/cluster_property_set")
        for k, v in _pairs(ps)
    ]
    for props in config.iterfind("crm_config/cluster_property_set"):
        for comments, _ in _with_comments(props):
            out += _comment_lines(comments)
    if crm:
        out.append(f"{_PCS} property set " + " ".join(_kv(k, v) for k, v in crm))
    sections = (
        ("rsc_defaults", _rsc_defaults),
        ("resources", _resources),
        ("nodes", _nodes),
        ("constraints", _constraints),
        ("fencing-topology", _topology),
        ("alerts", _alerts),
    )
    for tag, translate in sections:
        section = config.find(tag)
        if section is not None:
            out += ["", f"# --- {tag}", *translate(section)]
    known = {"crm_config", *(tag for tag, _ in sections)}
    for child in config:
        if not _is_comment(child) and child.tag not in known:
            raise PcsTranslationError(f"configuration section <{child.tag}>")
    return "\n".join(out) + "\n"
