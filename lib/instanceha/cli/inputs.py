"""Options and loaders several subcommands share: inventory, templates, schema, CIB source."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path

from instanceha.cib.inventory import DEFAULT_INVENTORY, Inventory, InventoryError, load_inventory
from instanceha.cib.render import DEFAULT_SCHEMA, RenderError, RenderOptions, render_cib
from instanceha.cib.schema import SchemaError, newest_schema
from instanceha.cib.templates import TemplateError, Templates
from instanceha.cli.common import CliError, ExitCode

__all__ = [
    "MAX_INPUT_BYTES",
    "add_inventory",
    "add_render_options",
    "inventory_path",
    "load",
    "read_text",
    "rendered",
    "schema_name",
]


def add_inventory(parser: argparse.ArgumentParser) -> None:
    """``-i/--inventory``; the default honours ``INSTANCEHA_INVENTORY``."""
    parser.add_argument(
        "-i", "--inventory", metavar="FILE",
        help=f"inventory YAML (default: $INSTANCEHA_INVENTORY or {DEFAULT_INVENTORY})",
    )


def add_render_options(parser: argparse.ArgumentParser) -> None:
    """``--templates`` and ``--schema``."""
    parser.add_argument("--templates", metavar="DIR", type=Path,
                        help="template directory (default: the installed cib_templates)")
    parser.add_argument("--schema", metavar="NAME",
                        help="validate-with schema, e.g. pacemaker-3.9 (default: newest installed)")


def inventory_path(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> str:
    """The inventory file to read."""
    return str(args.inventory or (env or {}).get("INSTANCEHA_INVENTORY") or DEFAULT_INVENTORY)


def load(path: str) -> Inventory:
    """The validated inventory, or a one-line CONFIG error naming the field."""
    try:
        return load_inventory(path)
    except InventoryError as err:
        raise CliError(ExitCode.CONFIG, str(err)) from None


def schema_name(requested: str | None) -> tuple[str, bool]:
    """The schema to render for, and whether Pacemaker's schemas are installed."""
    try:
        newest = newest_schema()
    except SchemaError:
        return requested or DEFAULT_SCHEMA, False
    return requested or newest, True


def rendered(inventory: Inventory, args: argparse.Namespace, *, include_secrets: bool = False,
             schema: str = DEFAULT_SCHEMA) -> str:
    """The inventory rendered through the templates."""
    try:
        return render_cib(
            inventory,
            templates=Templates(args.templates) if getattr(args, "templates", None) else None,
            options=RenderOptions(validate_with=schema, include_secrets=include_secrets),
        )
    except (TemplateError, RenderError) as err:
        raise CliError(ExitCode.CONFIG, str(err)) from None


#: Largest input file read (the CIB of 10,000 computes is 23 MB before any status).
MAX_INPUT_BYTES = 256 << 20


def read_text(path: str, what: str) -> str:
    """A file's UTF-8 text (at most :data:`MAX_INPUT_BYTES`) or a CONFIG error."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_INPUT_BYTES + 1)
    except OSError as err:
        raise CliError(ExitCode.CONFIG, f"{path}: cannot read {what} ({err.strerror})") from None
    if len(data) > MAX_INPUT_BYTES:
        raise CliError(ExitCode.CONFIG, f"{path}: larger than {MAX_INPUT_BYTES >> 20} MiB: "
                                        f"not {what}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[:err.start].count(b"\n") + 1
        raise CliError(ExitCode.CONFIG, f"{path}: line {line} is not UTF-8 text: "
                                        f"not {what}") from None
