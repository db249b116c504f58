"""Driver for the real Nova lab (``lab/nova``) used by integration tests and benchmarks.

:class:`NovaLab` installs, configures and starts the lab through its scripts
(reusing a lab that already runs), crashes and restarts computes, boots and
deletes servers, and puts hosts back into a clean state after an evacuation.
It talks to the cloud with novaclient and keystoneauth1, imported lazily:
Debian's ``python3-novaclient`` and ``python3-keystoneauth1`` under
``/usr/bin/python3`` (``lab/nova/install.sh`` installs them).  No pytest here,
so benchmarks can use it too.

Paths follow the lab's environment variables (``NOVALAB_HOME``,
``NOVALAB_VENV``, ``NOVALAB_RUN``), read when a :class:`NovaLab` is created.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, TypeVar

from labs.locks import exclusive_lock

__all__ = [
    "CLOUD_NAME",
    "FLAVOR_EVACUABLE",
    "FLAVOR_PLAIN",
    "IMAGE_EVACUABLE",
    "IMAGE_PLAIN",
    "LabError",
    "LabUnavailable",
    "NovaLab",
    "unavailable_reason",
]

ROOT = Path(__file__).resolve().parents[2]
LAB_DIR = ROOT / "lab" / "nova"
CLOUD_NAME = "instanceha-lab"
IMAGE_EVACUABLE = "lab-evacuable"  # image property evacuable=true and tag "evacuable"
IMAGE_PLAIN = "lab-plain"
FLAVOR_EVACUABLE = "lab.evacuable"  # extra spec evacuable=true
FLAVOR_PLAIN = "lab.plain"
DEFAULT_HOME = "/var/lib/instanceha-lab"
MICROVERSION = "2.74"  # services by UUID (2.53), migrations paging (2.59), boot host= (2.74)

_T = TypeVar("_T")


class LabError(RuntimeError):
    """The lab misbehaved: a script failed, or something did not happen in time."""


class LabUnavailable(LabError):
    """The lab cannot run on this machine (not root, no apt, install failed)."""


def unavailable_reason() -> str | None:
    """Why the Nova lab cannot be installed or run here, or None."""
    if os.geteuid() != 0:
        return "the Nova lab needs root (it installs packages and runs MariaDB/RabbitMQ)"
    for tool in ("bash", "setsid", "flock"):
        if shutil.which(tool) is None:
            return f"the Nova lab needs {tool}"
    if shutil.which("apt-get") is None or shutil.which("dpkg-query") is None:
        return "the Nova lab installs its packages with apt-get (Debian 12); not available here"
    return None


def _host(host: str | int) -> str:
    return f"compute{host}" if isinstance(host, int) else host


def _index(host: str | int) -> int:
    name = _host(host)
    if not name.startswith("compute") or not name[len("compute") :].isdigit():
        raise ValueError(f"not a lab compute host: {host!r}")
    return int(name[len("compute") :])


def _utc(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.rstrip("Z")).replace(tzinfo=UTC)


@dataclass
class NovaLab:
    """The lab of ``lab/nova``: control plane plus ``ncompute`` hosts compute1..N."""

    ncompute: int = 3
    home: Path = field(default_factory=lambda: Path(os.environ.get("NOVALAB_HOME", DEFAULT_HOME)))
    venv: Path | None = None
    run: Path | None = None
    started_here: bool = False
    _session: Any = field(default=None, repr=False)
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)
    _user_lock: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.venv is None:
            self.venv = Path(os.environ.get("NOVALAB_VENV", str(self.home / "nova-venv")))
        if self.run is None:
            self.run = Path(os.environ.get("NOVALAB_RUN", str(self.home / "nova")))

    # ------------------------------------------------------------ scripts

    @property
    def run_dir(self) -> Path:
        assert self.run is not None
        return self.run

    @property
    def hosts(self) -> list[str]:
        """The lab's compute host names."""
        return [f"compute{i}" for i in range(1, self.ncompute + 1)]

    @property
    def clouds_yaml(self) -> Path:
        """``clouds.yaml`` (mode 0600) with the cloud :data:`CLOUD_NAME`."""
        return self.run_dir / "clouds.yaml"

    def _script_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            NOVALAB_HOME=str(self.home),
            NOVALAB_VENV=str(self.venv),
            NOVALAB_RUN=str(self.run),
            NCOMPUTE=str(self.ncompute),
        )
        env.pop("NOVALAB_LOCKED", None)
        return env

    def script(self, name: str, *args: str, timeout: float = 600) -> str:
        """Run ``lab/nova/<name>`` and return its output; :class:`LabError` on failure."""
        try:
            done = subprocess.run(
                ["bash", str(LAB_DIR / name), *args],
                env=self._script_env(),
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise LabError(f"lab/nova/{name} {' '.join(args)}: timed out after {timeout}s") from exc
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).splitlines()[-25:])
            raise LabError(f"lab/nova/{name} {' '.join(args)} failed ({done.returncode}):\n{tail}")
        return done.stdout

    def is_running(self) -> bool:
        """Whether every control-plane service recorded by the lab still runs."""
        names = [
            "mariadb", "epmd", "rabbitmq", "keystone", "glance-api", "placement-api",
            "fake-neutron", "nova-conductor", "nova-scheduler", "nova-api",
        ]  # fmt: skip
        return all(self._pid_alive(name) is not None for name in names)

    def pid_of(self, name: str) -> int:
        """The pid of lab service ``name`` (e.g. ``nova-api``); LabError when it is not running."""
        pid = self._pid_alive(name)
        if pid is None:
            raise LabError(f"{name} is not running")
        return pid

    def _pid_alive(self, name: str) -> int | None:
        pids = self.run_dir / "pids"
        try:
            pid = int((pids / f"{name}.pid").read_text().strip())
            recorded = (pids / f"{name}.start").read_text().strip()
            stat = Path(f"/proc/{pid}/stat").read_text()
        except (OSError, ValueError):
            return None
        return pid if stat.rsplit(")", 1)[1].split()[19] == recorded else None

    def ensure_running(self) -> None:
        """Install, set up and start the lab as needed; a running lab is reused (~2 s)."""
        reason = unavailable_reason()
        if reason:
            raise LabUnavailable(reason)
        try:
            self.script("install.sh", timeout=1800)
        except LabError as exc:
            raise LabUnavailable(f"lab/nova/install.sh cannot run here: {exc}") from exc
        if not (self.run_dir / "openrc").exists():
            self.script("setup.sh")
        if not self.is_running():
            self.started_here = True
        self.script("start.sh", timeout=900)
        self._session = None
        self._clients.clear()

    def stop(self) -> None:
        """Stop every lab process (the lab's data stays for the next start)."""
        self.script("stop.sh", timeout=300)
        self._session = None
        self._clients.clear()

    @contextlib.contextmanager
    def exclusive(self, timeout: float = 1800) -> Iterator[None]:
        """Hold the lab for one user (e.g. one pytest session) at a time."""
        with exclusive_lock(self.home / ".nova-lab-user.lock", "the Nova lab", timeout):
            yield

    # ------------------------------------------------------------ computes

    def kill_compute(self, host: str | int) -> None:
        """SIGKILL nova-compute of ``host`` (a host crash); it stays "up" until forced down."""
        self.script("compute_ctl.sh", "kill", str(_index(host)), timeout=60)

    def stop_compute(self, host: str | int) -> None:
        """Stop nova-compute of ``host`` gracefully."""
        self.script("compute_ctl.sh", "stop", str(_index(host)), timeout=60)

    def start_compute(self, host: str | int) -> None:
        """Start nova-compute of ``host`` in the background (no-op when it runs)."""
        self.script("compute_ctl.sh", "start", str(_index(host)), timeout=60)

    def compute_running(self, host: str | int) -> bool:
        """Whether a nova-compute process of ``host`` runs, however it was started.

        Each lab compute holds an exclusive flock on its lock file for its life.
        """
        lock_path = self.run_dir / "pids" / f"nova-compute{_index(host)}.lock"
        try:
            lock = os.open(lock_path, os.O_RDONLY)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(lock, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(lock)
        return False

    def restore_host(self, host: str | int, timeout: float = 120) -> None:
        """Bring ``host`` back clean: compute running and reporting, its ``done``
        evacuations ``completed``, not forced down, enabled, up."""
        name = _host(host)
        nova = self.nova()
        since = datetime.now(UTC) - timedelta(seconds=1)
        restarted = False
        if not self.compute_running(name):
            self.start_compute(name)
            restarted = True
        elif any(m["status"] == "done" for m in self.evacuations(source=name)):
            # only a starting nova-compute completes the evacuations from its host
            self.kill_compute(name)
            self.start_compute(name)
            restarted = True

        def service() -> Any:
            return next(s for s in nova.services.list(host=name, binary="nova-compute"))

        if restarted:
            self.wait_reporting(name, since, timeout)
        self.wait_for(
            f"{name} evacuations completed",
            lambda: not [m for m in self.evacuations(source=name) if m["status"] == "done"],
            timeout,
        )
        svc = service()
        if svc.forced_down:
            nova.services.force_down(svc.id, False)
        if svc.status != "enabled":
            nova.services.enable(svc.id)
        self.wait_for(f"{name} up", lambda: service().state == "up", timeout)

    def wait_reporting(self, host: str | int, since: datetime, timeout: float = 120) -> None:
        """Until ``host``'s nova-compute has reported (heartbeat) at or after ``since``: until
        then the scheduler counts it up on the last heartbeat of a process that may be gone,
        and skips it once that is service_down_time old."""
        name = _host(host)

        def reported() -> bool:
            services = self.nova().services.list(host=name, binary="nova-compute")
            updated = _utc(services[0].updated_at) if services else None
            return updated is not None and updated >= since

        self.wait_for(f"{name} reporting", reported, timeout)

    def restore_all(self, timeout: float = 120) -> None:
        """Restore every host that is not running, up, unforced and enabled."""
        nova = self.nova()
        services = {s.host: s for s in nova.services.list(binary="nova-compute")}
        for host in self.hosts:
            svc = services.get(host)
            if (
                svc is None
                or not self.compute_running(host)
                or svc.forced_down
                or svc.status != "enabled"
                or svc.state != "up"
            ):
                self.restore_host(host, timeout)

    # ------------------------------------------------------------ clients

    def cloud_env(self) -> dict[str, str]:
        """The ``OS_*`` variables of the lab's ``openrc`` (Keystone password auth)."""
        env: dict[str, str] = {}
        for line in (self.run_dir / "openrc").read_text().splitlines():
            if line.startswith("export ") and "=" in line:
                key, _, value = line[len("export ") :].partition("=")
                env[key.strip()] = value.strip().strip("'\"")
        return env

    def session(self) -> Any:
        """A keystoneauth1 session authenticated as the lab's admin."""
        if self._session is None:
            from keystoneauth1 import session
            from keystoneauth1.identity import v3

            env = self.cloud_env()
            auth = v3.Password(
                auth_url=env["OS_AUTH_URL"],
                username=env["OS_USERNAME"],
                password=env["OS_PASSWORD"],
                project_name=env["OS_PROJECT_NAME"],
                user_domain_name=env["OS_USER_DOMAIN_NAME"],
                project_domain_name=env["OS_PROJECT_DOMAIN_NAME"],
            )
            self._session = session.Session(auth=auth)
        return self._session

    def nova(self, microversion: str = MICROVERSION) -> Any:
        """A novaclient Client at ``microversion`` (cached)."""
        if microversion not in self._clients:
            from novaclient import client

            self._clients[microversion] = client.Client(microversion, session=self.session())
        return self._clients[microversion]

    def compute_api(self, method: str, path: str, microversion: str = MICROVERSION) -> Any:
        """A raw compute API call; returns the decoded JSON body (or None)."""
        resp = self.session().request(
            path,
            method,
            endpoint_filter={"service_type": "compute", "interface": "public"},
            headers={"OpenStack-API-Version": f"compute {microversion}"},
        )
        return resp.json() if resp.content else None

    def evacuations(self, source: str | None = None) -> list[dict[str, Any]]:
        """Evacuation migration records (all pages), optionally from one source host."""
        migrations: list[dict[str, Any]] = []
        marker = ""
        while True:
            page = self.compute_api(
                "GET", f"/os-migrations?migration_type=evacuation&limit=500{marker}", "2.59"
            )["migrations"]
            migrations += page
            if len(page) < 500:
                break
            marker = f"&marker={page[-1]['uuid']}"
        return [m for m in migrations if source is None or m["source_compute"] == source]

    def image_id(self, name: str) -> str:
        """The Glance id of the image called ``name``."""
        resp = self.session().get(
            f"/v2/images?name={name}",
            endpoint_filter={"service_type": "image", "interface": "public"},
        )
        images = resp.json()["images"]
        if not images:
            raise LabError(f"no image {name!r} in the lab (start.sh seeds it)")
        return str(images[0]["id"])

    def flavor_id(self, name: str) -> str:
        """The id of the flavor called ``name``."""
        return str(self.nova().flavors.find(name=name).id)

    # ------------------------------------------------------------ servers

    def boot_servers(
        self,
        host: str | int,
        count: int = 1,
        *,
        flavor: str = FLAVOR_EVACUABLE,
        image: str = IMAGE_EVACUABLE,
        state: Literal["ACTIVE", "SHUTOFF"] = "ACTIVE",
        name: str | None = None,
        metadata: Mapping[str, str] | None = None,
        timeout: float = 120,
    ) -> list[str]:
        """Boot ``count`` servers on ``host`` (no networks) and wait for ``state``.

        Returns their ids.  ``flavor`` and ``image`` are names (see the module's
        constants).  One multi-create request; names ``<name>-1`` ... ``<name>-N``.
        """
        nova = self.nova()
        host = _host(host)
        name = name or f"lab-{host}-{uuid.uuid4().hex[:8]}"
        reservation = nova.servers.create(
            name,
            self.image_id(image),
            self.flavor_id(flavor),
            meta=dict(metadata or {}),
            nics="none",
            host=host,
            min_count=count,
            max_count=count,
            reservation_id=True,  # the reply is the reservation id, a string
        )
        search = {"reservation_id": str(reservation), "all_tenants": 1}

        def settled(status: str) -> list[str] | None:
            servers = nova.servers.list(search_opts=search, limit=-1)
            failed = [s for s in servers if s.status == "ERROR"]
            if failed:
                fault = getattr(failed[0], "fault", {}) or {}
                raise LabError(f"server {failed[0].id} went to ERROR: {fault.get('message')}")
            done = [
                s.id
                for s in servers
                if s.status == status and getattr(s, "OS-EXT-STS:task_state", None) is None
            ]
            return done if len(done) == count else None

        ids = self.wait_for(f"{count} servers ACTIVE on {host}", lambda: settled("ACTIVE"), timeout)
        if state == "SHUTOFF":
            for server_id in ids:
                nova.servers.stop(server_id)
            ids = self.wait_for(f"{count} servers SHUTOFF", lambda: settled("SHUTOFF"), timeout)
        return ids

    def wait_schedulable(self, host: str | int, timeout: float = 120) -> None:
        """Until a new server boots on ``host`` (then deleted). A host that has just come back
        (restarted, unforced, enabled) is skipped by the scheduler for a few seconds more,
        until nova-compute has synced its ``COMPUTE_STATUS_DISABLED`` trait to Placement."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                ids = self.boot_servers(host, 1, name="schedulable-probe", timeout=60)
            except LabError:
                for server in self.servers():
                    if server.name.startswith("schedulable-probe"):
                        self.nova().servers.delete(server.id)
                if time.monotonic() > deadline:
                    raise
                time.sleep(5)
                continue
            for server_id in ids:
                self.nova().servers.delete(server_id)
            self.wait_for(
                "probe deleted",
                lambda: not [s for s in self.servers(host) if s.name.startswith("schedulable")],
                60,
            )
            return

    def servers(self, host: str | int | None = None) -> list[Any]:
        """Every server of every project, optionally only those on ``host``."""
        search: dict[str, Any] = {"all_tenants": 1}
        if host is not None:
            search["host"] = _host(host)
        return list(self.nova().servers.list(search_opts=search, limit=-1))

    def delete_all_servers(self, timeout: float = 120) -> None:
        """Delete every server of every project and wait until they are gone."""
        from novaclient import exceptions

        nova = self.nova()
        for server in self.servers():
            with contextlib.suppress(exceptions.NotFound):
                nova.servers.delete(server.id)
        self.wait_for("all servers deleted", lambda: not self.servers(), timeout)

    def reset(self, timeout: float = 120) -> None:
        """A clean lab for the next test: every host restored, no servers."""
        self.restore_all(timeout)
        self.delete_all_servers(timeout)

    # ------------------------------------------------------------ helpers

    @staticmethod
    def wait_for(what: str, check: Callable[[], _T | None], timeout: float = 120) -> _T:
        """Poll ``check`` every 0.25 s until it returns a true value; return that value."""
        deadline = time.monotonic() + timeout
        while True:
            result = check()
            if result:
                return result
            if time.monotonic() > deadline:
                raise LabError(f"timed out after {timeout:.0f}s waiting for {what}")
            time.sleep(0.25)
