"""The Nova contract against the real Nova lab through NovaClient.

The project's ``nova_lab`` fixture (``tests/labs/nova_lab.py``) starts the lab
and holds it for this session; the harness boots with it, crashes and
restarts computes with it, and calls ``reset()`` after each test (no servers,
every host running, up, unforced and enabled). Only project-b servers (for the
across-projects listing) are booted here, through a session scoped to a second
project this module creates once.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

from contract.nova_contract import NovaContract
from instanceha.nova.client import NovaClient
from instanceha.nova.credentials import CloudConfig, resolve_credentials
from instanceha.nova.model import NovaPort

if TYPE_CHECKING:
    from labs.nova_lab import NovaLab

pytestmark = [pytest.mark.integration, pytest.mark.lab]

T = TypeVar("T")
SECOND_PROJECT = "instanceha-contract-b"
BOOT_MICROVERSION = "2.74"  # host= on create


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RealHarness:
    """Drives the lab through NovaLab; the port under test is a NovaClient."""

    page_size = 2

    def __init__(self, lab: NovaLab) -> None:
        from labs.nova_lab import CLOUD_NAME

        self.lab = lab
        env = {"OS_CLIENT_CONFIG_FILE": str(lab.clouds_yaml)}
        self.config: CloudConfig = resolve_credentials(cloud=CLOUD_NAME, env=env)
        self.client = NovaClient(self.config, page_size=self.page_size)
        self.nova: NovaPort = self.client
        hosts = lab.hosts
        self.hosts = (hosts[0], hosts[1], hosts[2])
        self._project_b: Any = None

    # ------------------------------------------------------- second project

    def _second_project_session(self) -> Any:
        """A session scoped to project b, where the lab's admin is admin too."""
        if self._project_b is None:
            from keystoneauth1 import session
            from keystoneauth1.identity import v3

            admin = self.lab.session()
            base = self.config.auth_url.rstrip("/")
            found = admin.get(f"{base}/projects?name={SECOND_PROJECT}").json()["projects"]
            if found:
                project_id = found[0]["id"]
            else:
                body = {"project": {"name": SECOND_PROJECT, "domain_id": "default"}}
                project_id = admin.post(f"{base}/projects", json=body).json()["project"]["id"]
            role_id = admin.get(f"{base}/roles?name=admin").json()["roles"][0]["id"]
            user_id = admin.get_user_id()
            admin.put(f"{base}/projects/{project_id}/users/{user_id}/roles/{role_id}")
            auth = v3.Password(
                auth_url=self.config.auth_url,
                username=self.config.username,
                password=self.config.password,
                user_domain_name=self.config.user_domain_name,
                project_name=SECOND_PROJECT,
                project_domain_name=self.config.project_domain_name,
            )
            self._project_b = session.Session(auth=auth)
        return self._project_b

    def _boot_in_second_project(self, host: str, count: int) -> list[str]:
        from labs.nova_lab import FLAVOR_EVACUABLE, IMAGE_EVACUABLE

        sess = self._second_project_session()
        image, flavor = self.lab.image_id(IMAGE_EVACUABLE), self.lab.flavor_id(FLAVOR_EVACUABLE)
        ids = []
        for i in range(count):
            server = {
                "name": f"contract-b-{host}-{i}",
                "imageRef": image,
                "flavorRef": flavor,
                "networks": "none",
                "host": host,
            }
            resp = sess.post(
                "/servers",
                json={"server": server},
                endpoint_filter={"service_type": "compute", "interface": "public"},
                headers={"OpenStack-API-Version": f"compute {BOOT_MICROVERSION}"},
            )
            ids.append(resp.json()["server"]["id"])
        for sid in ids:
            self.wait(f"{sid} ACTIVE", partial(self._settled, sid, "ACTIVE"))
        return ids

    # ---------------------------------------------------------------- harness

    def boot(
        self, host: str, count: int = 1, *, stopped: bool = False, project: int = 0
    ) -> list[str]:
        if project == 0:
            if stopped:
                return self.lab.boot_servers(host, count, state="SHUTOFF")
            return self.lab.boot_servers(host, count)
        ids = self._boot_in_second_project(host, count)
        if stopped:
            for sid in ids:
                self.client.stop_server(sid)
            for sid in ids:
                self.wait(f"{sid} SHUTOFF", partial(self._settled, sid, "SHUTOFF"))
        return ids

    def _settled(self, sid: str, status: str) -> bool:
        server = self.client.get_server(sid)
        if server.status == "ERROR":
            raise AssertionError(f"server {sid} went to ERROR")
        return server.status == status and server.task_state is None

    def crash_compute(self, host: str) -> None:
        self.lab.kill_compute(host)

    def restart_compute(self, host: str) -> None:
        """Start it and wait for a heartbeat newer than the start: until then Nova may
        still show the dead process's last report as "up", and builds on it fail."""
        started = datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=1)
        self.lab.start_compute(host)
        self.wait(f"{host} heartbeat", partial(self._reported_since, host, started))

    def _reported_since(self, host: str, since: datetime) -> bool:
        doc = self.lab.compute_api("GET", f"/os-services?binary=nova-compute&host={host}")
        stamp = doc["services"][0].get("updated_at")
        return bool(stamp) and datetime.fromisoformat(stamp).replace(tzinfo=None) >= since

    def wait(self, what: str, check: Callable[[], T | None], timeout: float = 90.0) -> T:
        deadline = time.monotonic() + timeout
        while True:
            result = check()
            if result is not None and result is not False:
                return result
            if time.monotonic() >= deadline:
                pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
            time.sleep(0.2)

    def bad_credentials(self) -> NovaPort:
        return NovaClient(replace(self.config, password="not-the-password"))

    def unreachable(self) -> NovaPort:
        url = f"http://127.0.0.1:{_closed_port()}/v3"
        return NovaClient(replace(self.config, auth_url=url, connect_timeout=2.0))


class TestRealNovaContract(NovaContract):
    @pytest.fixture
    def harness(self, clean_nova_lab: NovaLab) -> RealHarness:
        return RealHarness(clean_nova_lab)
