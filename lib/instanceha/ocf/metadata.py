"""Render an agent's OCF metadata XML from its :class:`AgentSpec`.

The output carries the ``ra-api-1.dtd`` DOCTYPE and stays valid against it
(``ocf-tester`` and ``xmllint --dtdvalid``), against pcs's OCF 1.1 schema and
resource-agents' ``metadata.rng``. Where OCF 1.1 needs more than the DTD
allows (``reloadable`` and the ``reload-agent`` action), the DOCTYPE's internal
subset declares exactly those additions, and only when an agent uses them.
Select parameters are rendered as strings with their choices spelled out in
the long description, since the DTD's ``content`` element must be empty.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from instanceha.ocf.agent import AgentSpec
from instanceha.spec import Param, ParamType

__all__ = ["OCF_VERSION", "render_metadata"]

OCF_VERSION = "1.1"
_DOCTYPE = '<!DOCTYPE resource-agent SYSTEM "ra-api-1.dtd">'
_DOCTYPE_WITH_RELOAD = (
    '<!DOCTYPE resource-agent SYSTEM "ra-api-1.dtd" [\n'
    '<!ATTLIST parameter reloadable (0|1) "0">\n'
    "<!ATTLIST action name CDATA #REQUIRED>\n"
    "]>"
)


def _text(parent: ET.Element, tag: str, text: str) -> None:
    child = ET.SubElement(parent, tag, lang="en")
    child.text = text


def _long_text(param: Param, alias_of: str | None) -> str:
    if alias_of:
        return f"Deprecated alias of '{alias_of}'; use '{alias_of}' instead."
    parts = [param.longdesc or param.shortdesc, param.describe_values()]
    if param.secret:
        parts.append("Secret: masked in logs; prefer a root-only file where one is offered.")
    return " ".join(p for p in parts if p)


def _parameter(params_el: ET.Element, param: Param, name: str, alias_of: str | None) -> None:
    attrs = {"name": name, "required": "1" if param.required and not alias_of else "0",
             "unique": "1" if param.unique else "0"}
    if param.reloadable:
        attrs["reloadable"] = "1"
    el = ET.SubElement(params_el, "parameter", attrs)
    _text(el, "longdesc", _long_text(param, alias_of))
    short = f"Deprecated: use {alias_of}" if alias_of else param.shortdesc
    _text(el, "shortdesc", short)
    kind = "string" if param.type is ParamType.SELECT else param.type.value
    content = {"type": kind}
    default = param.default_text()
    if default is not None and not alias_of:
        content["default"] = default
    ET.SubElement(el, "content", content)


def render_metadata(spec: AgentSpec) -> str:
    """The complete metadata document for ``meta-data``."""
    root = ET.Element("resource-agent", name=spec.name, version=spec.version)
    ET.SubElement(root, "version").text = OCF_VERSION
    _text(root, "longdesc", spec.longdesc)
    _text(root, "shortdesc", spec.shortdesc)
    params_el = ET.SubElement(root, "parameters")
    for param in spec.params:
        _parameter(params_el, param, param.name, None)
    for param in spec.params:
        for alias in param.aliases:
            _parameter(params_el, param, alias, param.name)
    actions_el = ET.SubElement(root, "actions")
    for action in spec.actions:
        attrs = {"name": action.name, "timeout": f"{action.timeout}s"}
        if action.interval is not None:
            attrs["interval"] = f"{action.interval}s"
        if action.depth is not None:
            attrs["depth"] = str(action.depth)
        if action.role:
            attrs["role"] = action.role
        if action.start_delay is not None:
            attrs["start-delay"] = f"{action.start_delay}s"
        ET.SubElement(actions_el, "action", attrs)
    ET.indent(root)
    doctype = _DOCTYPE_WITH_RELOAD if spec.has_reloadable else _DOCTYPE
    body = ET.tostring(root, encoding="unicode")
    return f'<?xml version="1.0"?>\n{doctype}\n{body}\n'
