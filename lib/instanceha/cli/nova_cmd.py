"""``instanceha nova snapshot HOST``: save what the evacuation plan needs about one host.

The snapshot (format in :mod:`instanceha.evacuation.snapshot`) lets ``instanceha
simulate --plan`` show the plan offline, or on another machine, without
credentials.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from instanceha.cli.common import CliError, ExitCode, Io, write_output
from instanceha.cli.inputs import add_inventory, inventory_path, load
from instanceha.evacuation.snapshot import AllocationRatios, Snapshot, dump_snapshot, take_snapshot
from instanceha.nova.model import NovaAuthError, NovaError

__all__ = ["live_snapshot", "register"]


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``nova snapshot``."""
    nova = commands.add_parser("nova", help="read Nova state for offline use")
    sub = nova.add_subparsers(dest="nova_command", metavar="COMMAND", required=True)
    snap = sub.add_parser("snapshot", help="save one host's servers, flavors, images, "
                                           "aggregates and the other hosts' capacity")
    snap.add_argument("host", help="Nova host name (or compute node name from the inventory)")
    add_inventory(snap)
    snap.add_argument("--cloud", help="clouds.yaml cloud (default: the inventory's, or OS_CLOUD)")
    snap.add_argument("-o", "--output", metavar="FILE", help="write here (default: stdout)")
    for name, default in (("cpu", 4.0), ("ram", 1.0), ("disk", 1.0)):
        snap.add_argument(f"--{name}-allocation-ratio", type=float, default=default,
                          metavar="R", help=f"{name} allocation ratio assumed (default {default})")
    snap.set_defaults(func=run_snapshot)


def live_snapshot(cloud: str | None, nova_host: str, env: Mapping[str, str],
                  ratios: AllocationRatios | None = None) -> Snapshot:
    """A snapshot of ``nova_host`` read from the live cloud.

    :raises CliError: CONFIG for credentials, UNAVAILABLE when Nova cannot be asked.
    """
    from instanceha.cli.nova_source import LiveSnapshotSource
    from instanceha.nova.client import NovaClient
    from instanceha.nova.credentials import CredentialsError, resolve_credentials

    try:
        config = resolve_credentials(cloud=cloud, env=env)
    except CredentialsError as err:
        raise CliError(ExitCode.CONFIG, f"credentials: {err}") from None
    try:
        return take_snapshot(
            LiveSnapshotSource(NovaClient(config)), nova_host,
            taken_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), ratios=ratios,
        )
    except NovaAuthError as err:
        raise CliError(ExitCode.CONFIG, f"Nova refused the credentials: {err}") from None
    except NovaError as err:
        raise CliError(ExitCode.UNAVAILABLE, f"Nova: {err}") from None


def run_snapshot(args: argparse.Namespace, io: Io) -> int:
    """``nova snapshot``."""
    cloud, host = args.cloud, args.host
    path = inventory_path(args, io.env)
    if args.inventory or Path(path).exists():
        inventory = load(path)
        cloud = cloud or inventory.cloud
        compute = inventory.compute(host)
        host = compute.nova_host if compute else host
    ratios = AllocationRatios(args.cpu_allocation_ratio, args.ram_allocation_ratio,
                              args.disk_allocation_ratio)
    snapshot = live_snapshot(cloud, host, io.env, ratios)
    write_output(args.output, dump_snapshot(snapshot), io, private=True)
    io.note(f"snapshot of {host}: {len(snapshot.servers)} servers, "
            f"{len(snapshot.hosts)} hosts with capacity")
    return ExitCode.OK
