#!/usr/bin/python3
"""Per-invocation cost of our OCF agents next to Debian's agents, measured in one run.

For ``meta-data``, ``validate-all`` and a level-0 ``monitor`` of a running
resource: median wall time and peak RSS over N runs, for our agents and for
``ocf:heartbeat:Dummy`` (the floor: a shell agent that touches a state file)
and ``ocf:heartbeat:dummypy`` (resource-agents' Python library). Ratios are
against Dummy from the same run. Run as root after ``make install``:

    bench/agent_overhead.py [--runs N] [--no-write]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import Sample, measure, write_section  # noqa: E402
from labs.agents import libvirtd_sandbox, run_agent  # noqa: E402

HEARTBEAT = Path("/usr/lib/ocf/resource.d/heartbeat")
OURS = Path("/usr/lib/ocf/resource.d/instanceha")
ACTIONS = ("meta-data", "validate-all", "monitor")
TARGET_MS, TARGET_MB = 60.0, 25.0


def _env(params: dict[str, str]) -> dict[str, str]:
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "OCF_ROOT": "/usr/lib/ocf",
           "OCF_RESOURCE_INSTANCE": "bench", "OCF_RESKEY_CRM_meta_timeout": "20000",
           "OCF_RESKEY_CRM_meta_interval": "10000", "OCF_CHECK_LEVEL": "0"}
    env.update({f"OCF_RESKEY_{k}": v for k, v in params.items()})
    return env


def _row(label: str, action: str, sample: Sample, floor: Sample) -> str:
    return (f"| {label} | {action} | {sample.wall_ms:.1f} | {sample.wall_ms / floor.wall_ms:.2f}x "
            f"| {sample.rss_mb:.1f} | {sample.rss_mb / floor.rss_mb:.2f}x | {sample.rc} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    if not (OURS / "libvirtd").exists():
        sys.exit("run 'make install' first (as root)")
    work = Path(tempfile.mkdtemp(prefix="bench-agents-"))
    dummy_params = {"state": str(work / "dummy.state")}
    (work / "dummy.state").write_text("running\n")
    libvirtd = libvirtd_sandbox(work)
    if run_agent("libvirtd", "start", libvirtd, timeout_ms=60000).rc != 0:
        sys.exit("could not start libvirtd for the monitor measurement")
    agents = [("heartbeat:Dummy (floor)", HEARTBEAT / "Dummy", dummy_params),
              ("heartbeat:dummypy", HEARTBEAT / "dummypy", dummy_params),
              ("instanceha:libvirtd", OURS / "libvirtd", libvirtd)]
    rows, worst = [], {"meta-data": 0.0, "monitor": 0.0, "rss": 0.0}
    try:
        samples = {(label, action): measure([str(path), action], _env(params), args.runs)
                   for label, path, params in agents if path.exists() for action in ACTIONS}
        floors = {a: samples[(agents[0][0], a)] for a in ACTIONS}
        for (label, action), sample in samples.items():
            rows.append(_row(label, action, sample, floors[action]))
            if label.startswith("instanceha") and action in worst:
                worst[action] = max(worst[action], sample.wall_ms)
            if label.startswith("instanceha") and action in ("meta-data", "monitor"):
                worst["rss"] = max(worst["rss"], sample.rss_mb)
    finally:
        run_agent("libvirtd", "stop", libvirtd)
        shutil.rmtree(work, ignore_errors=True)
    meets = (worst["meta-data"] < TARGET_MS and worst["monitor"] < TARGET_MS
             and worst["rss"] < TARGET_MB)
    table = "\n".join([
        "| agent | action | wall ms (median) | vs Dummy | peak RSS MB | vs Dummy | rc |",
        "|---|---|---:|---:|---:|---:|---:|",
        *rows,
    ])
    body = (
        "## Agent overhead (`bench/agent_overhead.py`)\n\n"
        f"{args.runs} runs per cell, Debian 12 `/usr/bin/python3`, agents installed by "
        "`make install`; monitor = level 0 on a running resource (libvirtd: pid + socket).\n\n"
        f"{table}\n\n"
        f"Target (meta-data and level-0 monitor < {TARGET_MS:.0f} ms and < {TARGET_MB:.0f} MB): "
        f"{'met' if meets else 'NOT met'} (worst: meta-data {worst['meta-data']:.1f} ms, "
        f"monitor {worst['monitor']:.1f} ms, {worst['rss']:.1f} MB).\n"
    )
    print(body)
    if not args.no_write:
        write_section("agent_overhead", body)
    return 0 if meets else 1


if __name__ == "__main__":
    sys.exit(main())
