"""The end-to-end lab: the cluster lab's hosts run the Nova lab's computes under our agents.

Host ``compN`` of the cluster lab (a network namespace, pacemaker-remoted, an ``ipmi_sim``
BMC whose power-off kills everything the host runs) becomes the Nova lab's ``computeN``:

* its hostname is ``computeN`` (the cluster lab's ``CLUSTER_LAB_HOSTNAME_PREFIX``), so a
  nova-compute started there with the shared overlay :data:`OVERLAY` gets ``host =
  computeN``, its state, locks and log by ``$host`` interpolation, and keeps its compute
  node UUID;
* ``loopback_bridge.py``, one of the host's extra commands, makes the Nova lab's loopback
  services (RabbitMQ, Keystone, Nova, Placement, Glance, Neutron) reachable on the host's
  own 127.0.0.1;
* the Nova lab lets go of ``computeN`` (``compute_ctl.sh release``): from then on only
  ``ocf:instanceha:NovaCompute`` on ``compN`` starts it.

Every controller ``ctlN`` (one, or three with ``controllers=3``) gets the same
``loopback_bridge.py``, so what our agents run there (NovaEvacuate's worker, fence_nova, the
post-fence alert, the ``instanceha`` CLI through :meth:`E2ELab.instanceha`) reaches the Nova lab
on its own 127.0.0.1. With more than one controller the inventory lists each with its BMC, so
the rendered configuration fences a lost controller.

The configuration is what an admin gets: an inventory (:meth:`E2ELab.inventory`) rendered by
``instanceha cib render --pcs`` and applied with ``pcs -f`` + ``cib-push``. Node ``compN`` maps
to Nova host ``computeN`` through the inventory's ``nova_host`` (rendered as ``host_map``).
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from instanceha.cluster.attribute_names import (
    EVACUATE_ATTRIBUTE,
    FENCING_HOLD_ATTRIBUTE,
    HOLD_ATTRIBUTE,
)
from labs.agents import install_project
from labs.cluster_lab import ClusterLab, ClusterStatus, LabHost
from labs.nova_lab import LabError, NovaLab

ROOT = Path(__file__).resolve().parents[2]
INSTANCEHA = ROOT / "bin" / "instanceha"
#: Nova lab services a compute host needs on its own loopback (nova-compute reaches for the
#: database once at start even though it may not use it).
BRIDGED_PORTS = (5672, 5000, 8774, 8778, 9292, 9696, 3306)
OVERLAY = """\
# nova-compute on an end-to-end lab host: host = the host's hostname (computeN); ${{host}}, not
# $host: oslo.config reads "$host.log" as option "log" of group "host"
[DEFAULT]
state_path = {run}/state/${{host}}
instances_path = $state_path/instances
log_file = {run}/log/nova-${{host}}.log
[oslo_concurrency]
lock_path = $state_path/locks
"""


def nova_host(index: int) -> str:
    """The Nova host name of lab host ``compN``."""
    return f"compute{index}"


@dataclass
class E2ELab:
    """Cluster lab + Nova lab + our agents, configured from an inventory."""

    nova: NovaLab
    hosts: int = 3
    controllers: int = 1
    poll_interval: int = 1
    max_parallel: int = 20
    mass_failure_hosts: int = 0
    cluster: ClusterLab = field(init=False)
    timings: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.nova.ncompute < self.hosts:
            raise LabError(f"the Nova lab has {self.nova.ncompute} computes, {self.hosts} needed")
        bridge = (
            '/usr/bin/python3 "$LAB_DIR/bin/loopback_bridge.py" "$HOST_NETNS" '
            + " ".join(str(p) for p in BRIDGED_PORTS)
        )
        self.cluster = ClusterLab(
            hosts=self.hosts,
            controllers=self.controllers,
            env={
                "CLUSTER_LAB_HOSTNAME_PREFIX": "compute",
                "HOST_EXTRA_CMD": bridge,
                "CTL_EXTRA_CMD": bridge,
            },
        )

    # -- paths -------------------------------------------------------------------

    @property
    def overlay(self) -> Path:
        return self.nova.run_dir / "etc" / "nova-compute-e2e.conf"

    @property
    def work(self) -> Path:
        """Generated inventory, pcs script and CIB of the running lab."""
        return self.nova.home / "e2e"

    @property
    def metrics_file(self) -> Path:
        """NovaEvacuate's Prometheus textfile (the lab directory is shared by the controllers)."""
        return self.work / "metrics" / "instanceha.prom"

    def node(self, index: int) -> str:
        return f"comp{index}"

    # -- lifecycle ---------------------------------------------------------------

    def start(self) -> E2ELab:
        """Hand the computes to the cluster, start it and configure instance HA."""
        t0 = time.monotonic()
        install_project()
        self.overlay.write_text(OVERLAY.format(run=self.nova.run_dir))
        self.overlay.chmod(0o600)
        for i in range(1, self.hosts + 1):
            self.nova.script("compute_ctl.sh", "release", str(i), timeout=60)
        self.cluster.start()
        self.timings["cluster"] = time.monotonic() - t0
        self.configure()
        self.wait_ready(timeout=180)
        self.timings["ready"] = time.monotonic() - t0
        return self

    def stop(self) -> None:
        """Stop the cluster (and with it every host) and give the computes back to the Nova lab."""
        try:
            self.cluster.stop()
        finally:
            since = datetime.now(UTC) - timedelta(seconds=1)
            for i in range(1, self.hosts + 1):
                self.nova.script("compute_ctl.sh", "start", str(i), timeout=60)
            self.nova.reset()
            for i in range(1, self.hosts + 1):  # the next user may boot on any of them at once
                self.nova.wait_reporting(i, since)  # not on the cluster's process's heartbeat
                self.nova.wait_schedulable(i)

    @contextmanager
    def running(self) -> Iterator[E2ELab]:
        with self.cluster.exclusive():
            self.start()
            try:
                yield self
            finally:
                self.stop()

    # -- configuration -----------------------------------------------------------

    def inventory(self) -> dict[str, Any]:
        """The inventory of the lab, as an admin would write it."""
        clouds = str(self.nova.clouds_yaml)
        venv = self.nova.venv
        etc = self.nova.run_dir / "etc"
        computes = [
            {"name": h.name, "address": h.address, "nova_host": nova_host(h.index), "bmc": _bmc(h)}
            for h in self.cluster.hosts
        ]
        # a single controller cannot be fenced by anyone: no device for it
        controllers = [
            {"name": c.name, **({"bmc": _bmc(c)} if self.controllers > 1 else {})}
            for c in self.cluster.controllers
        ]
        return {
            "cloud": "instanceha-lab",
            "controllers": controllers,
            "remote": {
                "reconnect_interval": "10s",
                "monitor_interval": "5s",
                "monitor_timeout": "10s",
            },
            "bmc_defaults": {
                "username": self.cluster.hosts[0].bmc_user,
                "options": {"cipher": 3, "power_wait": 1},
            },
            "evacuation": {
                "mode": "tagged-or-all",
                "max_parallel": self.max_parallel,
                "mass_failure_hosts": self.mass_failure_hosts,
            },
            "agents": {
                "libvirtd": {"params": {"service_manager": "direct"}},
                "nova_compute": {
                    "params": {
                        "clouds_yaml": clouds,
                        "service_manager": "direct",
                        "binary": f"{venv}/bin/nova-compute",
                        "config_files": f"{etc}/nova.conf {self.overlay}",
                        "log_file": f"{self.nova.run_dir}/log/nova-compute-e2e.out",
                    },
                },
                "nova_evacuate": {
                    "params": {"clouds_yaml": clouds, "poll_interval": self.poll_interval,
                               "metrics_file": str(self.metrics_file)}
                },
                "fence_nova": {"params": {"clouds_yaml": clouds}},
            },
            "computes": computes,
        }

    def configure(self) -> None:
        """Render the inventory with ``instanceha cib render --pcs`` and apply it."""
        self.work.mkdir(parents=True, exist_ok=True)
        self.work.chmod(0o700)
        self.metrics_file.parent.mkdir(mode=0o755, exist_ok=True)
        inventory = self.work / "inventory.yaml"
        inventory.write_text(json.dumps(self.inventory(), indent=2))  # YAML is a JSON superset
        script = self.work / "setup.sh"
        self.instanceha("cib", "render", "-i", str(inventory), "--pcs", "-o", str(script),
                        check=True, timeout=300)  # fmt: skip
        with tempfile.TemporaryDirectory(prefix="e2e-cib-") as tmp:
            cib = Path(tmp) / "cib.xml"
            self.cluster.pcs("cluster", "cib", str(cib))
            self.cluster.run(["sh", str(script), str(cib)], timeout=300)
            self.cluster.pcs("cluster", "cib-push", str(cib), "--config")

    def wait_ready(self, timeout: float = 180) -> None:
        """Every host online with libvirtd and nova-compute started, the evacuator running,
        every Nova compute up, enabled and not forced down."""
        names = [h.name for h in self.cluster.hosts]
        self.cluster.wait_hosts_online(names, timeout=timeout, settle=False)

        def started() -> bool:
            st = self.cluster.crm_mon()
            return all(self.service_started(st, n) for n in names) and bool(
                st.running_on("nova-evacuate")
            )

        self.cluster.wait_for(started, timeout, "nova-compute on every host and the evacuator")
        self.nova.wait_for(
            "every Nova compute up and enabled",
            lambda: all(self.nova_service_ok(i) for i in range(1, self.hosts + 1)),
            timeout,
        )

    def instanceha(
        self, *args: str, check: bool = False, timeout: float = 120, node: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """The ``instanceha`` CLI of this tree, run on a controller (default: the lab driver's
        choice) as an admin would."""
        return self.cluster.run(["/usr/bin/python3", str(INSTANCEHA), *args], node=node,
                                check=check, timeout=timeout)  # fmt: skip

    # -- observation ---------------------------------------------------------------

    def service_started(self, status: ClusterStatus, node: str) -> bool:
        return node in status.running_on("nova-compute")

    def nova_service(self, index: int) -> Any:
        services = self.nova.nova().services.list(host=nova_host(index), binary="nova-compute")
        return services[0] if services else None

    def nova_service_ok(self, index: int) -> bool:
        svc = self.nova_service(index)
        return (
            svc is not None
            and svc.state == "up"
            and svc.status == "enabled"
            and not svc.forced_down
        )

    def request(self, index: int) -> str | None:
        """The durable evacuation request attribute of ``compN`` (None when absent)."""
        done = self.cluster.run(
            ["crm_attribute", "-N", self.node(index), "-n", EVACUATE_ATTRIBUTE, "-l", "forever",
             "-q", "-G"],
            check=False,
        )  # fmt: skip
        return done.stdout.strip() or None if done.returncode == 0 else None


    def holds(self) -> dict[str, str]:
        """Nodes the evacuator holds back (mass-failure guard): node -> ``held:<t>``."""
        return {
            node: attrs[HOLD_ATTRIBUTE]
            for node, attrs in self.cluster.permanent_attributes().items()
            if attrs.get(HOLD_ATTRIBUTE, "").startswith("held:")
        }

    def fencing_holds(self) -> dict[str, str]:
        """Nodes whose fencing fence_hold holds: node -> ``held:<t>``."""
        return {
            node: attrs[FENCING_HOLD_ATTRIBUTE]
            for node, attrs in self.cluster.permanent_attributes().items()
            if attrs.get(FENCING_HOLD_ATTRIBUTE, "").startswith("held:")
        }

    @contextmanager
    def fence_hold_params(self, **params: str) -> Iterator[None]:
        """fence-hold's parameters changed for the ``with`` body (then deleted: its defaults).

        Two hosts crashing together on this 3-compute lab are 2 of 3 unreachable: held by
        the default (more than half); tests of genuine double crashes let them through.
        """
        for name, value in params.items():
            self._set_fence_hold_param(name, value)
        self.cluster.settle(120)
        try:
            yield
        finally:
            for name in params:
                self._set_fence_hold_param(name, None)
            self.cluster.settle(120)

    def _set_fence_hold_param(self, name: str, value: str | None) -> None:
        change = (["--set-parameter", name, "--parameter-value", value] if value is not None
                  else ["--delete-parameter", name])
        self.cluster.run(["crm_resource", "--resource", "fence-hold", *change])

    def set_evacuator_param(self, name: str, value: str) -> None:
        """Change a NovaEvacuate parameter (Pacemaker restarts it) and wait until it runs."""
        self.cluster.run(["crm_resource", "--resource", "nova-evacuate", "--set-parameter",
                          name, "--parameter-value", value])  # fmt: skip
        self.cluster.settle(120)
        self.cluster.wait_for(
            lambda: bool(self.cluster.crm_mon().running_on("nova-evacuate")),
            60,
            "NovaEvacuate running",
        )


def _bmc(node: LabHost) -> dict[str, Any]:
    """A node's ``bmc`` entry of the inventory (user and options from ``bmc_defaults``)."""
    return {
        "address": node.bmc_address,
        "port": node.bmc_port,
        "password_script": str(node.bmc_password_script),
    }
