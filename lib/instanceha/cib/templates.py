"""The ``cib_templates/*.xml.in`` files and how placeholders are filled.

Placeholders use :class:`string.Template` syntax. A placeholder alone on its
line (``  ${instance_attributes}``) takes a block of XML, indented like the
placeholder, or nothing; any other placeholder takes one attribute value,
which the caller passes already escaped (:func:`attr`). Substitution is a
single pass, so a ``$`` inside a value is never expanded again.

The templates of our OCF resources (``libvirtd``, ``nova-compute``,
``nova-evacuate``) type no operation timeout or interval: ``${start_timeout}``,
``${monitor_interval}``, ``${monitor_depth10_timeout}`` and so on are the
agent's own action declarations
(:func:`instanceha.cib.render.action_values`), in their comments too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from string import Template

__all__ = [
    "INSTALLED_TEMPLATE_DIR",
    "TemplateError",
    "Templates",
    "attr",
    "default_template_dir",
    "fill",
    "nvset",
    "once",
]

#: Where ``make install`` is expected to put the templates.
INSTALLED_TEMPLATE_DIR = Path("/usr/share/instanceha/cib_templates")

_BLOCK = re.compile(r"^(\s*)\$\{([A-Za-z_][A-Za-z0-9_]*)\}\s*$")
_LEADING_COMMENT = re.compile(r"^\s*<!--.*?-->\s*\n", re.S)


class TemplateError(ValueError):
    """A template is missing or names a placeholder nobody filled."""


_ESCAPES = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&quot;"), ("\n", "&#10;"),
            ("\r", "&#13;"), ("\t", "&#9;"))


def attr(value: str) -> str:
    """``value`` escaped for a double-quoted XML attribute (xml.sax would import urllib)."""
    for char, entity in _ESCAPES:
        value = value.replace(char, entity)
    return value


def nvset(tag: str, set_id: str, pairs: Sequence[tuple[str, str]]) -> str:
    """An ``instance_attributes``/``meta_attributes`` block with pcs-style ids, or ""."""
    if not pairs:
        return ""
    lines = [f'<{tag} id="{attr(set_id)}">']
    lines += [
        f'  <nvpair id="{attr(f"{set_id}-{name}")}" name="{attr(name)}" value="{attr(value)}"/>'
        for name, value in pairs
    ]
    lines.append(f"</{tag}>")
    return "\n".join(lines)


def fill(template: str, values: Mapping[str, str], name: str = "template") -> str:
    """Fill ``template``; block placeholders are indented, empty blocks vanish.

    :raises TemplateError: naming the template and the missing placeholder.
    """
    out: list[str] = []
    try:
        for line in template.splitlines():
            block = _BLOCK.match(line)
            if block:
                indent, key = block.groups()
                out.extend(indent + row if row else row for row in values[key].splitlines())
            else:
                out.append(Template(line).substitute(values))
    except KeyError as missing:
        raise TemplateError(f"{name}: placeholder {missing.args[0]} has no value") from None
    except ValueError as bad:
        raise TemplateError(f"{name}: {bad}") from None
    return "\n".join(out)


def once(blocks: Sequence[str]) -> list[str]:
    """Blocks filled from one template: its leading comment kept on the first only."""
    return [b if i == 0 else _LEADING_COMMENT.sub("", b, count=1) for i, b in enumerate(blocks)]


def default_template_dir() -> Path:
    """``cib_templates/`` of the source tree when run from it, else the installed copy."""
    source_tree = Path(__file__).resolve().parents[3] / "cib_templates"
    if source_tree.is_dir():
        return source_tree
    return INSTALLED_TEMPLATE_DIR


class Templates:
    """Reads ``<name>.xml.in`` from one directory (cached) and fills it."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or default_template_dir()
        self._cache: dict[str, str] = {}

    def text(self, name: str) -> str:
        """The raw template ``name`` (without ``.xml.in``)."""
        if name not in self._cache:
            path = self.directory / f"{name}.xml.in"
            try:
                self._cache[name] = path.read_text(encoding="utf-8")
            except OSError as err:
                raise TemplateError(
                    f"{path}: cannot read template ({err.strerror}); pass --templates DIR"
                ) from None
        return self._cache[name]

    def fill(self, template: str, /, **values: str) -> str:
        """Template ``template`` filled with ``values`` (see :func:`fill`)."""
        return fill(self.text(template), values, f"{template}.xml.in")
