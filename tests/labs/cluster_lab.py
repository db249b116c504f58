"""Python driver of the live cluster lab (``lab/cluster/lab.sh``).

One or three controllers (``ctl1..ctlC``: corosync + pacemakerd) and N compute
hosts ``comp1..compN``. Every node is a network namespace on the lab's bridge
(a controller also has its own mount and UTS namespaces; a host runs
pacemaker-remoted), powered by its own ipmi_sim BMC on the bridge's root-side
address (power off kills the node, power on boots it). Cluster CLIs run inside
a controller (:meth:`ClusterLab.run`, :meth:`ClusterLab.runner`). See
``lab/cluster/README.md``.

    with ClusterLab(hosts=2, controllers=3) as lab:
        lab.configure_remote_nodes(fencing="fence_ipmilan", controller_fencing="fence_ipmilan")
        lab.wait_for(lambda: lab.crm_mon().node("comp1").online, 30, "comp1 online")
        lab.kill_host("comp1")

Needs root with CAP_NET_ADMIN and CAP_SYS_ADMIN; :func:`unavailable_reason`
says why the lab cannot run here.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from instanceha.cluster.runner import ClusterError, CommandTimeout, RunResult
from labs.locks import exclusive_lock

__all__ = [
    "INSTALL_SCRIPT",
    "LAB_SCRIPT",
    "ClusterLab",
    "ClusterStatus",
    "LabError",
    "LabHost",
    "NodeRunner",
    "NodeStatus",
    "ResourceStatus",
    "unavailable_reason",
]

REPO = Path(__file__).resolve().parents[2]
LAB_SCRIPT = REPO / "lab" / "cluster" / "lab.sh"
INSTALL_SCRIPT = REPO / "lab" / "cluster" / "install.sh"
LOOPBACK_BRIDGE = REPO / "lab" / "cluster" / "loopback_bridge.py"
DEFAULT_LAB_DIR = Path("/var/lib/instanceha-lab/cluster")
REMOTED = Path("/var/lib/instanceha-lab/remote-root/usr/sbin/pacemaker-remoted")
CLEAN_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"

CAP_NET_ADMIN = 12
CAP_SYS_ADMIN = 21
REQUIRED_TOOLS = (
    "corosync", "pacemakerd", "cibadmin", "crm_mon", "pcs", "ipmi_sim", "ipmitool", "iptables",
)

T = TypeVar("T")


class LabError(RuntimeError):
    """A lab command failed or a wait timed out."""


def _effective_caps() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            return int(line.split()[1], 16)
    return 0


def unavailable_reason(*, install: bool = True) -> str | None:
    """Why the lab cannot run on this machine, or None when it can.

    With ``install`` the idempotent ``install.sh`` is run when a tool or the
    extracted pacemaker-remoted is missing.
    """
    reason = _privilege_problem()
    if reason is None and install and (_missing_tools() or not REMOTED.exists()):
        reason = _install()
    if reason is None and _missing_tools():
        reason = f"cluster lab tools missing: {', '.join(_missing_tools())}"
    if reason is None and not REMOTED.exists():
        reason = f"{REMOTED} missing (run lab/cluster/install.sh)"
    for daemon in ("corosync", "pacemakerd"):
        if reason is None and _running(daemon, _recorded_pids(daemon)):
            reason = f"a {daemon} not started by the lab is running on this machine"
    return reason


def _recorded_pids(daemon: str) -> set[int]:
    """The pids a lab recorded for ``daemon`` (a leftover lab is stopped by ``start``)."""
    pids = set()
    for path in DEFAULT_LAB_DIR.glob(f"hosts/ctl*/{daemon}.pid"):
        with suppress(OSError, ValueError):
            pids.add(int(path.read_text().strip()))
    return pids


def _privilege_problem() -> str | None:
    if os.geteuid() != 0:
        return "the cluster lab needs root (network and mount namespaces)"
    caps = _effective_caps()
    for bit, name in ((CAP_NET_ADMIN, "CAP_NET_ADMIN"), (CAP_SYS_ADMIN, "CAP_SYS_ADMIN")):
        if not caps & (1 << bit):
            return f"the cluster lab needs {name}"
    return None


def _missing_tools() -> list[str]:
    return [t for t in REQUIRED_TOOLS if shutil.which(t, path=CLEAN_PATH) is None]


def _install() -> str | None:
    if shutil.which("apt-get") is None:
        return "the cluster lab installs with apt (Debian/Ubuntu only)"
    res = subprocess.run(
        ["bash", str(INSTALL_SCRIPT)], capture_output=True, text=True, timeout=900, check=False
    )
    if res.returncode != 0:
        return f"lab/cluster/install.sh failed: {res.stderr.strip()[-300:]}"
    return None


def _running(comm: str, ignore: set[int]) -> bool:
    """Whether a live (non-zombie) process with this command name exists (except ``ignore``)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        if int(stat.parent.name) in ignore:
            continue
        try:
            text = stat.read_text()
        except OSError:
            continue
        name = text[text.find("(") + 1 : text.rfind(")")]
        if name == comm and text[text.rfind(")") + 2 :].split(" ", 1)[0] != "Z":
            return True
    return False


@dataclass(frozen=True)
class LabHost:
    """One lab node (a controller ``ctlN`` or a compute host ``compN``): its node name,
    namespace, address on the lab's bridge (``gateway``: the bridge's root-side address) and BMC."""

    index: int
    name: str
    netns: str
    address: str
    gateway: str
    bmc_address: str
    bmc_port: int
    bmc_user: str
    bmc_password_file: Path
    bmc_password_script: Path
    dir: Path

    @property
    def is_controller(self) -> bool:
        """Whether this is a full cluster node (corosync + pacemakerd)."""
        return self.name.startswith("ctl")

    @property
    def pacemaker_log(self) -> Path:
        """A controller's pacemaker.log (its own daemons and the agents they run)."""
        return self.dir / "pacemaker.log"

    @property
    def pengine_dir(self) -> Path:
        """A controller's saved scheduler inputs (its /var/lib/pacemaker/pengine)."""
        return self.dir / "var-lib-pacemaker" / "pengine"

    @property
    def power_log(self) -> Path:
        """``<epoch> power-on|power-off`` lines written by the host itself."""
        return self.dir / "power.log"

    def power_events(self) -> list[tuple[float, str]]:
        """Parsed :attr:`power_log`: ``(time, "power-on" | "power-off")``."""
        if not self.power_log.exists():
            return []
        events = []
        for line in self.power_log.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 2:
                events.append((float(parts[0]), parts[1]))
        return events

    def fence_ipmi_options(self) -> dict[str, str]:
        """Device options for the project's fence_ipmi (pyghmi, always lanplus)."""
        opts = self.fence_ipmilan_options()
        del opts["lanplus"]
        return opts

    def fence_ipmilan_options(self) -> dict[str, str]:
        """Device options for Debian's fence_ipmilan against this host's BMC.

        The password comes from ``password_script`` (never in the CIB or argv);
        ipmi_sim needs cipher suite 3 (it does not answer the cipher list).
        """
        return {
            "ip": self.bmc_address,
            "ipport": str(self.bmc_port),
            "username": self.bmc_user,
            "password_script": str(self.bmc_password_script),
            "lanplus": "1",
            "cipher": "3",
            "power_wait": "1",
            "pcmk_host_list": self.name,
        }


def _pick(nodes: Sequence[LabHost], which: str | int) -> LabHost:
    for n in nodes:
        if which in (n.name, n.index):
            return n
    raise KeyError(which)


@dataclass(frozen=True)
class NodeStatus:
    """A node as ``crm_mon --output-as=xml`` shows it."""

    name: str
    id: str
    type: str
    online: bool
    unclean: bool
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ResourceStatus:
    """A primitive resource as ``crm_mon --output-as=xml`` shows it."""

    id: str
    agent: str
    role: str
    active: bool
    failed: bool
    nodes: tuple[str, ...]


@dataclass(frozen=True)
class ClusterStatus:
    """Parsed ``crm_mon --one-shot --inactive --show-node-attributes --output-as=xml``."""

    dc: str | None
    nodes: dict[str, NodeStatus]
    resources: dict[str, ResourceStatus]
    xml: str
    #: whether the partition of the controller that answered has quorum
    quorate: bool = False

    def node(self, name: str) -> NodeStatus:
        """The node called ``name`` (KeyError when unknown)."""
        return self.nodes[name]

    def online(self, name: str) -> bool:
        """Whether ``name`` is known and online."""
        return name in self.nodes and self.nodes[name].online

    def running_on(self, prefix: str) -> list[str]:
        """Nodes where a started, not failed resource whose id (clone suffix aside) is
        ``prefix`` runs. Read from the XML: every instance of an anonymous clone carries the
        clone's id, so :attr:`resources` keeps only one of them."""
        return [
            node.get("name", "")
            for r in ET.fromstring(self.xml).iter("resource")
            if r.get("id", "").split(":")[0] == prefix
            and r.get("role") == "Started"
            and r.get("failed") != "true"
            for node in r.iterfind("node")
        ]

    def failed_actions(self) -> list[str]:
        """crm_mon's "Failed Resource Actions", one ``<op_key> on <node>: <status>`` each."""
        return [
            f"{f.get('op_key', '')} on {f.get('node', '')}: {f.get('exitreason') or ''}"
            f"{f.get('exitstatus', '')}"
            for f in ET.fromstring(self.xml).iter("failure")
        ]

    def started(self, rsc: str) -> bool:
        """Whether resource ``rsc`` is active and not failed."""
        r = self.resources.get(rsc)
        return r is not None and r.active and not r.failed and r.role == "Started"

    @classmethod
    def parse(cls, text: str) -> ClusterStatus:
        """Parse crm_mon's XML."""
        root = ET.fromstring(text)
        dc_el = root.find("summary/current_dc")
        dc = dc_el.get("name") if dc_el is not None and dc_el.get("present") == "true" else None
        attrs: dict[str, dict[str, str]] = {}
        for n in root.iterfind("node_attributes/node"):
            attrs[n.get("name", "")] = {
                a.get("name", ""): a.get("value", "") for a in n.iterfind("attribute")
            }
        nodes = {}
        for n in root.iterfind("nodes/node"):
            name = n.get("name", "")
            nodes[name] = NodeStatus(
                name=name,
                id=n.get("id", ""),
                type=n.get("type", ""),
                online=n.get("online") == "true",
                unclean=n.get("unclean") == "true",
                attributes=attrs.get(name, {}),
            )
        resources = {}
        for r in root.iter("resource"):
            rid = r.get("id", "")
            resources[rid] = ResourceStatus(
                id=rid,
                agent=r.get("resource_agent", ""),
                role=r.get("role", ""),
                active=r.get("active") == "true",
                failed=r.get("failed") == "true",
                nodes=tuple(x.get("name", "") for x in r.iterfind("node")),
            )
        quorate = dc_el is not None and dc_el.get("with_quorum") == "true"
        return cls(dc=dc, nodes=nodes, resources=resources, xml=text, quorate=quorate)


class NodeRunner:
    """An :class:`instanceha.cluster.runner.Runner` that runs inside a lab node.

    Commands see what an agent on that node sees: on a compute host, the host's
    network namespace (pacemaker-remoted's IPC proxy), mount and UTS namespace; on a
    controller, that controller's daemons. ``prefix()`` is asked at every call, so a
    runner without a fixed node follows the powered controllers.
    """

    def __init__(self, prefix: Callable[[], list[str]], env: dict[str, str] | None = None) -> None:
        self._prefix = prefix
        self._env = env or {}

    def run(self, argv: Sequence[str], *, timeout: float) -> RunResult:
        """Run ``argv`` in the node; see the Runner protocol."""
        prefix = [f"{k}={v}" for k, v in self._env.items()]
        full = [*self._prefix(), "env", f"PATH={CLEAN_PATH}", *prefix, *argv]
        try:
            res = subprocess.run(
                full,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as exc:
            raise CommandTimeout(argv, timeout) from exc
        return RunResult(tuple(argv), res.returncode, res.stdout, res.stderr)


class ClusterLab:
    """Start, drive and stop the live cluster lab."""

    def __init__(
        self,
        hosts: int = 2,
        *,
        controllers: int = 1,
        lab_dir: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.nhosts = hosts
        self.ncontrollers = controllers
        self.lab_dir = lab_dir or DEFAULT_LAB_DIR
        self._env = {**os.environ, "CLUSTER_LAB_DIR": str(self.lab_dir), **(env or {})}
        self._nodes: list[LabHost] = []
        self.timings: dict[str, float] = {}

    # -- lifecycle ---------------------------------------------------------------

    def lab_sh(
        self, *args: str, timeout: float = 180, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run ``lab.sh ARGS``; raise :class:`LabError` on failure when ``check``."""
        res = subprocess.run(
            ["bash", str(LAB_SCRIPT), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self._env,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        if check and res.returncode != 0:
            raise LabError(
                f"lab.sh {' '.join(args)} failed ({res.returncode}): {res.stderr.strip()[-2000:]}"
            )
        return res

    def start(self, *, wait: bool = True) -> ClusterLab:
        """Start the controllers and the hosts (and wait for every controller to be online)."""
        t0 = time.monotonic()
        if (self.lab_dir / "lab.env").exists():
            self.lab_sh("stop", timeout=300)  # leftovers of an interrupted run (by recorded pid)
        t0 = time.monotonic()
        try:
            self.lab_sh("start", str(self.nhosts), str(self.ncontrollers))
            self.timings["start"] = time.monotonic() - t0
            self._load_nodes()
            if wait:
                self.wait_online()
                self.timings["online"] = time.monotonic() - t0
        except BaseException:
            self.stop()
            raise
        return self

    @contextmanager
    def exclusive(self, timeout: float = 1800) -> Iterator[None]:
        """Hold the lab for one user (a pytest session, the demo) at a time.

        Shell users: ``flock /var/lib/instanceha-lab/.cluster-lab-user.lock CMD``.
        """
        lock = self.lab_dir.parent / ".cluster-lab-user.lock"
        with exclusive_lock(lock, "the cluster lab", timeout):
            yield

    def stop(self) -> None:
        """Stop everything the lab started; remove its namespaces and links."""
        t0 = time.monotonic()
        self.lab_sh("stop", timeout=300)
        self.timings["stop"] = time.monotonic() - t0

    def __enter__(self) -> ClusterLab:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def wait_online(self, timeout: float = 60) -> None:
        """Wait until every powered controller is online (``lab.sh wait-online``)."""
        self.lab_sh("wait-online", str(int(timeout)), timeout=timeout + 10)

    def cluster_stop(self) -> None:
        """Stop pacemakerd and corosync on every controller (CIBs on disk and hosts are kept)."""
        self.lab_sh("cluster-stop", timeout=300)

    def cluster_start(self, *, wait: bool = True) -> None:
        """Start corosync and pacemakerd again on every controller from its persisted CIB."""
        self.lab_sh("cluster-start")
        if wait:
            self.wait_online()

    def _load_nodes(self) -> None:
        env = dict(
            line.split("=", 1) for line in self.lab_sh("env").stdout.splitlines() if "=" in line
        )
        self._nodes = [
            LabHost(
                index=int("".join(ch for ch in name if ch.isdigit())),
                name=name,
                netns=env[f"NODE_{name}_NETNS"],
                address=env[f"NODE_{name}_ADDR"],
                gateway=env["BRIDGE_ADDR"],
                bmc_address=env["BMC_ADDRESS"],
                bmc_port=int(env[f"NODE_{name}_BMC_PORT"]),
                bmc_user=env["BMC_USER"],
                bmc_password_file=Path(env["BMC_PASSWORD_FILE"]),
                bmc_password_script=Path(env["BMC_PASSWORD_SCRIPT"]),
                dir=self.lab_dir / "hosts" / name,
            )
            for name in env["NODES"].strip('"').split()
        ]

    # -- nodes -------------------------------------------------------------------

    @property
    def nodes(self) -> list[LabHost]:
        """Every node: the controllers, then the compute hosts."""
        if not self._nodes:
            self._load_nodes()
        return list(self._nodes)

    @property
    def hosts(self) -> list[LabHost]:
        """The compute hosts, comp1 first."""
        return [n for n in self.nodes if not n.is_controller]

    @property
    def controllers(self) -> list[LabHost]:
        """The controllers, ctl1 first."""
        return [n for n in self.nodes if n.is_controller]

    def host(self, which: str | int) -> LabHost:
        """A compute host by node name (``comp2``) or number (``2``)."""
        return _pick(self.hosts, which)

    def controller(self, which: str | int) -> LabHost:
        """A controller by node name (``ctl2``) or number (``2``)."""
        return _pick(self.controllers, which)

    def _pid(self, host: LabHost, what: str) -> int | None:
        try:
            pid = int((host.dir / f"{what}.pid").read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return None
        return None if state == "Z" else pid

    def remoted_pid(self, which: str | int) -> int | None:
        """pid of the host's pacemaker-remoted, None when it is not running."""
        return self._pid(self.host(which), "remoted")

    def powered_on(self, which: str | int) -> bool:
        """Whether the node's BMC reports power on (its host-run.sh is alive); a number names
        a compute host."""
        return self._pid(self._node(which), "host") is not None

    def _node(self, which: str | int) -> LabHost:
        """A node by name (``ctl1``, ``comp2``) or a compute host by number."""
        return _pick(self.nodes, which) if isinstance(which, str) else self.host(which)

    def host_prefix(self, which: str | int) -> list[str]:
        """argv prefix that runs a command inside the host's namespaces."""
        h = self.host(which)
        pid = self.remoted_pid(h.name)
        if pid is None:
            return ["ip", "netns", "exec", h.netns]
        return ["nsenter", f"--target={pid}", "--net", "--mount", "--uts", "--"]

    def host_exec(
        self, which: str | int, argv: Sequence[str], *, timeout: float = 30, check: bool = False
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` inside a host (e.g. a Pacemaker CLI as that remote node)."""
        return subprocess.run(
            [*self.host_prefix(which), *argv],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=check,
            stdin=subprocess.DEVNULL,
        )

    def host_runner(self, which: str | int, env: dict[str, str] | None = None) -> NodeRunner:
        """A cluster ``Runner`` executing inside the host (optionally with extra env)."""
        name = self.host(which).name
        return NodeRunner(lambda: self.host_prefix(name), env)

    def kill_host(self, which: str | int) -> None:
        """Crash the host's OS: SIGKILL its processes; the BMC still reports power on."""
        self.lab_sh("kill-host", str(self.host(which).index))

    def freeze_host(self, which: str | int) -> None:
        """Hang the host: SIGSTOP its processes."""
        self.lab_sh("freeze-host", str(self.host(which).index))

    def thaw_host(self, which: str | int) -> None:
        """SIGCONT a frozen host."""
        self.lab_sh("thaw-host", str(self.host(which).index))

    def power(self, which: str | int, action: str) -> str:
        """``ipmitool chassis power ACTION`` against the host's BMC; returns its output."""
        return self.lab_sh("power", str(self.host(which).index), action).stdout.strip()

    def cut_host(self, which: str | int) -> None:
        """Take the host's link to the bridge down: it keeps running, its BMC stays reachable."""
        self.lab_sh("cut-host", str(self.host(which).index))

    def restore_host(self, which: str | int) -> None:
        """Bring the host's link up again."""
        self.lab_sh("restore-host", str(self.host(which).index))

    def add_extra_command(self, which: str | int, command: str) -> None:
        """Run ``command`` in the node's process group from its next power-on."""
        self.lab_sh("add-extra", self._node(which).name, command)

    # -- controllers ---------------------------------------------------------------

    def ctl_power(self, which: str | int, action: str) -> str:
        """``ipmitool chassis power ACTION`` against the controller's BMC; returns its output."""
        return self.lab_sh("ctl-power", self.controller(which).name, action).stdout.strip()

    def kill_ctl(self, which: str | int) -> None:
        """Crash the controller's OS: SIGKILL its processes; the BMC still reports power on."""
        self.lab_sh("kill-ctl", self.controller(which).name)

    def isolate_ctl(self, which: str | int) -> None:
        """Partition: the controller and the other controllers drop each other's packets."""
        self.lab_sh("isolate-ctl", self.controller(which).name)

    def rejoin_ctl(self, which: str | int) -> None:
        """End the controller's partition."""
        self.lab_sh("rejoin-ctl", self.controller(which).name)

    def isolated(self, which: str | int) -> bool:
        """Whether the controller is cut off by :meth:`isolate_ctl`."""
        return (self.controller(which).dir / "isolated").exists()

    def ctl_up(self, which: str | int) -> bool:
        """Whether the controller's OS runs (its namespace holder lives)."""
        return self._pid(self.controller(which), "holder") is not None

    def default_controller(self) -> LabHost:
        """The first controller whose pacemakerd runs and which is not isolated, else the first
        one whose OS runs; LabError when every controller is down."""
        up = [c for c in self.controllers if self.ctl_up(c.name)]
        for c in up:
            if self._pid(c, "pacemakerd") is not None and not self.isolated(c.name):
                return c
        if not up:
            raise LabError("no controller is up")
        return up[0]

    def ctl_prefix(self, which: str | int | None = None) -> list[str]:
        """argv prefix that runs a command inside a controller's namespaces (net, mount, uts);
        default: :meth:`default_controller`."""
        c = self.default_controller() if which is None else self.controller(which)
        pid = self._pid(c, "holder")
        if pid is None:
            raise LabError(f"{c.name} is down")
        return ["nsenter", f"--target={pid}", "--net", "--mount", "--uts", "--"]

    def runner(
        self, node: str | int | None = None, env: dict[str, str] | None = None
    ) -> NodeRunner:
        """A cluster ``Runner`` executing inside a controller (default: the one :meth:`run` picks
        at each call)."""
        return NodeRunner(lambda: self.ctl_prefix(node), env)

    def listen_in(self, which: str | int, port: int = 0) -> socket.socket:
        """A TCP socket listening on 127.0.0.1:``port`` inside the controller's network
        namespace (what its agents reach on their loopback)."""
        spec = importlib.util.spec_from_file_location("loopback_bridge", LOOPBACK_BRIDGE)
        assert spec is not None and spec.loader is not None
        module: Any = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sock: socket.socket = module.listen_in(self.controller(which).netns, [port])[0]
        sock.setblocking(True)
        return sock

    # -- cluster -----------------------------------------------------------------

    def run(
        self,
        argv: Sequence[str],
        *,
        node: str | int | None = None,
        timeout: float = 60,
        check: bool = True,
        input: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run a command inside a controller (default: :meth:`default_controller`) with a clean
        PATH and the lab's environment."""
        res = subprocess.run(
            [*self.ctl_prefix(node), *argv],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            input=input,
            env={**self._env, "PATH": CLEAN_PATH},
            stdin=None if input is not None else subprocess.DEVNULL,
        )
        if check and res.returncode != 0:
            raise LabError(
                f"{' '.join(argv)} failed ({res.returncode}): "
                f"{(res.stderr or res.stdout).strip()[-2000:]}"
            )
        return res

    def crm_mon(self, node: str | int | None = None) -> ClusterStatus:
        """Parsed ``crm_mon --output-as=xml`` (nodes, attributes, resources) as a controller
        sees it."""
        res = self.run(
            ["crm_mon", "--one-shot", "--inactive", "--show-node-attributes", "--output-as=xml"],
            node=node,
            timeout=30,
        )
        return ClusterStatus.parse(res.stdout)

    def permanent_attributes(self) -> dict[str, dict[str, str]]:
        """Permanent node attributes by node name, from the CIB's nodes section (crm_mon
        shows none for an offline node)."""
        nodes = ET.fromstring(self.run(["cibadmin", "--query", "--scope", "nodes"]).stdout)
        return {
            node.get("uname", node.get("id", "")): {
                nv.get("name", ""): nv.get("value", "")
                for nv in node.iterfind("instance_attributes/nvpair")
            }
            for node in nodes.iter("node")
        }

    def cib(self) -> str:
        """The live CIB (``cibadmin --query``)."""
        return self.run(["cibadmin", "--query"]).stdout

    def push_cib(self, xml: str) -> None:
        """Replace the configuration with the one in ``xml`` (a ``<cib>`` or ``<configuration>``).

        The scoped replace does not compare CIB versions, so it always wins.
        """
        root = ET.fromstring(xml)
        conf = root if root.tag == "configuration" else root.find("configuration")
        if conf is None:
            raise ValueError("no <configuration> in the given XML")
        self.run(
            ["cibadmin", "--replace", "--scope=configuration", "--xml-pipe"],
            input=ET.tostring(conf, encoding="unicode"),
        )

    def pcs(
        self, *args: str, cib_file: Path | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """Run pcs (offline against ``cib_file`` when given)."""
        argv = ["pcs", *(["-f", str(cib_file)] if cib_file else []), *args]
        return self.run(argv, timeout=timeout)

    @contextmanager
    def offline_cib(self) -> Iterator[Path]:
        """Yield a copy of the live CIB for ``pcs -f``; push its configuration at the end."""
        with tempfile.TemporaryDirectory(prefix="cluster-lab-") as tmp:
            path = Path(tmp) / "cib.xml"
            path.write_text(self.cib())
            yield path
            self.pcs("cluster", "cib-push", str(path), "--config")

    def wait_for(
        self,
        predicate: Callable[[], T],
        timeout: float,
        what: str = "condition",
        interval: float = 0.2,
    ) -> T:
        """Poll ``predicate`` until it returns a truthy value; return that value."""
        deadline = time.monotonic() + timeout
        last_exc: Exception | None = None
        while True:
            try:
                value = predicate()
                if value:
                    return value
            except (
                LabError, ClusterError, subprocess.SubprocessError, ET.ParseError, KeyError
            ) as exc:
                last_exc = exc
            if time.monotonic() >= deadline:
                raise LabError(
                    f"timed out after {timeout:g} s waiting for {what}"
                    + (f" (last error: {last_exc})" if last_exc else "")
                )
            time.sleep(interval)

    def configure_remote_nodes(
        self,
        *,
        fencing: str | None = "fence_ipmilan",
        fence_options: Callable[[LabHost], Mapping[str, str]] | None = None,
        reconnect_interval: str = "10s",
        monitor_interval: str = "5s",
        controller_fencing: str | None = None,
    ) -> None:
        """Create the ``ocf:pacemaker:remote`` connection (+ a fence device) of every host.

        Idempotent: hosts whose connection resource exists are left alone.
        Built offline with ``pcs -f`` and pushed once. ``fencing`` is the
        stonith agent of the per-host device ``fence-<host>`` (None: no
        device); ``fence_options(host)`` gives its options, by default
        :meth:`LabHost.fence_ipmilan_options` (fits any agent with the standard
        ``ip``/``ipport``/``username``/``password_script`` options).
        ``controller_fencing`` adds the same kind of device ``fence-ctlN`` for every
        controller (kept off its own target), so the survivors power off a lost one.
        """
        options = fence_options or LabHost.fence_ipmilan_options
        existing = set(self.crm_mon().resources)
        todo = [h for h in self.hosts if h.name not in existing]
        ctl_todo = [
            c for c in self.controllers
            if controller_fencing is not None and f"fence-{c.name}" not in existing
        ]  # fmt: skip
        if not todo and not ctl_todo:
            return
        with self.offline_cib() as cib:
            for c in ctl_todo:
                assert controller_fencing is not None
                self._create_fence_device(cib, c, controller_fencing, options(c))
                self.pcs("constraint", "location", f"fence-{c.name}", "avoids", c.name,
                         cib_file=cib)  # fmt: skip
            for h in todo:
                self.pcs(
                    "resource",
                    "create",
                    h.name,
                    "ocf:pacemaker:remote",
                    f"server={h.address}",
                    f"reconnect_interval={reconnect_interval}",
                    "op",
                    "monitor",
                    f"interval={monitor_interval}",
                    "timeout=10s",
                    "--force",
                    cib_file=cib,
                )
                if fencing is not None:
                    self._create_fence_device(cib, h, fencing, options(h))

    def _create_fence_device(
        self, cib: Path, node: LabHost, agent: str, options: Mapping[str, str]
    ) -> None:
        """``fence-<node>``: ``agent`` with ``options``, monitored every minute (``pcs -f``)."""
        opts = [f"{k}={v}" for k, v in options.items()]
        self.pcs("stonith", "create", f"fence-{node.name}", agent, *opts,
                 "op", "monitor", "interval=60s", cib_file=cib)  # fmt: skip

    def settle(self, timeout: float = 60) -> None:
        """Wait until the cluster has no pending actions (``crm_resource --wait``)."""
        self.run(["crm_resource", "--wait", f"--timeout={int(timeout)}s"], timeout=timeout + 10)

    def wait_hosts_online(
        self, names: Sequence[str] | None = None, timeout: float = 60, *, settle: bool = True
    ) -> None:
        """Wait until the given (default: all) remote nodes are online with their connection
        started and, with ``settle``, the cluster is idle."""
        names = list(names or [h.name for h in self.hosts])
        t0 = time.monotonic()

        def ready() -> bool:
            st = self.crm_mon()
            return all(st.online(n) and st.started(n) for n in names)

        self.wait_for(ready, timeout, f"{', '.join(names)} online")
        if settle:
            self.settle(max(5.0, timeout - (time.monotonic() - t0)))
