"""The Nova contract against the real Nova lab through NovaClient.

Needs the lab of ``lab/nova`` (installed and set up; ``start.sh`` is idempotent
and is run here when the project's ``nova_lab`` fixture is not available). The
harness talks to the lab through its documented interfaces only: the
``clouds.yaml`` it writes and ``compute_ctl.sh``. Each test leaves the lab as
it found it: servers deleted, computes running, services up and enabled.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import pytest
from contract.nova_contract import NovaContract

from instanceha.nova.client import NovaClient
from instanceha.nova.credentials import CloudConfig, resolve_credentials
from instanceha.nova.model import NovaError, NovaNotFound, NovaPort

pytestmark = [pytest.mark.integration, pytest.mark.lab]

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]
LAB = ROOT / "lab" / "nova"
NOVALAB_HOME = Path(os.environ.get("NOVALAB_HOME", "/var/lib/instanceha-lab"))
NOVALAB_RUN = Path(os.environ.get("NOVALAB_RUN", str(NOVALAB_HOME / "nova")))
NOVALAB_VENV = Path(os.environ.get("NOVALAB_VENV", str(NOVALAB_HOME / "nova-venv")))
CLOUD = "instanceha-lab"
HOSTS = ("compute1", "compute2", "compute3")
SECOND_PROJECT = "instanceha-contract-b"
IMAGE = "lab-evacuable"
FLAVOR = "lab.evacuable"
BOOT_MICROVERSION = "2.74"  # host= on create


def _lab_missing() -> str | None:
    if os.geteuid() != 0:
        return "the Nova lab needs root"
    if not (NOVALAB_VENV / "bin" / "nova-compute").exists():
        return f"Nova lab not installed ({NOVALAB_VENV}): run lab/nova/install.sh"
    if not (NOVALAB_RUN / "clouds.yaml").exists():
        return f"Nova lab not set up ({NOVALAB_RUN}): run lab/nova/setup.sh"
    return None


@pytest.fixture(scope="module")
def lab_config(request: pytest.FixtureRequest) -> CloudConfig:
    """Credentials of a running lab (started by ``nova_lab`` or by start.sh here)."""
    try:
        request.getfixturevalue("nova_lab")
    except pytest.FixtureLookupError:
        reason = _lab_missing()
        if reason:
            pytest.skip(reason)
        done = subprocess.run(
            ["bash", str(LAB / "start.sh")],
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        if done.returncode != 0:
            pytest.fail(f"lab/nova/start.sh failed: {done.stderr[-2000:]}")
    env = {"OS_CLIENT_CONFIG_FILE": str(NOVALAB_RUN / "clouds.yaml")}
    return resolve_credentials(cloud=CLOUD, env=env)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RealHarness:
    """Drives the lab: boots with a raw keystoneauth session, crashes computes by script."""

    page_size = 2

    def __init__(self, config: CloudConfig) -> None:
        self.config = config
        self.client = NovaClient(config, page_size=self.page_size)
        self.nova: NovaPort = self.client
        self.hosts = HOSTS
        self.created: list[str] = []
        self._sessions: dict[int, Any] = {}
        self._ids: dict[str, str] = {}

    # --------------------------------------------------------------- sessions

    def _session(self, project: int) -> Any:
        if project not in self._sessions:
            from keystoneauth1 import session
            from keystoneauth1.identity import v3

            name = self.config.project_name if project == 0 else SECOND_PROJECT
            if project != 0:
                self._ensure_second_project()
            auth = v3.Password(
                auth_url=self.config.auth_url,
                username=self.config.username,
                password=self.config.password,
                user_domain_name=self.config.user_domain_name,
                project_name=name,
                project_domain_name=self.config.project_domain_name,
            )
            self._sessions[project] = session.Session(auth=auth)
        return self._sessions[project]

    def _api(
        self, method: str, path: str, project: int = 0, service: str = "compute", **kw: Any
    ) -> Any:
        sess = self._session(project)
        headers = {"OpenStack-API-Version": f"compute {BOOT_MICROVERSION}"}
        resp = sess.request(
            path,
            method,
            endpoint_filter={"service_type": service, "interface": "public"},
            headers=headers,
            raise_exc=False,
            **kw,
        )
        if resp.status_code >= 400:
            raise AssertionError(f"{method} {path}: HTTP {resp.status_code} {resp.text[:300]}")
        return resp.json() if resp.content else None

    def _ensure_second_project(self) -> None:
        admin = self._session(0)
        ident = {"service_type": "identity", "interface": "public"}

        def get(path: str) -> Any:
            return admin.get(path, endpoint_filter=ident).json()

        found = get(f"/v3/projects?name={SECOND_PROJECT}")["projects"]
        if found:
            project_id = found[0]["id"]
        else:
            body = {"project": {"name": SECOND_PROJECT, "domain_id": "default"}}
            project_id = admin.post("/v3/projects", json=body, endpoint_filter=ident).json()[
                "project"
            ]["id"]
        role_id = get("/v3/roles?name=admin")["roles"][0]["id"]
        user_id = admin.get_user_id()
        admin.put(
            f"/v3/projects/{project_id}/users/{user_id}/roles/{role_id}", endpoint_filter=ident
        )

    def _lookup(self, kind: str, name: str) -> str:
        if name not in self._ids:
            if kind == "image":
                doc = self._api("GET", f"/v2/images?name={name}", service="image")
                self._ids[name] = doc["images"][0]["id"]
            else:
                doc = self._api("GET", "/flavors")
                self._ids[name] = next(f["id"] for f in doc["flavors"] if f["name"] == name)
        return self._ids[name]

    # ---------------------------------------------------------------- harness

    def boot(
        self, host: str, count: int = 1, *, stopped: bool = False, project: int = 0
    ) -> list[str]:
        image, flavor = self._lookup("image", IMAGE), self._lookup("flavor", FLAVOR)
        ids = []
        for i in range(count):
            body = {
                "server": {
                    "name": f"contract-{host}-{len(self.created) + i}",
                    "imageRef": image,
                    "flavorRef": flavor,
                    "networks": "none",
                    "host": host,
                }
            }
            ids.append(self._api("POST", "/servers", project, json=body)["server"]["id"])
        self.created += ids
        for sid in ids:
            self.wait(f"{sid} ACTIVE", lambda s=sid: self._settled(s, "ACTIVE"))
        if stopped:
            for sid in ids:
                self.client.stop_server(sid)
            for sid in ids:
                self.wait(f"{sid} SHUTOFF", lambda s=sid: self._settled(s, "SHUTOFF"))
        return ids

    def _settled(self, sid: str, status: str) -> bool:
        server = self.client.get_server(sid)
        if server.status == "ERROR":
            raise AssertionError(f"server {sid} went to ERROR")
        return server.status == status and server.task_state is None

    def _compute_ctl(self, action: str, host: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(LAB / "compute_ctl.sh"), action, host.removeprefix("compute")],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def crash_compute(self, host: str) -> None:
        done = self._compute_ctl("kill", host)
        assert done.returncode == 0, done.stderr

    def restart_compute(self, host: str) -> None:
        done = self._compute_ctl("start", host)
        assert done.returncode == 0, done.stderr

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

    # ---------------------------------------------------------------- cleanup

    def cleanup(self) -> None:
        """Delete our servers; every compute running, up, not forced down, enabled."""
        for sid in self.created:
            try:
                self._api("DELETE", f"/servers/{sid}")
            except AssertionError:
                pass
        for sid in self.created:
            self.wait(f"{sid} deleted", lambda s=sid: self._gone(s))
        for host in self.hosts:
            if self._compute_ctl("status", host).returncode != 0:
                self.restart_compute(host)
            svc = self.client.list_compute_services(host)[0]
            if svc.forced_down:
                self.wait(f"{host} evacuations completed", lambda h=host: self._unforced(h))
            if svc.status != "enabled":
                self.client.enable(host)
            self.wait(
                f"{host} up", lambda h=host: self.client.list_compute_services(h)[0].state == "up"
            )

    def _gone(self, sid: str) -> bool:
        try:
            self.client.get_server(sid)
        except NovaNotFound:
            return True
        return False

    def _unforced(self, host: str) -> bool:
        try:
            self.client.unforce_down(host)
        except NovaError:
            return False
        return True


class TestRealNovaContract(NovaContract):
    @pytest.fixture
    def harness(self, lab_config: CloudConfig) -> Iterator[RealHarness]:
        harness = RealHarness(lab_config)
        harness.cleanup()  # a previous run may have been interrupted
        for host in HOSTS:
            assert not harness.client.list_servers_on_host(host), f"{host} is not empty"
        try:
            yield harness
        finally:
            harness.cleanup()
