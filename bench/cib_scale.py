#!/usr/bin/python3
"""The instance HA CIB at scale: render, validate, crm_verify and simulate failures.

For a generated inventory of N computes (default 500) and 3 controllers, times
each step of ``instanceha cib render`` and ``instanceha simulate``:

* render: inventory → XML through the templates;
* schema: RelaxNG validation with lxml against the installed pacemaker-X.Y.rng;
* verify: cluster nodes up (``crm_simulate -u … -q 1 -O``) then ``crm_verify -x``;
* bring-up: every resource started offline (staged ``crm_simulate -S`` passes); the
  result is cached under /var/tmp/instanceha-bench (keyed by the CIB and the Pacemaker
  version) because it dominates: ``--no-cache`` measures it again;
* fail compute / fail controller: one ``crm_simulate`` pass with the failure injected.

The baseline, measured in the same run, is the same steps with 10 computes; the
ratio column shows how each step scales. Results go to the ``cib_scale`` section
of docs/benchmarks.md (``--no-write`` to skip).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))

from benchlib import write_section  # noqa: E402
from instanceha.cib.inventory import Inventory, parse_inventory  # noqa: E402
from instanceha.cib.render import RenderOptions, render_cib  # noqa: E402
from instanceha.cib.scheduler import Scheduler  # noqa: E402
from instanceha.cib.schema import newest_schema, validate  # noqa: E402

CACHE = Path("/var/tmp/instanceha-bench")
T = TypeVar("T")


def inventory(computes: int) -> Inventory:
    """3 controllers with BMCs, ``computes`` computes with unique addresses."""
    return parse_inventory({
        "cloud": "overcloud",
        "controllers": [{"name": f"ctl{i}", "bmc": {"address": f"10.0.0.{i}",
                                                     "password_file": f"/etc/ih/ctl{i}"}}
                        for i in (1, 2, 3)],
        "bmc_defaults": {"username": "admin"},
        "nova": {"domain": "example.com"},
        "computes": [
            {"name": f"compute-{i}", "address": f"192.0.{2 + i // 250}.{1 + i % 250}",
             "bmc": {"address": f"10.1.{i // 250}.{1 + i % 250}",
                     "password_file": f"/etc/ih/compute-{i}"}}
            for i in range(computes)
        ],
    })


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    """``fn()`` and its wall time in seconds."""
    started = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started


def pacemaker_version() -> str:
    """``crm_simulate --version`` first line."""
    done = subprocess.run(["crm_simulate", "--version"], capture_output=True, text=True,
                          timeout=30, check=True)
    return done.stdout.splitlines()[0]


def measure(computes: int, workdir: Path, use_cache: bool) -> dict[str, Any]:
    """Every step for one size; returns seconds per step and a few counts."""
    inv = inventory(computes)
    schema = newest_schema()
    xml, render_s = timed(lambda: render_cib(inv, options=RenderOptions(validate_with=schema)))
    report, schema_s = timed(lambda: validate(xml, schema))
    assert report.valid, report.errors[:3]
    scheduler = Scheduler(workdir)
    verdict, verify_s = timed(lambda: scheduler.verify(scheduler.nodes_up(xml)))
    assert verdict.valid, verdict.errors[:3]

    key = hashlib.sha256((xml + pacemaker_version()).encode()).hexdigest()[:16]
    cached = CACHE / f"cib_scale-{computes}-{key}.xml"
    meta = cached.with_suffix(".json")
    if use_cache and cached.exists() and meta.exists():
        up_text = cached.read_text()
        bring_up_s = float(json.loads(meta.read_text())["bring_up_s"])
        cache_note = "cached"
    else:
        up, bring_up_s = timed(lambda: scheduler.bring_up(xml))
        up_text = up.cib_text
        CACHE.mkdir(parents=True, exist_ok=True)
        cached.write_text(up_text)
        meta.write_text(json.dumps({"bring_up_s": bring_up_s, "passes": up.passes}))
        cache_note = "measured"
    victim = f"compute-{computes // 2}"
    failure, fail_remote_s = timed(lambda: scheduler.fail(victim, cib_text=up_text))
    member, fail_member_s = timed(lambda: scheduler.fail("ctl1", cib_text=up_text))
    return {
        "computes": computes,
        "cib_kb": len(xml) // 1024,
        "up_kb": len(up_text) // 1024,
        "render": render_s,
        "schema": schema_s,
        "verify": verify_s,
        "bring-up": bring_up_s,
        "bring_up_note": cache_note,
        "fail compute": fail_remote_s,
        "fail controller": fail_member_s,
        "fail_compute_actions": len(failure.transition.fencing) + len(failure.transition.actions),
        "fail_controller_actions": len(member.transition.fencing) + len(member.transition.actions),
    }


STEPS = ("render", "schema", "verify", "bring-up", "fail compute", "fail controller")


def compare_bring_up(computes: int, workdir: Path) -> tuple[float, float]:
    """Seconds to bring ``computes`` up in one crm_simulate pass, and in partial clusters."""
    xml = render_cib(inventory(computes), options=RenderOptions(validate_with=newest_schema()))
    _, one_pass = timed(lambda: Scheduler(workdir).bring_up(xml, batch=10**9))
    _, staged = timed(lambda: Scheduler(workdir).bring_up(xml))
    return one_pass, staged


def report(base: dict[str, Any], big: dict[str, Any],
           compared: tuple[int, float, float] | None) -> str:
    """The markdown section."""
    n, b = big["computes"], base["computes"]
    rows = [
        f"| {step} | {base[step]:.3f} | {big[step]:.3f} "
        f"| {big[step] / max(base[step], 1e-6):.0f}x |"
        for step in STEPS
    ]
    return "\n".join([
        "## CIB at scale (`bench/cib_scale.py`)",
        "",
        f"Generated inventory, 3 controllers with BMCs; {pacemaker_version()}; "
        f"wall seconds on this machine (2 vCPU, shared). Rendered CIB: {base['cib_kb']} KiB "
        f"at {b} computes, {big['cib_kb']} KiB at {n}; brought up (status included): "
        f"{big['up_kb']} KiB.",
        "",
        f"| step | {b} computes (baseline) | {n} computes | ratio |",
        "|---|---:|---:|---:|",
        *rows,
        "",
        f"Bring-up at {n}: {big['bring_up_note']} (cached runs reuse the brought-up CIB). "
        f"Failure transitions at {n}: {big['fail_compute_actions']} actions for a compute, "
        f"{big['fail_controller_actions']} for a controller.",
        "",
        "verify = nodes up offline + `crm_verify` (what `instanceha cib render` runs); bring-up = "
        "every resource started by simulated transitions, 10 computes per partial cluster, "
        "merged (what `instanceha simulate` needs first); fail = the transition computed with "
        "the failure injected (`crm_simulate -R`, one scheduler run: what `instanceha simulate` "
        "shows).",
        *([] if compared is None else [
            "",
            f"Bring-up at {compared[0]} computes, measured in the same run: one crm_simulate pass "
            f"{compared[1]:.1f} s, partial clusters {compared[2]:.1f} s "
            f"({compared[1] / max(compared[2], 1e-6):.1f}x). crm_simulate spends time "
            "proportional to the whole CIB on every action it executes, so one pass grows with "
            "the square of the computes.",
        ]),
    ])


def main() -> None:
    """Run both sizes, print the section, write it unless --no-write."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--computes", type=int, default=500)
    parser.add_argument("--baseline", type=int, default=10)
    parser.add_argument("--no-cache", action="store_true", help="measure the bring-up again")
    parser.add_argument("--compare", type=int, default=100, metavar="N",
                        help="also time one-pass vs partial-cluster bring-up at N computes "
                             "(0: skip)")
    parser.add_argument("--no-write", action="store_true",
                        help="do not update docs/benchmarks.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cib-scale-") as tmp:
        dirs = {name: Path(tmp) / name for name in ("warm-up", "base", "big", "compare")}
        for directory in dirs.values():
            directory.mkdir()
        measure(2, dirs["warm-up"], use_cache=False)  # imports, lxml schema parsing, page cache
        base = measure(args.baseline, dirs["base"], use_cache=False)
        big = measure(args.computes, dirs["big"], use_cache=not args.no_cache)
        compared = None
        if args.compare:
            compared = (args.compare, *compare_bring_up(args.compare, dirs["compare"]))
    body = report(base, big, compared)
    print(body)
    if not args.no_write:
        write_section("cib_scale", body)


if __name__ == "__main__":
    main()
