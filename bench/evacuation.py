#!/usr/bin/python3
"""Host-failure recovery time on the real Nova lab: our engine vs a fence_evacuate-style baseline.

Each round boots the same mix on compute1 (protected by flavor or image tag,
ACTIVE and SHUTOFF, plus unprotected servers), kills its nova-compute and
forces it down ("host fenced", the clock starts), then runs one contender:

* **baseline**, what fence_evacuate does (ClusterLabs fence-agents): disable
  the service, list flavors and their extra specs one by one and the images,
  list the host's servers (all projects), then one evacuate call after
  another at microversion 2.11 (``onSharedStorage`` false), for servers whose
  flavor or image is tagged; no tracking, no retry, it returns when the last
  call is accepted. Nova below 2.95 keeps the power state, so it ends in the
  same states as ours.
* **engine**: :class:`instanceha.evacuation.engine.EvacuationEngine` over
  :class:`instanceha.nova.client.NovaClient`.

An observer thread, identical for both, lists every server once per
``--poll`` seconds and records when each protected server first runs on
another host in its original state. The figure compared is the time from
"fenced" until the last one does. Between rounds compute1 is restored
(restarted, its evacuations completed, forced up, enabled) and all servers
are deleted. Run as root: ``bench/evacuation.py [--servers 60] [--no-write]``.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from benchlib import write_section  # noqa: E402
from instanceha.evacuation.config import EngineConfig  # noqa: E402
from instanceha.evacuation.engine import EvacuationEngine  # noqa: E402
from instanceha.evacuation.outcome import HostReport  # noqa: E402
from instanceha.nova.client import NovaClient  # noqa: E402
from instanceha.nova.credentials import CloudConfig, resolve_credentials  # noqa: E402
from labs.nova_lab import (  # noqa: E402
    CLOUD_NAME,
    FLAVOR_EVACUABLE,
    FLAVOR_PLAIN,
    IMAGE_EVACUABLE,
    IMAGE_PLAIN,
    NovaLab,
)

SOURCE = "compute1"
TARGET_RATIO = 3.0


@dataclass
class Round:
    """The servers of one round and what happened to them."""

    expected: dict[str, str]  # protected id -> status it must end in
    unprotected: dict[str, str]
    fenced_at: float = 0.0
    returned_at: float = 0.0  # the contender's call returned
    done_at: dict[str, float] = field(default_factory=dict)
    report: HostReport | None = None

    @property
    def recovery(self) -> float:
        return max(self.done_at.values()) - self.fenced_at if self.done_at else float("nan")


def boot_mix(lab: NovaLab, total: int) -> Round:
    """3/4 protected (flavor or image tag), 1/3 of each group SHUTOFF."""
    protected = total * 3 // 4
    groups = [  # (count, flavor, image, state, protected)
        (protected // 3, FLAVOR_EVACUABLE, IMAGE_PLAIN, "ACTIVE", True),
        (protected // 3, FLAVOR_PLAIN, IMAGE_EVACUABLE, "ACTIVE", True),
        (protected - 2 * (protected // 3), FLAVOR_EVACUABLE, IMAGE_EVACUABLE, "SHUTOFF", True),
        ((total - protected) * 2 // 3, FLAVOR_PLAIN, IMAGE_PLAIN, "ACTIVE", False),
        (total - protected - (total - protected) * 2 // 3, FLAVOR_PLAIN, IMAGE_PLAIN, "SHUTOFF",
         False),
    ]
    rnd = Round({}, {})
    for count, flavor, image, state, is_protected in groups:
        if count <= 0:
            continue
        ids = lab.boot_servers(SOURCE, count, flavor=flavor, image=image, state=state,
                               timeout=300)
        (rnd.expected if is_protected else rnd.unprotected).update(dict.fromkeys(ids, state))
    return rnd


def observe(lab: NovaLab, rnd: Round, poll: float, stop: threading.Event) -> None:
    """Record when each protected server is first seen elsewhere in its target state."""
    nova = lab.nova()
    while not stop.is_set():
        now = time.monotonic()
        for server in nova.servers.list(search_opts={"all_tenants": 1}, limit=-1):
            if server.id in rnd.expected and server.id not in rnd.done_at:
                host = getattr(server, "OS-EXT-SRV-ATTR:host", None)
                task = getattr(server, "OS-EXT-STS:task_state", None)
                if host not in (None, SOURCE) and task is None and (
                    server.status == rnd.expected[server.id]
                ):
                    rnd.done_at[server.id] = now
        if len(rnd.done_at) == len(rnd.expected):
            return
        stop.wait(poll)


def baseline(config: CloudConfig) -> None:
    """fence_evacuate's off action, call for call (fresh session, like a fresh process)."""
    from keystoneauth1 import session
    from keystoneauth1.identity import v3

    auth = v3.Password(auth_url=config.auth_url, username=config.username,
                       password=config.password, project_name=config.project_name,
                       user_domain_name=config.user_domain_name,
                       project_domain_name=config.project_domain_name)
    sess = session.Session(auth=auth)
    compute = {"service_type": "compute", "interface": "public"}
    headers = {"OpenStack-API-Version": "compute 2.11", "X-OpenStack-Nova-API-Version": "2.11"}

    def api(method: str, path: str, body: Any = None, service: dict[str, str] = compute) -> Any:
        resp = sess.request(path, method, json=body, endpoint_filter=service, headers=headers,
                            raise_exc=False)
        return resp.json() if resp.content else None

    api("GET", f"/os-services?host={SOURCE}&binary=nova-compute")  # status: must be "off"
    api("PUT", "/os-services/disable", {"host": SOURCE, "binary": "nova-compute"})
    flavors = api("GET", "/flavors/detail?is_public=None")["flavors"]
    tagged_flavors = {
        f["id"] for f in flavors
        if api("GET", f"/flavors/{f['id']}/os-extra_specs")["extra_specs"].get("evacuable", "")
        .lower() == "true"
    }
    images = api("GET", "/v2/images", service={"service_type": "image", "interface": "public"})
    tagged_images = {i["id"] for i in images["images"] if "evacuable" in i.get("tags", [])}
    servers = api("GET", f"/servers/detail?host={SOURCE}&all_tenants=1")["servers"]
    for server in servers:
        image = server.get("image") or {}
        if (tagged_flavors or tagged_images) and server["flavor"]["id"] not in tagged_flavors and (
            not image or image.get("id") not in tagged_images
        ):
            continue
        api("POST", f"/servers/{server['id']}/action", {"evacuate": {"onSharedStorage": False}})


def run_round(lab: NovaLab, name: str, total: int, poll: float,
              contender: Callable[[Round], None]) -> Round:
    lab.reset(timeout=300)
    rnd = boot_mix(lab, total)
    lab.kill_compute(SOURCE)
    svc = next(iter(lab.nova().services.list(host=SOURCE, binary="nova-compute")))
    lab.nova().services.force_down(svc.id, True)
    rnd.fenced_at = time.monotonic()
    stop = threading.Event()
    watcher = threading.Thread(target=observe, args=(lab, rnd, poll, stop), daemon=True)
    watcher.start()
    contender(rnd)
    rnd.returned_at = time.monotonic()
    watcher.join(timeout=600)
    stop.set()
    print(f"{name}: returned after {rnd.returned_at - rnd.fenced_at:.1f}s, all protected servers"
          f" in target state after {rnd.recovery:.1f}s ({len(rnd.done_at)}/{len(rnd.expected)})")
    return rnd


def check(lab: NovaLab, rnd: Round) -> tuple[int, int]:
    """(duplicate evacuations, unprotected servers touched) of the round."""
    mine = set(rnd.expected) | set(rnd.unprotected)
    per_server = Counter(
        m["instance_uuid"] for m in lab.evacuations(source=SOURCE) if m["instance_uuid"] in mine
    )
    duplicates = sum(n - 1 for n in per_server.values() if n > 1)
    touched = sum(1 for sid in rnd.unprotected if sid in per_server)
    return duplicates, touched


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--servers", type=int, default=60)
    parser.add_argument("--max-parallel", type=int, default=16)
    parser.add_argument("--poll", type=float, default=0.5)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    lab = NovaLab(ncompute=3)
    started = time.monotonic()
    with lab.exclusive():
        lab.ensure_running()
        config = resolve_credentials(
            cloud=CLOUD_NAME, env={"OS_CLIENT_CONFIG_FILE": str(lab.clouds_yaml)}
        )
        engine_config = EngineConfig(max_parallel=args.max_parallel, poll_interval=args.poll,
                                     deadline=600.0)

        def ours(rnd: Round) -> None:
            rnd.report = EvacuationEngine(NovaClient(config), config=engine_config).run(SOURCE)

        try:
            base = run_round(lab, "baseline", args.servers, args.poll, lambda _: baseline(config))
            base_check = check(lab, base)
            mine = run_round(lab, "engine", args.servers, args.poll, ours)
            mine_check = check(lab, mine)
        finally:
            lab.reset(timeout=300)
    elapsed = time.monotonic() - started
    ratio = base.recovery / mine.recovery
    report = mine.report
    assert report is not None
    print(report.summary())
    print(f"ratio baseline/engine: {ratio:.2f}x (target {TARGET_RATIO:.0f}x); duplicates:"
          f" baseline {base_check[0]}, engine {mine_check[0]}; bench took {elapsed:.0f}s")
    body = section(args, base, mine, base_check, mine_check, ratio, elapsed)
    print(body)
    if not args.no_write:
        write_section("evacuation", body)
    ok = report.complete and mine_check == (0, 0) and len(mine.done_at) == len(mine.expected)
    return 0 if ok else 1


def section(args: argparse.Namespace, base: Round, mine: Round, base_check: tuple[int, int],  # noqa: PLR0917
            mine_check: tuple[int, int], ratio: float, elapsed: float) -> str:
    report = mine.report
    assert report is not None
    n_prot, n_plain = len(mine.expected), len(mine.unprotected)
    shutoff = sum(1 for s in mine.expected.values() if s == "SHUTOFF")
    met = "met" if ratio >= TARGET_RATIO else "NOT met"

    def row(name: str, rnd: Round, dup: tuple[int, int]) -> str:
        return (f"| {name} | {rnd.returned_at - rnd.fenced_at:.1f} | {rnd.recovery:.1f} | "
                f"{len(rnd.done_at)}/{len(rnd.expected)} | {dup[0]} | {dup[1]} |")

    return "\n".join([
        "## Host failure recovery (`bench/evacuation.py`)",
        "",
        f"Real Nova lab (nova 34, fake virt driver, 3 computes, 2 cores). compute1 holds "
        f"{args.servers} servers: {n_prot} protected ({shutoff} SHUTOFF) by flavor or image tag, "
        f"{n_plain} unprotected. Clock starts when compute1's nova-compute is killed and forced "
        f"down; stops when an identical observer (one server listing per {args.poll}s) first sees "
        "every protected server on another host in its original state. Baseline = "
        "fence_evacuate's off action (serial evacuate calls at 2.11, returns when accepted); "
        f"engine = `EvacuationEngine`, max_parallel {args.max_parallel}, poll {args.poll}s.",
        "",
        "| contender | call returned (s) | all in target state (s) | recovered | duplicate "
        "evacuations | unprotected touched |",
        "|---|---:|---:|---:|---:|---:|",
        row("baseline (fence_evacuate-style)", base, base_check),
        row("instanceha engine", mine, mine_check),
        "",
        f"Ratio baseline/engine: **{ratio:.2f}x** (target {TARGET_RATIO:.0f}x: {met}). Engine "
        f"report: {report.summary().splitlines()[0]}; complete: {report.complete}. "
        f"Bench wall time {elapsed:.0f}s.",
    ])


if __name__ == "__main__":
    sys.exit(main())
