#!/usr/bin/python3
"""instanceha demo: a lab cloud loses a compute host and gets its instances back by itself.

Brings up the end-to-end lab (``tests/labs/e2e_lab.py``): three Pacemaker controllers and three
compute hosts, each in its own network namespaces with its own IPMI BMC simulator (computes run
pacemaker_remote + nova-compute of a real Nova), configured from an inventory by ``instanceha
cib render --pcs``. Boots servers, crashes comp1 and prints the recovery as a timeline; then
the controllers lose the network to comp2 and comp3, which are not powered off, and come back
without fencing. Run by ``make demo``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "lib")]

from labs.e2e_lab import E2ELab, nova_host  # noqa: E402
from labs.nova_lab import FLAVOR_PLAIN, IMAGE_PLAIN, NovaLab  # noqa: E402
from labs.timeline import (  # noqa: E402
    ENABLED,
    FENCED,
    FENCING_HELD,
    INSTANCE,
    ONLINE,
    STARTED,
    Observer,
    Watched,
)


def say(text: str) -> None:
    print(f"\n== {text}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=6, help="protected servers on comp1")
    parser.add_argument("--keep", action="store_true", help="leave the lab running at the end")
    parser.add_argument("--stop", action="store_true", help="stop a lab left running by --keep")
    args = parser.parse_args()

    nova = NovaLab(ncompute=3)
    if args.stop:
        with nova.exclusive():
            lab = E2ELab(nova, hosts=3, controllers=3)
            with lab.cluster.exclusive():
                lab.stop()
        return 0
    with nova.exclusive():
        say("Starting the Nova lab (Keystone, Glance, Placement, Nova, RabbitMQ, MariaDB)")
        nova.ensure_running()
        nova.reset()
        lab = E2ELab(nova, hosts=3, controllers=3)
        with lab.cluster.exclusive():
            say("Starting the cluster: ctl1..ctl3 + comp1..comp3, each with its own IPMI BMC")
            lab.start()
            try:
                return demo(lab, nova, args.instances, args.keep)
            finally:
                if not args.keep:
                    say("Stopping the lab")
                    lab.stop()
    return 0


def demo(lab: E2ELab, nova: NovaLab, count: int, keep: bool) -> int:
    print(f"   ready in {lab.timings['ready']:.0f} s; configuration rendered from {lab.work}")
    print(lab.cluster.run(["crm_mon", "-1", "-r"]).stdout)

    say(f"Booting servers on {nova_host(1)} (comp1)")
    active = nova.boot_servers(1, max(count - 1, 1), name="web")
    stopped = nova.boot_servers(1, 1, name="batch", state="SHUTOFF")
    plain = nova.boot_servers(1, 1, name="scratch", flavor=FLAVOR_PLAIN, image=IMAGE_PLAIN)
    nova.boot_servers(2, 1, name="db")
    print(f"   {len(active)} ACTIVE + {len(stopped)} SHUTOFF protected (flavor/image tagged "
          f"evacuable), 1 unprotected 'scratch' (stays: mode tagged-or-all), 1 on comp2")
    servers = {sid: "ACTIVE" for sid in active} | {sid: "SHUTOFF" for sid in stopped}

    host = lab.cluster.host("comp1")
    watched = [Watched(host, nova_host(1), servers)]
    say("Crashing comp1 (every process of the host killed; its BMC still says power on)")
    observer = Observer(lab.cluster, nova, watched)
    observer.start("host crashed (kernel panic: every process killed)")
    lab.cluster.kill_host("comp1")
    try:
        observer.wait(
            lambda t: t.first(ENABLED) is not None and t.first(STARTED) is not None,
            300,
            "comp1 back in service",
        )
    finally:
        timeline = observer.stop()
    say("Recovery timeline (seconds after the crash)")
    print(timeline.render())
    rto = max(e.at for e in timeline.kinds(INSTANCE)) - timeline.t0
    fenced = timeline.since(FENCED)
    print(f"\n   {len(servers)} protected instances back in {rto:.1f} s after the crash"
          + (f" ({rto - fenced:.1f} s after fencing completed)" if fenced is not None else ""))
    left = [s.name for s in nova.servers(1)]
    print(f"   left on {nova_host(1)}: {', '.join(left) or 'nothing'} "
          f"(unprotected: {len(plain)} server)")
    lab.wait_ready(timeout=180)
    network_loss(lab)
    say("Cluster now")
    print(lab.cluster.run(["crm_mon", "-1", "-A"]).stdout)
    if keep:
        print("The lab keeps running (cluster tools run inside a controller): "
              "lab/cluster/lab.sh ctl-exec 1 crm_mon -A, lab/cluster/lab.sh ctl-exec 1 "
              f"/usr/bin/python3 bin/instanceha status -i {lab.work / 'inventory.yaml'}; "
              "stop it with scripts/demo.sh stop")
    return 0


def network_loss(lab: E2ELab) -> None:
    """The controllers lose the network to comp2 and comp3: held, not powered off; back."""
    say("The controllers lose the network to comp2 and comp3 (the hosts and their servers "
        "are fine)")
    hosts = ["comp2", "comp3"]
    watched = [Watched(lab.cluster.host(h), nova_host(int(h[-1])), {}) for h in hosts]
    observer = Observer(lab.cluster, lab.nova, watched)
    observer.start("the controllers' network to the host failed")
    for h in hosts:
        lab.cluster.cut_host(h)
    try:
        observer.wait(lambda t: all(t.first(FENCING_HELD, h) for h in hosts), 120,
                      "fence_hold holding both power-offs")
        say("Both held: 2 of 3 computes unreachable at once is the network, not the hosts")
        print(lab.instanceha("status", "-i", str(lab.work / "inventory.yaml"), "--no-nova").stdout)
        for h in hosts:
            lab.cluster.restore_host(h)
        observer.wait(lambda t: all(t.first(ONLINE, h) for h in hosts), 180,
                      "both back without fencing")
    finally:
        timeline = observer.stop()
    say("Network loss timeline (no power-off, no evacuation)")
    print(timeline.render())


if __name__ == "__main__":
    sys.exit(main())
