"""Validate CIB XML against the RelaxNG schema of the installed Pacemaker (with lxml).

The newest ``pacemaker-X.Y.rng`` in :data:`SCHEMA_DIR` is the schema the
installed Pacemaker validates new CIBs with (``cibadmin --empty`` writes the
same ``validate-with``); ``pacemaker-next.rng`` is experimental and ignored.
lxml is imported only by :func:`validate`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "SCHEMA_DIR",
    "SchemaError",
    "SchemaReport",
    "installed_schemas",
    "newest_schema",
    "validate",
]

#: Where Pacemaker installs its schemas.
SCHEMA_DIR = Path("/usr/share/pacemaker")

_VERSIONED = re.compile(r"^pacemaker-([0-9]+)\.([0-9]+)\.rng$")


class SchemaError(RuntimeError):
    """No usable schema (Pacemaker or lxml missing, unknown schema name)."""


@dataclass(frozen=True)
class SchemaReport:
    """Outcome of one validation: the schema used and the errors (empty when valid)."""

    schema: str
    errors: tuple[str, ...]

    @property
    def valid(self) -> bool:
        """True when the document matched the schema."""
        return not self.errors


def installed_schemas(directory: Path = SCHEMA_DIR) -> list[str]:
    """Names (``pacemaker-3.9``…) of the versioned schemas installed, oldest first."""
    found = []
    for path in directory.glob("pacemaker-*.rng"):
        match = _VERSIONED.match(path.name)
        if match:
            found.append(((int(match.group(1)), int(match.group(2))), path.name[:-4]))
    return [name for _, name in sorted(found)]


def newest_schema(directory: Path = SCHEMA_DIR) -> str:
    """The newest versioned schema name installed.

    :raises SchemaError: when Pacemaker's schemas are not installed.
    """
    names = installed_schemas(directory)
    if not names:
        raise SchemaError(f"no pacemaker-X.Y.rng in {directory} (is pacemaker installed?)")
    return names[-1]


def validate(xml_text: str, schema: str, directory: Path = SCHEMA_DIR) -> SchemaReport:
    """Validate ``xml_text`` against ``<directory>/<schema>.rng``.

    :raises SchemaError: when lxml or the schema file is missing.
    """
    path = directory / f"{schema}.rng"
    if not path.is_file():
        known = ", ".join(installed_schemas(directory)[-3:]) or "none"
        raise SchemaError(f"schema {schema} is not installed in {directory} (newest: {known})")
    try:
        from lxml import etree
    except ImportError:
        raise SchemaError("python3-lxml is needed to validate against the schema") from None
    try:
        relaxng = etree.RelaxNG(etree.parse(str(path)))
        document = etree.fromstring(xml_text.encode("utf-8"))
    except etree.XMLSyntaxError as err:
        return SchemaReport(schema, (f"not well-formed: {err}",))
    except etree.RelaxNGParseError as err:
        raise SchemaError(f"{path}: cannot load the schema: {err}") from None
    if relaxng.validate(document):
        return SchemaReport(schema, ())
    errors = tuple(f"line {e.line}: {e.message}" for e in relaxng.error_log)
    return SchemaReport(schema, errors or ("does not match the schema",))
