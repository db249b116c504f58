"""``instanceha status``: per compute node, Pacemaker, last fencing, evacuation and Nova;
then every server an evacuation left behind (skipped, failed, pending) and why."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from dataclasses import asdict

from instanceha.cib.status import ClusterView, compute_rows, gather_cluster
from instanceha.cli.common import CliError, ExitCode, Io, agents_env
from instanceha.cli.inputs import add_inventory, inventory_path, load
from instanceha.cli.table import table
from instanceha.cluster import ClusterError
from instanceha.nova.hostmap import HostMapError
from instanceha.nova.model import ComputeService

__all__ = ["cluster_nova_services", "nova_services", "register"]


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``status``."""
    status = commands.add_parser("status", help="state of every compute node")
    add_inventory(status)
    status.add_argument("--cloud", help="clouds.yaml cloud for Nova (default: NovaEvacuate's)")
    status.add_argument("--no-nova", action="store_true", help="do not ask Nova")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(func=run_status)


def read_cluster() -> ClusterView:
    """The cluster's view, or an UNAVAILABLE error saying where to run."""
    try:
        return gather_cluster()
    except ClusterError as err:
        raise CliError(ExitCode.UNAVAILABLE, f"cannot read the cluster ({err}); run this on a "
                       "cluster node as root") from None


def nova_services(cloud: str | None, env: Mapping[str, str]) -> dict[str, ComputeService]:
    """nova-compute services by host; CliError (CONFIG/UNAVAILABLE) when Nova cannot be asked."""
    from instanceha.nova.client import NovaClient
    from instanceha.nova.credentials import CredentialsError, resolve_credentials
    from instanceha.nova.model import NovaAuthError, NovaError

    try:
        client = NovaClient(resolve_credentials(cloud=cloud, env=env))
        return {s.host: s for s in client.list_compute_services()}
    except CredentialsError as err:
        raise CliError(ExitCode.CONFIG, f"credentials: {err}") from None
    except NovaAuthError as err:
        raise CliError(ExitCode.CONFIG, f"Nova refused the credentials: {err}") from None
    except NovaError as err:
        raise CliError(ExitCode.UNAVAILABLE, f"Nova: {err}") from None


def cluster_nova_services(
    view: ClusterView, cloud: str | None, env: Mapping[str, str]
) -> dict[str, ComputeService]:
    """:func:`nova_services` with the cloud (unless ``cloud`` is given) and the clouds.yaml
    NovaEvacuate is configured with."""
    params = view.evacuate_params
    return nova_services(cloud or params.get("cloud") or None,
                         agents_env(env, params.get("clouds_yaml")))


def run_status(args: argparse.Namespace, io: Io) -> int:
    """``status``."""
    computes: list[str] = []
    if args.inventory:
        computes = [c.name for c in load(inventory_path(args, io.env)).computes]
    view = read_cluster()
    services = None
    if not args.no_nova:
        try:
            services = cluster_nova_services(view, args.cloud, io.env)
        except CliError as err:
            io.note(f"Nova column unavailable: {err.message}")
    try:
        rows = compute_rows(view, computes, services)
    except HostMapError as err:
        raise CliError(ExitCode.CONFIG, str(err)) from None
    if args.json:
        io.out.write(json.dumps([asdict(r) for r in rows], indent=2) + "\n")
    else:
        io.out.write(table(
            ["NODE", "NOVA HOST", "PACEMAKER", "SERVICES", "LAST FENCING", "EVACUATION", "NOVA"],
            [[r.node, r.nova_host, r.pacemaker, r.services, r.last_fencing, r.evacuation, r.nova]
             for r in rows], indent="") + "\n")
        left: list[list[str]] = []
        for r in rows:
            left += [[r.node, e.name, e.server_id, e.kind, e.reason] for e in r.not_evacuated]
            if r.not_evacuated_more:
                left.append([r.node, f"+{r.not_evacuated_more} more", "", "",
                             "named in NovaEvacuate's log"])
        if left:
            io.out.write("\nNot evacuated by the last run:\n" + table(
                ["NODE", "SERVER", "ID", "OUTCOME", "WHY"], left, indent="") + "\n")
    return ExitCode.OK
