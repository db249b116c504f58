"""Fence agent metadata XML in the format of ClusterLabs fence-agents.

What Pacemaker (``stonith_admin --metadata``, ``crm_resource --show-metadata``)
and pcs (which validates it against its ``ocf-1.0.rng``) read, valid against
fence-agents' ``metadata.rng`` too:

* ``<resource-agent name=… shortdesc=…>`` with ``<longdesc>`` and ``<vendor-url>``;
* one ``<parameter>`` per name with ``<getopt mixed="-a, --ip=[ip]"/>``,
  ``<content type=… default=…/>`` (durations as ``second``, selects with
  ``<option>`` children, booleans defaulting to ``0``/``1``) and
  ``<shortdesc lang="en">``; a renamed parameter's new name carries
  ``obsoletes="old"`` and the old name follows as a copy with ``deprecated="1"``;
  no ``<longdesc>`` inside a parameter: fence-agents' own schema
  (``/usr/share/cluster/relaxng/metadata.rng``) rejects it, so the long texts,
  allowed values and bounds live in the man page (:mod:`instanceha.manpages.fence`);
* ``<actions>``: ``on`` is ``automatic="1"`` for fabric fencing (Pacemaker
  unfences the host when it rejoins), ``automatic="0"`` otherwise.

Built with ElementTree, so every text and attribute is escaped. :func:`render_usage` is the
``-h``/``--help`` text from the same declaration.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from instanceha.fencing.agent import FenceAgentSpec
from instanceha.spec import Param, ParamType

__all__ = ["getopt_text", "render_metadata", "render_usage"]


def getopt_text(spec: FenceAgentSpec, param: Param) -> str:
    """The ``mixed`` getopt text, for example ``-a, --ip=[ip]`` or ``-v, --verbose``."""
    long = "--" + param.name.replace("_", "-")
    if param.type is not ParamType.BOOLEAN:
        long += "=[seconds]" if spec.is_seconds(param.name) else f"=[{param.name}]"
    return f"-{param.getopt}, {long}" if param.getopt else long


def _content(spec: FenceAgentSpec, parent: ET.Element, param: Param) -> None:
    if param.type is ParamType.SELECT:
        kind = "select"
    elif spec.is_seconds(param.name):
        kind = "second"
    else:
        kind = param.type.value
    attrs = {"type": kind}
    if param.type is ParamType.BOOLEAN and isinstance(param.default, bool):
        attrs["default"] = "1" if param.default else "0"
    else:
        default = param.default_text()
        if default is not None:
            attrs["default"] = default
    content = ET.SubElement(parent, "content", attrs)
    for choice in param.choices:
        ET.SubElement(content, "option", value=choice)


def _parameter(spec: FenceAgentSpec, parent: ET.Element, param: Param, name: str,
               alias_of: str | None) -> None:
    attrs = {"name": name, "unique": "1" if param.unique else "0",
             "required": "1" if param.required and alias_of is None else "0"}
    if alias_of is not None:
        attrs["deprecated"] = "1"
    elif param.aliases:
        attrs["obsoletes"] = param.aliases[0]
    el = ET.SubElement(parent, "parameter", attrs)
    ET.SubElement(el, "getopt", mixed=getopt_text(spec, param))
    _content(spec, el, param)
    ET.SubElement(el, "shortdesc", lang="en").text = param.shortdesc


def render_metadata(spec: FenceAgentSpec) -> str:
    """The complete metadata document printed by ``-o metadata``."""
    root = ET.Element("resource-agent", name=spec.name, shortdesc=spec.shortdesc)
    ET.SubElement(root, "longdesc").text = spec.longdesc
    ET.SubElement(root, "vendor-url").text = spec.vendor_url
    params_el = ET.SubElement(root, "parameters")
    for param in spec.all_params:
        _parameter(spec, params_el, param, param.name, None)
        for alias in param.aliases:
            _parameter(spec, params_el, param, alias, param.name)
    actions_el = ET.SubElement(root, "actions")
    for action in spec.actions:
        attrs = {"name": action}
        if action == "on":
            attrs["automatic"] = "1" if spec.fabric_fencing else "0"
        ET.SubElement(actions_el, "action", attrs)
    ET.indent(root, space="\t")
    return '<?xml version="1.0" ?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def render_usage(spec: FenceAgentSpec) -> str:
    """The ``-h``/``--help`` text."""
    lines = [
        "Usage:",
        f"\t{spec.name} [options]",
        f"\t{spec.name} < options-as-name=value-lines",
        "Options:",
    ]
    for param in spec.all_params:
        lines.append(f"   {getopt_text(spec, param):<40} {param.shortdesc}")
    lines.append("Actions: " + ", ".join(spec.actions))
    return "\n".join(lines) + "\n"
