"""``instanceha simulate --fail HOST``: what the cluster and the evacuator would do.

The CIB is the inventory rendered (default), a file (``--cib``) or the live
cluster (``--live``, read-only). The failure is injected the way Pacemaker
would see it (:mod:`instanceha.cib.scheduler`) and the transition is shown:
fencing (with the topology level's devices), resource changes and the nodes
afterwards. With ``--plan SNAPSHOT.json`` (or ``--live``, which reads Nova
with the CIB's ``cloud``), the evacuation plan follows: the policy configured
on NovaEvacuate in that CIB decides which servers move and which are
skipped, and a capacity estimate says whether they fit on the other hosts.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from instanceha.cib.cibquery import fencing_devices, parse_cib, primitive_params
from instanceha.cib.scheduler import Failure, Scheduler, SchedulerError
from instanceha.cli.common import CliError, ExitCode, Io
from instanceha.cli.inputs import add_inventory, inventory_path, load, read_text, rendered
from instanceha.cli.nova_cmd import live_snapshot
from instanceha.cli.table import table
from instanceha.cluster.runner import ClusterError, SubprocessRunner
from instanceha.evacuation.policy import Mode, PolicyConfig
from instanceha.evacuation.preview import EvacuationPreview, preview
from instanceha.evacuation.snapshot import SnapshotError, load_snapshot
from instanceha.nova.hostmap import HostMap, HostMapError

__all__ = ["register", "result_document"]


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``simulate``."""
    sim = commands.add_parser("simulate", help="simulate a host failure: fencing, recovery, "
                                               "evacuation plan")
    sim.add_argument("--fail", required=True, metavar="HOST", help="node that fails")
    source = sim.add_mutually_exclusive_group()
    source.add_argument("--cib", metavar="FILE", help="CIB file (default: render the inventory)")
    source.add_argument("--live", action="store_true",
                        help="the running cluster's CIB (read only) and, without --plan, "
                             "live Nova for the plan")
    add_inventory(sim)
    sim.add_argument("--plan", metavar="SNAPSHOT", help="Nova snapshot JSON of the failed host "
                                                        "('instanceha nova snapshot')")
    sim.add_argument("--json", action="store_true", help="machine-readable output")
    sim.set_defaults(func=run_simulate)


def _policy(cib_params: dict[str, str] | None) -> PolicyConfig:
    params = cib_params or {}
    try:
        mode = Mode(params.get("evacuation_mode") or "tagged-or-all")
    except ValueError:
        raise CliError(ExitCode.CONFIG, f"NovaEvacuate evacuation_mode "
                                        f"{params.get('evacuation_mode')!r} is unknown") from None
    reserved = tuple(h for h in (params.get("reserved_hosts") or "").split(",") if h.strip())
    return PolicyConfig(mode=mode, key=params.get("tag_key") or "evacuable",
                        reserved_hosts=tuple(h.strip() for h in reserved))


def _nova_host(node: str, params: dict[str, str] | None) -> str:
    params = params or {}
    try:
        return HostMap.from_params(params.get("host_map", ""),
                                   params.get("domain", "")).nova_host(node)
    except HostMapError as err:
        raise CliError(ExitCode.CONFIG, f"NovaEvacuate host mapping: {err}") from None


def _failure(args: argparse.Namespace, io: Io, workdir: Path) -> tuple[Failure, str]:
    """Run the simulation; returns it and the CIB text the policy is read from."""
    scheduler = Scheduler(workdir)
    try:
        if args.live:
            try:
                res = SubprocessRunner().run(["cibadmin", "--query"], timeout=60)
            except ClusterError as err:
                raise CliError(ExitCode.MISSING, f"{err} (install pacemaker-cli-utils)") from None
            if res.rc != 0:
                raise CliError(ExitCode.UNAVAILABLE, "cannot read the live CIB (cibadmin "
                               f"--query exited {res.rc}); run on a cluster node, or use --cib")
            return scheduler.fail(args.fail, live=True), res.stdout
        if args.cib:
            text = read_text(args.cib, "the CIB")
        else:
            text = rendered(load(inventory_path(args, io.env)), args)
        up = scheduler.bring_up(text)
        return scheduler.fail(args.fail, cib_text=up.cib_text), up.cib_text
    except SchedulerError as err:
        code = ExitCode.MISSING if "not found" in str(err) else ExitCode.CONFIG
        raise CliError(code, str(err)) from None


def _preview(args: argparse.Namespace, io: Io, failure: Failure,
             cib_text: str) -> tuple[EvacuationPreview | None, str | None]:
    if failure.kind != "remote" or not (args.plan or args.live):
        return None, None
    params = primitive_params(parse_cib(cib_text), "instanceha", "NovaEvacuate")
    nova_host = _nova_host(failure.host, params)
    if args.plan:
        try:
            snapshot = load_snapshot(read_text(args.plan, "the snapshot"))
        except SnapshotError as err:
            raise CliError(ExitCode.CONFIG, f"{args.plan}: {err}") from None
        if snapshot.host != nova_host:
            raise CliError(ExitCode.CONFIG, f"{args.plan} is a snapshot of {snapshot.host}, but "
                           f"{failure.host} is Nova host {nova_host}")
    else:
        cloud = (params or {}).get("cloud") or None
        try:
            snapshot = live_snapshot(cloud, nova_host, io.env)
        except CliError as err:
            return None, err.message
    return preview(snapshot, _policy(params)), None


def result_document(failure: Failure, cib_text: str, plan: EvacuationPreview | None,
                    plan_error: str | None) -> dict[str, Any]:
    """The JSON document ``--json`` prints."""
    cib = parse_cib(cib_text)
    t = failure.transition
    doc: dict[str, Any] = {
        "host": failure.host,
        "kind": failure.kind,
        "injection": failure.injection,
        "connection_host": failure.connection_host,
        "fencing": [asdict(f) | {"levels": fencing_devices(cib, f.target)} for f in t.fencing],
        "actions": [asdict(a) for a in t.actions],
        "nodes_after": [{"name": n.name, "kind": n.kind, "state": n.state} for n in t.after],
        "plan": None,
        "plan_error": plan_error,
    }
    if plan is not None:
        cap = plan.capacity

        def decision(d: Any) -> dict[str, Any]:
            return {
                "id": d.server.id, "name": d.server.name, "status": d.server.status,
                "action": str(d.action), "reason": d.reason, "target_state": d.target_state,
                "target_host": d.target_host or cap.placements.get(d.server.id),
                "priority": d.priority,
            }

        doc["plan"] = {
            "nova_host": plan.plan.host,
            "mode": str(plan.plan.mode),
            "evacuate": [decision(d) for d in plan.plan.to_evacuate],
            "skip": [decision(d) for d in plan.plan.skipped],
            "capacity": {
                "verdict": cap.verdict,
                "needed": asdict(cap.needed),
                "free": asdict(cap.free),
                "hosts": list(cap.hosts),
                "unplaced": list(cap.unplaced),
                "unknown_size": list(cap.unknown_size),
            },
        }
    return doc


def _text(doc: dict[str, Any]) -> str:
    kind = "Pacemaker Remote node" if doc["kind"] == "remote" else "cluster node"
    out = [f"Failure of {doc['host']} ({kind}), injected as {doc['injection']}", ""]
    out.append("Fencing:")
    if not doc["fencing"]:
        out.append("  none scheduled: the failure is not noticed, or nothing can fence it")
    for f in doc["fencing"]:
        levels = " then ".join(" + ".join(lv) for lv in f["levels"]) or "any capable device"
        out.append(f"  {f['action']} {f['target']} ({f['reason']}) using {levels}")
    out += ["", "Recovery:"]
    rows = [[a["action"], a["resource"],
             f"{a['source'] or '?'} -> {a['dest'] or '?'}" if (a["source"] or a["dest"])
             else a["node"] or "", a["reason"]] for a in doc["actions"]]
    out.append(table(["ACTION", "RESOURCE", "WHERE", "WHY"], rows) if rows else "  nothing")
    out += ["", "Nodes afterwards:"]
    for state in ("online", "offline", "fenced", "unclean"):
        names = [n["name"] for n in doc["nodes_after"] if n["state"] == state]
        if names:
            out.append(f"  {state}: {' '.join(names)}")
    plan = doc["plan"]
    if doc["plan_error"]:
        out += ["", f"Evacuation plan: not available ({doc['plan_error']})"]
    if plan is not None:
        out += ["", f"Evacuation plan for Nova host {plan['nova_host']} (mode {plan['mode']}): "
                    f"{len(plan['evacuate'])} to evacuate, {len(plan['skip'])} skipped"]
        if plan["evacuate"]:
            out.append(table(
                ["EVACUATE", "ID", "STATUS", "ENDS", "TO", "WHY"],
                [[d["name"], d["id"], d["status"], d["target_state"],
                  d["target_host"] or "?", d["reason"]] for d in plan["evacuate"]]))
        if plan["skip"]:
            out.append(table(["SKIP", "ID", "STATUS", "WHY"],
                             [[d["name"], d["id"], d["status"], d["reason"]]
                              for d in plan["skip"]]))
        cap = plan["capacity"]
        need, free = cap["needed"], cap["free"]
        out.append(
            f"  Capacity: {cap['verdict']}; needs {need['vcpus']:g} vCPU, "
            f"{need['ram_mb']:g} MiB RAM, {need['disk_gb']:g} GiB disk; free on "
            f"{len(cap['hosts'])} usable host(s): {free['vcpus']:g} vCPU, "
            f"{free['ram_mb']:g} MiB, {free['disk_gb']:g} GiB"
        )
        if cap["unplaced"]:
            out.append(f"  Would not fit: {' '.join(cap['unplaced'])}")
        if cap["unknown_size"]:
            out.append(f"  Flavor size unknown: {' '.join(cap['unknown_size'])}")
    return "\n".join(out) + "\n"


def run_simulate(args: argparse.Namespace, io: Io) -> int:
    """``simulate``."""
    with tempfile.TemporaryDirectory(prefix="instanceha-sim-") as tmp:
        failure, cib_text = _failure(args, io, Path(tmp))
    plan, plan_error = _preview(args, io, failure, cib_text)
    doc = result_document(failure, cib_text, plan, plan_error)
    io.out.write(json.dumps(doc, indent=2) + "\n" if args.json else _text(doc))
    if plan_error and args.plan:
        return ExitCode.UNAVAILABLE
    return ExitCode.OK
