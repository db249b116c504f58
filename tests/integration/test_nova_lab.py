"""Smoke tests of the Nova lab itself (``lab/nova``), not of instanceha's engine.

They prove what later tests rely on: the control plane answers, the seed
images and flavors exist, a crashed compute can be forced down and evacuated
from, a restarted compute completes its evacuations so it can be forced up,
and a compute can run under an external supervisor (``compute_ctl.sh exec``).
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
from typing import TYPE_CHECKING

import pytest

from labs.nova_lab import (
    FLAVOR_EVACUABLE,
    FLAVOR_PLAIN,
    IMAGE_EVACUABLE,
    IMAGE_PLAIN,
    LAB_DIR,
    NovaLab,
)

if TYPE_CHECKING:
    pass

pytestmark = [pytest.mark.integration, pytest.mark.lab]


@pytest.fixture
def lab(clean_nova_lab: NovaLab) -> NovaLab:
    """The session's lab, reset after the test (see conftest.clean_nova_lab)."""
    return clean_nova_lab


def _service(lab: NovaLab, host: str) -> object:
    return next(iter(lab.nova().services.list(host=host, binary="nova-compute")))


def test_control_plane_is_up_and_seeded(lab: NovaLab) -> None:
    nova = lab.nova()
    services = {s.host: s for s in nova.services.list(binary="nova-compute")}
    assert set(lab.hosts) <= set(services)
    for host in lab.hosts:
        assert (services[host].state, services[host].status) == ("up", "enabled")
        assert not services[host].forced_down
    hypervisors = {h.hypervisor_hostname for h in nova.hypervisors.list()}
    assert set(lab.hosts) <= hypervisors

    assert nova.flavors.find(name=FLAVOR_EVACUABLE).get_keys() == {"evacuable": "true"}
    assert nova.flavors.find(name=FLAVOR_PLAIN).get_keys() == {}
    image = {"service_type": "image", "interface": "public"}
    tagged = lab.session().get(f"/v2/images/{lab.image_id(IMAGE_EVACUABLE)}", endpoint_filter=image)
    plain = lab.session().get(f"/v2/images/{lab.image_id(IMAGE_PLAIN)}", endpoint_filter=image)
    assert tagged.json()["evacuable"] == "true"
    assert "evacuable" in tagged.json()["tags"]
    assert "evacuable" not in plain.json()
    assert plain.json()["tags"] == []

    for secret in (lab.clouds_yaml, lab.run_dir / "openrc"):
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600, secret
    assert lab.cloud_env()["OS_AUTH_URL"] == "http://127.0.0.1:5000/v3"


def test_crash_force_down_evacuate_and_recover(lab: NovaLab) -> None:
    from novaclient import exceptions

    nova = lab.nova()
    ids = lab.boot_servers("compute1", 3, flavor=FLAVOR_PLAIN, image=IMAGE_PLAIN)
    assert {s.id for s in lab.servers("compute1")} == set(ids)
    stopped = lab.boot_servers("compute2", 1, state="SHUTOFF")
    assert nova.servers.get(stopped[0]).status == "SHUTOFF"

    lab.kill_compute(1)
    assert not lab.compute_running(1)
    svc = _service(lab, "compute1")
    nova.services.force_down(svc.id, True)
    svc = _service(lab, "compute1")
    assert (svc.state, svc.forced_down) == ("down", True)

    nova.servers.evacuate(ids[0])

    def evacuated() -> object | None:
        server = nova.servers.get(ids[0])
        migrations = [m for m in lab.evacuations("compute1") if m["instance_uuid"] == ids[0]]
        done = bool(migrations) and migrations[-1]["status"] == "done"
        moved = getattr(server, "OS-EXT-SRV-ATTR:host") not in ("compute1", None)
        settled = server.status == "ACTIVE" and getattr(server, "OS-EXT-STS:task_state") is None
        return server if done and moved and settled else None

    server = lab.wait_for("evacuation of one server", evacuated, timeout=60)
    assert getattr(server, "OS-EXT-SRV-ATTR:host") in ("compute2", "compute3")

    # Nova refuses to force the host up while its evacuations are only "done"
    with pytest.raises(exceptions.BadRequest):
        nova.services.force_down(svc.id, False)

    lab.restore_host(1)
    svc = _service(lab, "compute1")
    assert (svc.state, svc.forced_down, svc.status) == ("up", False, "enabled")
    assert {m["status"] for m in lab.evacuations("compute1")} == {"completed"}
    remaining = {s.id for s in lab.servers("compute1")}
    assert remaining == set(ids[1:])


def test_compute_runs_under_an_external_supervisor(lab: NovaLab) -> None:
    ctl = ["bash", str(LAB_DIR / "compute_ctl.sh")]
    lab.stop_compute(3)
    env = lab._script_env()
    host = subprocess.Popen(  # a stand-in for a simulated host's process group
        [*ctl, "exec", "3"],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        lab.wait_for("compute3 under the supervisor", lambda: lab.compute_running(3), 30)
        lab.restore_host(3)  # waits for the new process's heartbeat
        assert lab.compute_running(3)
        status = subprocess.run(
            [*ctl, "status", "3"], env=env, capture_output=True, text=True, timeout=30, check=False
        )
        assert status.stdout.split() == ["running", str(host.pid)]

        os.killpg(host.pid, signal.SIGKILL)  # the simulated host powers off
        host.wait(timeout=30)
        assert not lab.compute_running(3)
        lab.script("start.sh", timeout=300)  # leaves an externally supervised compute alone
        assert not lab.compute_running(3)
    finally:
        if host.poll() is None:
            os.killpg(host.pid, signal.SIGKILL)
            host.wait(timeout=30)
    lab.restore_host(3)  # "start" takes the compute back
    assert lab.compute_running(3)
    assert not (lab.run_dir / "external" / "compute3").exists()
