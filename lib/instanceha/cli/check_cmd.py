"""``instanceha check``: preflight before (and after) applying the CIB.

Runs every check of :mod:`instanceha.cib.preflight` that applies here and prints
one line each; exit 1 when any check fails, 0 otherwise (warnings included).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path

from instanceha.cib.inventory import Inventory
from instanceha.cib.preflight import (
    Check,
    Status,
    check_agents,
    check_bmc_secrets,
    check_cib_secrets,
    check_cloud_secrets,
    check_controllers_fencing,
    check_credentials,
    check_drift,
    check_stonith_enabled,
    check_tools,
)
from instanceha.cib.scheduler import Scheduler, SchedulerError
from instanceha.cib.schema import SchemaError, validate
from instanceha.cli.common import CliError, ExitCode, Io, agents_env
from instanceha.cli.inputs import add_inventory, inventory_path, load, rendered, schema_name
from instanceha.cli.table import table
from instanceha.cluster.runner import ClusterError, SubprocessRunner

__all__ = ["register"]


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``check``."""
    check = commands.add_parser("check", help="preflight checks (inventory, agents, secrets, "
                                              "CIB, live cluster)")
    add_inventory(check)
    check.add_argument("--offline", action="store_true", help="skip the live cluster checks")
    check.add_argument("--json", action="store_true", help="machine-readable output")
    check.set_defaults(func=run_check)


def _cib_check(inventory: Inventory, args: argparse.Namespace) -> tuple[Check, str | None]:
    schema, installed = schema_name(None)
    try:
        xml = rendered(inventory, args, schema=schema)
    except CliError as err:
        return Check("rendered CIB", Status.FAIL, err.message), None
    if not installed or shutil.which("crm_verify", path="/usr/sbin:/usr/bin") is None:
        return Check("rendered CIB", Status.SKIP, "Pacemaker not installed here"), xml
    try:
        report = validate(xml, schema)
        if not report.valid:
            return Check("rendered CIB", Status.FAIL, f"{schema}: {report.errors[0]}"), xml
        with tempfile.TemporaryDirectory(prefix="instanceha-check-") as tmp:
            verdict = Scheduler(Path(tmp)).verify_configuration(xml)
    except (SchemaError, SchedulerError) as err:
        return Check("rendered CIB", Status.SKIP, str(err)), xml
    if not verdict.valid:
        first = verdict.errors[0] if verdict.errors else f"crm_verify exited {verdict.rc}"
        return Check("rendered CIB", Status.FAIL, first), xml
    parts = f" ({verdict.parts} parts)" if verdict.parts > 1 else ""
    return Check("rendered CIB", Status.PASS, f"{schema} and crm_verify{parts}"), xml


def _live_checks(inventory: Inventory | None, xml: str | None) -> list[Check]:
    try:
        res = SubprocessRunner().run(["cibadmin", "--query"], timeout=60)
    except ClusterError as err:
        return [Check("live cluster", Status.SKIP, str(err))]
    if res.rc != 0:
        return [Check("live cluster", Status.SKIP, "no running cluster here "
                      f"(cibadmin exited {res.rc}); use --offline on other machines")]
    checks = [check_stonith_enabled(res.stdout), check_cib_secrets(res.stdout)]
    if xml is not None:
        checks.append(check_drift(xml, res.stdout))
    if inventory is not None:
        from instanceha.cib.status import gather_cluster

        try:
            nodes = {n.name: n for n in gather_cluster().nodes}
        except ClusterError as err:
            return [*checks, Check("computes online", Status.SKIP, str(err))]
        down = [c.name for c in inventory.computes
                if not (nodes.get(c.name) and nodes[c.name].online)]
        checks.append(Check("computes online", Status.WARN if down else Status.PASS,
                            f"not online: {' '.join(down)}" if down
                            else f"{len(inventory.computes)} online"))
    return checks


def run_check(args: argparse.Namespace, io: Io) -> int:
    """``check``."""
    checks = [check_tools()]
    path = inventory_path(args, io.env)
    inventory: Inventory | None = None
    if args.inventory or Path(path).exists():
        try:
            inventory = load(path)
            checks.append(Check("inventory", Status.PASS,
                                f"{path}: {len(inventory.controllers)} controllers, "
                                f"{len(inventory.computes)} computes"))
        except CliError as err:
            checks.append(Check("inventory", Status.FAIL, err.message))
    else:
        checks.append(Check("inventory", Status.SKIP, f"no {path}; pass -i FILE"))
    checks.append(check_agents(inventory))
    xml = None
    if inventory is not None:
        cib_check, xml = _cib_check(inventory, args)
        env = agents_env(io.env, dict(inventory.agents.nova_evacuate).get("clouds_yaml"))
        checks += [cib_check, check_bmc_secrets(inventory), check_controllers_fencing(inventory),
                   check_credentials(inventory.cloud, env), check_cloud_secrets(env)]
    if not args.offline:
        checks += _live_checks(inventory, xml)
    if args.json:
        io.out.write(json.dumps([asdict(c) for c in checks], indent=2) + "\n")
    else:
        io.out.write(table(["STATUS", "CHECK", "DETAIL"],
                           [[str(c.status), c.name, c.detail] for c in checks], indent="") + "\n")
    return ExitCode.PROBLEM if any(c.status is Status.FAIL for c in checks) else ExitCode.OK
