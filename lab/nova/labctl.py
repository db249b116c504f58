"""Control-plane chores for the Nova lab, run by ``start.sh`` with the lab venv's python.

Usage (credentials come from the ``OS_*`` variables of ``$NOVALAB_RUN/openrc``)::

    labctl.py catalog                     register compute/placement/image/network endpoints
    labctl.py ready [--fresh H,H] H ...   wait until computes H report, map them, seed
    labctl.py seed                        images, flavors and quotas used by the tests
    labctl.py prune --keep N              delete the services of hosts computeK, K > N

``ready`` counts a compute as running when it is up or deliberately forced
down; hosts given with ``--fresh`` were just (re)started and must have
reported after this command began (a record from a previous run still looks
"up" for ``service_down_time`` seconds).  ``seed`` is idempotent and creates:

* image ``lab-evacuable`` (property ``evacuable=true`` and tag ``evacuable``)
  and image ``lab-plain`` (neither), 1 KiB raw;
* flavor ``lab.evacuable`` (extra spec ``evacuable=true``) and flavor
  ``lab.plain`` (no extra specs), 1 vCPU, 64 MiB, 1 GiB disk;
* unlimited instances, cores and RAM quotas for the admin project.
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

__all__ = ["main"]

LAB_HOST = "127.0.0.1"
IMAGE_EVACUABLE = "lab-evacuable"
IMAGE_PLAIN = "lab-plain"
FLAVOR_EVACUABLE = "lab.evacuable"
FLAVOR_PLAIN = "lab.plain"


def _session() -> Any:
    from keystoneauth1 import session
    from keystoneauth1.identity import v3

    auth = v3.Password(
        auth_url=os.environ["OS_AUTH_URL"],
        username=os.environ["OS_USERNAME"],
        password=os.environ["OS_PASSWORD"],
        project_name=os.environ["OS_PROJECT_NAME"],
        user_domain_name=os.environ.get("OS_USER_DOMAIN_NAME", "Default"),
        project_domain_name=os.environ.get("OS_PROJECT_DOMAIN_NAME", "Default"),
    )
    return session.Session(auth=auth)


def _nova(sess: Any, version: str = "2.53") -> Any:
    from novaclient import client

    return client.Client(version, session=sess)


def _until(predicate: Callable[[], bool], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"labctl: timeout after {timeout:.0f}s waiting for {what}")
        time.sleep(0.5)


def catalog(sess: Any) -> None:
    """Register the lab's service endpoints in Keystone (idempotent)."""
    services = [
        ("nova", "compute", f"http://{LAB_HOST}:{os.environ['NOVA_PORT']}/v2.1"),
        ("placement", "placement", f"http://{LAB_HOST}:{os.environ['PLACEMENT_PORT']}"),
        ("glance", "image", f"http://{LAB_HOST}:{os.environ['GLANCE_PORT']}"),
        ("neutron", "network", f"http://{LAB_HOST}:{os.environ['NEUTRON_PORT']}"),
    ]
    identity = {"service_type": "identity", "interface": "public"}
    existing = {
        s["type"]: s for s in sess.get("/services", endpoint_filter=identity).json()["services"]
    }
    for name, stype, url in services:
        svc = existing.get(stype)
        if svc is None:
            body = {"service": {"name": name, "type": stype, "enabled": True}}
            svc = sess.post("/services", endpoint_filter=identity, json=body).json()["service"]
        query = f"/endpoints?service_id={svc['id']}"
        endpoints = sess.get(query, endpoint_filter=identity).json()["endpoints"]
        have = {e["interface"] for e in endpoints}
        for interface in ("public", "internal", "admin"):
            if interface not in have:
                endpoint = {
                    "service_id": svc["id"],
                    "interface": interface,
                    "url": url,
                    "region_id": "RegionOne",
                    "enabled": True,
                }
                sess.post("/endpoints", endpoint_filter=identity, json={"endpoint": endpoint})
        print(f"labctl: catalog {stype:<9} {url}")


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.rstrip("Z"))


def _check_process(host: str) -> None:
    """Fail fast when the nova-compute process of ``host`` has died."""
    run = os.environ["NOVALAB_RUN"]
    name = "nova-" + host
    try:
        with open(os.path.join(run, "pids", name + ".pid"), encoding="ascii") as f:
            os.kill(int(f.read().strip()), 0)
    except (OSError, ValueError):
        log = os.path.join(run, "log", name + ".log")
        raise SystemExit(f"labctl: {name} is not running, see {log}") from None


def ready(sess: Any, hosts: list[str], fresh: list[str], timeout: float) -> None:
    """Wait until ``hosts`` run and are mapped as hypervisors, then seed."""
    nova = _nova(sess)
    since = datetime.utcnow() - timedelta(seconds=1)
    t0 = time.monotonic()

    def computes_running() -> bool:
        for host in fresh:
            _check_process(host)
        services = {s.host: s for s in nova.services.list(binary="nova-compute")}
        for host in hosts:
            svc = services.get(host)
            if svc is None:
                return False
            if host in fresh:
                updated = _parse_time(svc.updated_at)
                if updated is None or updated < since:
                    return False
            elif svc.state != "up" and not svc.forced_down:
                return False
        return True

    _until(computes_running, f"nova-compute on {' '.join(hosts)}", timeout)
    t_up = time.monotonic() - t0

    def mapped() -> bool:
        names = {h.hypervisor_hostname for h in nova.hypervisors.list(detailed=False)}
        return set(hosts) <= names

    if hosts and not mapped():
        subprocess.run(
            [
                os.path.join(os.environ["NOVALAB_VENV"], "bin", "nova-manage"),
                "--config-file",
                os.path.join(os.environ["NOVALAB_RUN"], "etc", "nova.conf"),
                "cell_v2",
                "discover_hosts",
            ],
            capture_output=True,
            check=False,
            timeout=120,
        )
        _until(mapped, "hypervisors", timeout)
    print(
        f"labctl: {len(hosts)} computes running after {t_up:.1f}s, "
        f"mapped after {time.monotonic() - t0:.1f}s"
    )
    seed(sess)


def _ensure_image(sess: Any, name: str, evacuable: bool) -> str:
    image = {"service_type": "image", "interface": "public"}
    found = sess.get(f"/v2/images?name={name}", endpoint_filter=image).json()["images"]
    active = [i for i in found if i["status"] == "active"]
    if active:
        return str(active[0]["id"])
    for stale in found:
        sess.delete(f"/v2/images/{stale['id']}", endpoint_filter=image)
    body: dict[str, Any] = {
        "name": name,
        "disk_format": "raw",
        "container_format": "bare",
        "visibility": "public",
    }
    if evacuable:
        body["evacuable"] = "true"
        body["tags"] = ["evacuable"]
    image_id = str(sess.post("/v2/images", endpoint_filter=image, json=body).json()["id"])
    sess.put(
        f"/v2/images/{image_id}/file",
        endpoint_filter=image,
        data=io.BytesIO(b"\0" * 1024),
        headers={"Content-Type": "application/octet-stream"},
    )
    return image_id


def _ensure_flavor(nova: Any, name: str, extra_specs: dict[str, str]) -> str:
    matches = [f for f in nova.flavors.list(is_public=None) if f.name == name]
    flavor = matches[0] if matches else nova.flavors.create(name, ram=64, vcpus=1, disk=1)
    current = flavor.get_keys()
    stray = [k for k in current if k not in extra_specs]
    if stray:
        flavor.unset_keys(stray)
    if any(current.get(k) != v for k, v in extra_specs.items()):
        flavor.set_keys(extra_specs)
    return str(flavor.id)


def seed(sess: Any) -> None:
    """Create the lab's images, flavors and unlimited admin quotas (idempotent)."""
    nova = _nova(sess, "2.61")
    nova.quotas.update(sess.get_project_id(), instances=-1, cores=-1, ram=-1)
    images = {
        IMAGE_EVACUABLE: _ensure_image(sess, IMAGE_EVACUABLE, evacuable=True),
        IMAGE_PLAIN: _ensure_image(sess, IMAGE_PLAIN, evacuable=False),
    }
    flavors = {
        FLAVOR_EVACUABLE: _ensure_flavor(nova, FLAVOR_EVACUABLE, {"evacuable": "true"}),
        FLAVOR_PLAIN: _ensure_flavor(nova, FLAVOR_PLAIN, {}),
    }
    print(f"labctl: seeded images {images} flavors {flavors}")


def prune(sess: Any, keep: int) -> None:
    """Delete the compute services of hosts ``computeK`` with ``K > keep``."""
    nova = _nova(sess)
    for svc in nova.services.list(binary="nova-compute"):
        suffix = svc.host.removeprefix("compute")
        if suffix.isdigit() and int(suffix) > keep:
            try:
                nova.services.delete(svc.id)
                print(f"labctl: deleted service of {svc.host}")
            except Exception as exc:  # keep going: report every host that cannot go
                print(f"labctl: cannot delete {svc.host}: {exc}", file=sys.stderr)


def main(argv: list[str]) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="labctl.py", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("catalog")
    sub.add_parser("seed")
    p_ready = sub.add_parser("ready")
    p_ready.add_argument("hosts", nargs="*")
    p_ready.add_argument("--fresh", default="", help="comma-separated hosts just started")
    p_ready.add_argument("--timeout", type=float, default=120)
    p_prune = sub.add_parser("prune")
    p_prune.add_argument("--keep", type=int, required=True)
    args = parser.parse_args(argv)

    sess = _session()
    if args.command == "catalog":
        catalog(sess)
    elif args.command == "seed":
        seed(sess)
    elif args.command == "ready":
        fresh = [h for h in args.fresh.split(",") if h]
        ready(sess, args.hosts, fresh, args.timeout)
    else:
        prune(sess, args.keep)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
