#!/usr/bin/python3
"""Per-invocation cost of our OCF agents next to Debian's agents, measured in one run.

For ``meta-data``, ``validate-all`` and a level-0 ``monitor`` of a running
resource: median wall time and peak RSS over N runs, for every agent of ours
(libvirtd, NovaEvacuate, NovaCompute) and for ``ocf:heartbeat:Dummy`` (the
floor: a shell agent that touches a state file) and ``ocf:heartbeat:dummypy``
(resource-agents' Python library). Ratios are against Dummy from the same run.
Credentials come from a clouds.yaml in the temporary directory; nothing here
contacts Keystone or Nova. Run as root after ``make install``:

    bench/agent_overhead.py [--runs N] [--no-write]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import Sample, measure, write_section  # noqa: E402
from instanceha.agents import nova_compute  # noqa: E402
from labs.agents import cloud_params, libvirtd_sandbox, run_agent  # noqa: E402

HEARTBEAT = Path("/usr/lib/ocf/resource.d/heartbeat")
OURS = Path("/usr/lib/ocf/resource.d/instanceha")
ACTIONS = ("meta-data", "validate-all", "monitor")
TARGET_MS, TARGET_MB = 60.0, 25.0
#: Stands in for nova-compute (which needs Nova): like it, an interpreter running a script,
#: so the agent's DirectDaemon recognises it by the script path. Not ``exec sleep``: that
#: process would run /usr/bin/sleep without the script in its argv and not count as the daemon.
STAND_IN = "#!/usr/bin/python3\nimport time\n\ntime.sleep(3600)\n"


def _env(params: dict[str, str]) -> dict[str, str]:
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "OCF_ROOT": "/usr/lib/ocf",
           "OCF_RESOURCE_INSTANCE": "bench", "OCF_RESKEY_CRM_meta_timeout": "20000",
           "OCF_RESKEY_CRM_meta_interval": "10000", "OCF_CHECK_LEVEL": "0"}
    env.update({f"OCF_RESKEY_{k}": v for k, v in params.items()})
    return env


def _start(cleanup: ExitStack, name: str, params: dict[str, str], timeout_ms: int) -> None:
    """Start an agent's resource, its stop registered on ``cleanup`` (even when start fails)."""
    result = run_agent(name, "start", params, timeout_ms=timeout_ms)
    cleanup.callback(run_agent, name, "stop", params, timeout_ms=60000)
    if result.rc != 0:
        sys.exit(f"could not start {name} for the monitor measurement: rc {result.rc} "
                 f"{result.reason}")


def _nova_compute(cleanup: ExitStack, work: Path) -> dict[str, str]:
    """NovaCompute parameters, with a stand-in process running under its pid file."""
    binary = work / "nova-compute"
    binary.write_text(STAND_IN)
    binary.chmod(0o755)
    params = {**cloud_params(work, "bench"), "nova_host": "bench-compute",
              "service_manager": "direct", "binary": str(binary), "config_files": "",
              "pidfile": str(work / "nova-compute.pid"),
              "log_file": str(work / "nova-compute.out")}
    daemon = nova_compute._manager(nova_compute.SPEC.params.parse(params))  # the agent's own
    daemon.start(time.monotonic() + 10)
    cleanup.callback(lambda: daemon.stop(time.monotonic() + 10))
    return params


def _row(label: str, action: str, sample: Sample, floor: Sample) -> str:
    return (f"| {label} | {action} | {sample.wall_ms:.1f} | {sample.wall_ms / floor.wall_ms:.2f}x "
            f"| {sample.rss_mb:.1f} | {sample.rss_mb / floor.rss_mb:.2f}x | {sample.rc} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    if not all((OURS / name).exists() for name in ("libvirtd", "NovaEvacuate", "NovaCompute")):
        sys.exit("run 'make install' first (as root)")
    rows, failed, worst = [], [], {"meta-data": 0.0, "monitor": 0.0, "rss": 0.0}
    with ExitStack() as cleanup:
        work = Path(tempfile.mkdtemp(prefix="bench-agents-"))
        cleanup.callback(shutil.rmtree, work, ignore_errors=True)
        dummy_params = {"state": str(work / "dummy.state")}
        (work / "dummy.state").write_text("running\n")
        libvirtd = libvirtd_sandbox(work)
        _start(cleanup, "libvirtd", libvirtd, timeout_ms=60000)
        evacuate = {**cloud_params(work, "bench"), "evacuation_mode": "tagged", "max_parallel": "4",
                    "poll_interval": "2", "state_dir": str(work / "evacuator")}
        _start(cleanup, "NovaEvacuate", evacuate, timeout_ms=30000)
        agents = [("heartbeat:Dummy (floor)", HEARTBEAT / "Dummy", dummy_params),
                  ("heartbeat:dummypy", HEARTBEAT / "dummypy", dummy_params),
                  ("instanceha:libvirtd", OURS / "libvirtd", libvirtd),
                  ("instanceha:NovaEvacuate", OURS / "NovaEvacuate", evacuate),
                  ("instanceha:NovaCompute", OURS / "NovaCompute", _nova_compute(cleanup, work))]
        samples = {(label, action): measure([str(path), action], _env(params), args.runs)
                   for label, path, params in agents if path.exists() for action in ACTIONS}
    floors = {a: samples[(agents[0][0], a)] for a in ACTIONS}
    for (label, action), sample in samples.items():
        rows.append(_row(label, action, sample, floors[action]))
        if sample.rc != 0:
            failed.append(f"{label} {action} rc {sample.rc}")
        if label.startswith("instanceha") and action in worst:
            worst[action] = max(worst[action], sample.wall_ms)
        if label.startswith("instanceha") and action in ("meta-data", "monitor"):
            worst["rss"] = max(worst["rss"], sample.rss_mb)
    meets = (worst["meta-data"] < TARGET_MS and worst["monitor"] < TARGET_MS
             and worst["rss"] < TARGET_MB and not failed)
    table = "\n".join([
        "| agent | action | wall ms (median) | vs Dummy | peak RSS MB | vs Dummy | rc |",
        "|---|---|---:|---:|---:|---:|---:|",
        *rows,
    ])
    body = (
        "## Agent overhead (`bench/agent_overhead.py`)\n\n"
        f"{args.runs} runs per cell, Debian 12 `/usr/bin/python3`, agents installed by "
        "`make install`; monitor = level 0 (OCF_CHECK_LEVEL=0, 10 s recurring) on a running "
        "resource. Running means: Dummy and dummypy: their state file exists; libvirtd: a "
        "libvirtd started by the agent with its sockets in a temporary directory (pid + "
        "socket); NovaEvacuate: the evacuator worker started by the agent (pid + heartbeat "
        "age; without a cluster each pass fails at cibadmin after touching the heartbeat, "
        "and with no evacuation request it never calls Nova); NovaCompute: a stand-in process "
        "(a Python script that sleeps) started under the agent's pid file with "
        "the agent's own `DirectDaemon`, since nova-compute itself needs Nova (the level-0 "
        "monitor only checks that process). Credentials: a `cloud` entry in a clouds.yaml in "
        "the temporary directory, which validate-all resolves without contacting anything.\n\n"
        f"{table}\n\n"
        f"Target (meta-data and level-0 monitor < {TARGET_MS:.0f} ms and < {TARGET_MB:.0f} MB): "
        f"{'met' if meets else 'NOT met'} (worst: meta-data {worst['meta-data']:.1f} ms, "
        f"monitor {worst['monitor']:.1f} ms, {worst['rss']:.1f} MB)"
        f"{'; failed: ' + ', '.join(failed) if failed else ''}.\n"
    )
    print(body)
    if not args.no_write:
        write_section("agent_overhead", body)
    return 0 if meets else 1


if __name__ == "__main__":
    sys.exit(main())
