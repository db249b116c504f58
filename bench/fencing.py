#!/usr/bin/python3
"""fence_ipmi next to Debian's fence_ipmilan, on the same simulated BMC in the same run.

Both agents get their options on stdin, as pacemaker-fenced passes them, and
talk IPMI 2.0 (lanplus, cipher suite 3: ipmi_sim refuses 17, and without
``-C 3`` ipmitool waits 10 s for a cipher list ipmi_sim never sends) to one
OpenIPMI ``ipmi_sim`` on loopback (``lab/ipmi``). Each repetition runs, per
agent: status (host on), off, status (host off), on; repetitions interleave the
agents. fence_ipmilan runs with ``power_wait=0`` like fence_ipmi (its default
of 2 s is reported separately). Also timed once each: ``-o metadata``, a wrong
password, and a stopped BMC (time until the agent gives up). Run as root after
``make install`` (falls back to the repository shim):

    bench/fencing.py [--runs N] [--no-write]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from benchlib import write_section  # noqa: E402
from labs.ipmi_lab import IpmiLab, SimBmc, fence_agent, missing_tools  # noqa: E402

ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C.UTF-8"}
STEPS = (("status", "on", 0), ("off", "off", 0), ("status", "off", 2), ("on", "on", 0))


@dataclass(frozen=True)
class Agent:
    """How to run one agent and the options it needs besides the BMC's."""

    label: str
    argv: list[str]
    env: dict[str, str]
    extra: str


def _options(bmc: SimBmc, port: int, password: str) -> str:
    return (f"ip=127.0.0.1\nipport={port}\nusername={bmc.username}\npassword={password}\n"
            "port=compute-1\nnodename=ctl-1\n")


def run_once(agent: Agent, bmc: SimBmc, action: str, port: int | None = None,
             password: str | None = None) -> tuple[float, int]:
    """Wall time (ms) and exit code of one invocation."""
    text = (f"action={action}\n" + _options(bmc, port or bmc.port, password or bmc.password())
            + agent.extra)
    started = time.perf_counter()
    done = subprocess.run(agent.argv, input=text, capture_output=True, text=True,
                          env={**ENV, **agent.env}, timeout=120, check=False)
    return (time.perf_counter() - started) * 1000, done.returncode


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def bench_steps(agents: list[Agent], bmc: SimBmc, runs: int) -> dict[tuple[str, int], list[float]]:
    """Timings per (agent label, step index); checks exit codes and the BMC's state."""
    times: dict[tuple[str, int], list[float]] = {}
    for _ in range(runs):
        for agent in agents:
            for index, (action, power, expected_rc) in enumerate(STEPS):
                ms, rc = run_once(agent, bmc, action)
                if rc != expected_rc or bmc.power() != power:
                    raise SystemExit(f"{agent.label} {action}: rc {rc}, host {bmc.power()}")
                times.setdefault((agent.label, index), []).append(ms)
    return times


def one_shots(agents: list[Agent], lab: IpmiLab, bmc: SimBmc) -> dict[tuple[str, str], float]:
    """metadata, wrong password (medians of 5) and a stopped BMC (once), per agent."""
    result: dict[tuple[str, str], float] = {}
    for agent in agents:
        result[(agent.label, "metadata")] = _median(
            [run_once(agent, bmc, "metadata")[0] for _ in range(5)])
        result[(agent.label, "wrong password")] = _median(
            [run_once(agent, bmc, "status", password="wrong-password")[0] for _ in range(5)])
    dead = lab.start_bmc("dead")
    lab.stop_bmc(dead)
    for agent in agents:
        result[(agent.label, "stopped BMC")] = run_once(agent, dead, "status")[0]
    return result


def render(agents: list[Agent], times: dict[tuple[str, int], list[float]],
           shots: dict[tuple[str, str], float], runs: int) -> str:
    """The markdown section."""
    ours, base = agents[0].label, agents[1].label
    labels = [a.label for a in agents]
    lines = [
        "## Fencing: fence_ipmi vs fence_ipmilan (`bench/fencing.py`)",
        "",
        f"{runs} repetitions, medians in ms; one OpenIPMI `ipmi_sim` BMC on loopback (lanplus, "
        "cipher 3); options on stdin as pacemaker-fenced passes them; Debian 12 "
        "`/usr/bin/python3`, fence-agents 4.12.1. Ratio = fence_ipmilan / fence_ipmi "
        "(> 1: fence_ipmi is faster).",
        "",
        "| step | " + " | ".join(labels) + " | ratio |",
        "|---|" + "---:|" * (len(labels) + 1),
    ]
    for index, (action, power, _) in enumerate(STEPS):
        cells = [_median(times[(label, index)]) for label in labels]
        ratio = cells[1] / cells[0]
        lines.append(f"| {action} (host {power}) | "
                     + " | ".join(f"{c:.0f}" for c in cells) + f" | {ratio:.2f}x |")
    for what in ("metadata", "wrong password", "stopped BMC"):
        cells = [shots[(label, what)] for label in labels]
        lines.append(f"| {what} | " + " | ".join(f"{c:.0f}" for c in cells)
                     + f" | {cells[1] / cells[0]:.2f}x |")
    lines += [
        "",
        f"`{base}` runs ipmitool once per IPMI command (the password on its command line); "
        f"`{ours}` talks IPMI in process (pyghmi) and verifies each power change by polling. "
        "\"stopped BMC\" is the time until the agent gives up: pyghmi stops re-sending the "
        "first login packet after about 5 s, inside fence_ipmi's own login deadline "
        "(login_timeout, 10 s), while fence_ipmilan waits for its power_timeout (20 s). "
        "Every run's exit code and the simulated host's power state are checked.",
    ]
    return "\n".join(lines)


def main() -> None:
    """Measure, print, and write the docs/benchmarks.md section."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    reason = missing_tools() or (None if shutil.which("fence_ipmilan") else
                                 "fence_ipmilan not installed (lab/ipmi/install.sh)")
    if reason:
        raise SystemExit(f"bench/fencing.py: {reason}")
    argv, env = fence_agent("fence_ipmi")
    ipmilan = shutil.which("fence_ipmilan") or "fence_ipmilan"
    agents = [
        Agent("fence_ipmi", argv, env, ""),
        Agent("fence_ipmilan", [ipmilan], {}, "lanplus=1\ncipher=3\npower_wait=0\n"),
        Agent("fence_ipmilan (default power_wait=2)", [ipmilan], {}, "lanplus=1\ncipher=3\n"),
    ]
    with tempfile.TemporaryDirectory() as tmp, IpmiLab(Path(tmp)) as lab:
        bmc = lab.start_bmc("bench")
        for agent in agents:  # warm caches, and check each agent works at all
            run_once(agent, bmc, "status")
        times = bench_steps(agents, bmc, args.runs)
        shots = one_shots(agents, lab, bmc)
    body = render(agents, times, shots, args.runs)
    print(body)
    if not args.no_write:
        write_section("fencing", body)


if __name__ == "__main__":
    main()
