"""``instanceha cib render`` and ``instanceha cib verify``.

render: inventory → CIB XML (or the equivalent ``pcs -f`` script), checked
against the installed Pacemaker's RNG schema and by ``crm_verify`` on a
brought-up copy before anything is printed. verify: the same checks on a file.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from instanceha.cib.cibquery import CibQueryError, parse_cib
from instanceha.cib.pcs import PcsTranslationError, pcs_script
from instanceha.cib.scheduler import VERIFY_BATCH, Scheduler, SchedulerError
from instanceha.cib.schema import SchemaError, validate
from instanceha.cli.common import CliError, ExitCode, Io, check_output_path, write_output
from instanceha.cli.inputs import (
    add_inventory,
    add_render_options,
    inventory_path,
    load,
    read_text,
    rendered,
    schema_name,
)

__all__ = ["check_cib", "register"]


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``cib render`` and ``cib verify``."""
    cib = commands.add_parser("cib", help="render and verify the instance HA CIB")
    sub = cib.add_subparsers(dest="cib_command", metavar="COMMAND", required=True)

    render = sub.add_parser("render", help="render the CIB (or pcs commands) from the inventory")
    add_inventory(render)
    add_render_options(render)
    render.add_argument("-o", "--output", metavar="FILE",
                        help="write this regular file, replaced atomically (default: stdout)")
    render.add_argument("--pcs", action="store_true",
                        help="print the equivalent 'pcs -f' shell script instead of XML")
    render.add_argument("--include-secrets", action="store_true",
                        help="inline BMC password files as password= (needs -o; file is 0600)")
    render.add_argument("--no-verify", action="store_true",
                        help="skip crm_verify (the schema check still runs)")
    render.set_defaults(func=run_render)

    verify = sub.add_parser("verify", help="check a CIB file: schema and crm_verify")
    verify.add_argument("file", help="CIB XML, e.g. from 'cib render' or 'pcs cluster cib'")
    verify.set_defaults(func=run_verify)


def check_cib(xml_text: str, schema: str, io: Io, *, crm_verify: bool = True) -> bool:
    """Schema and crm_verify checks with one stderr line each; True when both pass."""
    try:
        report = validate(xml_text, schema)
    except SchemaError as err:
        io.note(f"schema check skipped: {err}")
    else:
        if not report.valid:
            for line in report.errors[:20]:
                io.note(f"schema {schema}: {line}")
            return False
        io.note(f"schema {schema}: valid")
    if not crm_verify:
        return True
    with tempfile.TemporaryDirectory(prefix="instanceha-cib-") as tmp:
        scheduler = Scheduler(Path(tmp))
        try:
            verdict = scheduler.verify_configuration(xml_text)
        except SchedulerError as err:
            if err.tool_missing:
                raise CliError(ExitCode.MISSING, f"crm_verify could not run: {err}") from None
            raise CliError(ExitCode.PROBLEM, f"crm_verify could not finish: {err}; "
                                             "--no-verify skips it") from None
    for line in verdict.errors:
        io.note(f"crm_verify error: {line}")
    for line in verdict.warnings:
        io.note(f"crm_verify warning: {line}")
    if verdict.parts > 1:
        io.note(f"crm_verify: {verdict.remote_nodes} computes checked in {verdict.parts} parts "
                f"of at most {VERIFY_BATCH}, each with every shared resource (crm_verify's "
                "time grows with the square of the CIB's size)")
    if verdict.valid:
        io.note("crm_verify: valid (cluster nodes up, quorate)")
    return verdict.valid


def run_render(args: argparse.Namespace, io: Io) -> int:
    """``cib render``."""
    if args.include_secrets and args.output in (None, "-"):
        raise CliError(ExitCode.USAGE, "--include-secrets needs -o FILE (it is written 0600)")
    if args.output not in (None, "-"):
        check_output_path(args.output)
    inventory = load(inventory_path(args, io.env))
    schema, installed = schema_name(args.schema)
    xml_text = rendered(inventory, args, include_secrets=args.include_secrets, schema=schema)
    if installed and not check_cib(xml_text, schema, io, crm_verify=not args.no_verify):
        raise CliError(ExitCode.PROBLEM, "the rendered CIB does not pass the checks above; "
                                         "nothing written")
    if not installed:
        io.note("Pacemaker's schemas are not installed: output not validated")
    text = xml_text
    if args.pcs:
        try:
            text = pcs_script(xml_text, source=inventory.source)
        except PcsTranslationError as err:
            raise CliError(ExitCode.INTERNAL, f"cannot express the CIB with pcs: {err}") from None
    write_output(args.output, text, io, private=args.include_secrets)
    return ExitCode.OK


def run_verify(args: argparse.Namespace, io: Io) -> int:
    """``cib verify FILE``."""
    text = read_text(args.file, "the CIB")
    try:
        schema = parse_cib(text).get("validate-with")
    except CibQueryError as err:
        raise CliError(ExitCode.CONFIG, f"{args.file}: {err}") from None
    name, _ = schema_name(schema)
    return ExitCode.OK if check_cib(text, name, io) else ExitCode.PROBLEM
