"""The inventory: which nodes, BMCs, cloud and policy the instance HA CIB is built from.

The admin writes it in YAML (``docs/inventory.md`` documents every field);
:func:`load_inventory` reads it (PyYAML is imported only then) and
:func:`parse_inventory` validates the parsed document into frozen dataclasses.
Every problem is an :class:`InventoryError` whose one-line message starts with
the path of the offending field, e.g. ``computes[2].bmc.address: required``.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from instanceha.cib.durations import is_duration, to_ms
from instanceha.cluster.attribute_names import ROLE_ATTRIBUTE
from instanceha.nova.hostmap import HostMap, HostMapError, parse_host_map
from instanceha.spec import ParamError, ParamSet

__all__ = [
    "AGENT_NAMES",
    "DEFAULT_ALERT_PATH",
    "DEFAULT_INVENTORY",
    "EVACUATION_MODES",
    "MAX_INVENTORY_BYTES",
    "AgentSections",
    "AlertSettings",
    "Bmc",
    "Compute",
    "Controller",
    "EvacuationSettings",
    "Inventory",
    "InventoryError",
    "RemoteSettings",
    "agent_parameters",
    "check_agent_parameters",
    "load_inventory",
    "parse_inventory",
]

#: Largest inventory read (10,000 computes take about 2 MiB).
MAX_INVENTORY_BYTES = 32 << 20
#: Where the CLI looks for the inventory unless told otherwise.
DEFAULT_INVENTORY = "/etc/instanceha/inventory.yaml"
#: The post-fence alert agent installed by ``make install``.
DEFAULT_ALERT_PATH = "/usr/lib/instanceha/alert_fence_event"
#: Values of ``evacuation.mode`` (see :mod:`instanceha.evacuation.policy`).
EVACUATION_MODES = ("all", "tagged", "tagged-or-all")
#: Agents whose extra parameters may be given under ``agents:``, with the parameters
#: the renderer sets itself (from other inventory fields) and which may not be repeated.
_NOVA = ("cloud", "domain", "host_map")
_IPMI_RENDERED = ("ip", "ipaddr", "ipport", "username", "login", "password", "passwd",
                  "password_script", "passwd_script", "pcmk_host_list")
AGENT_SECTIONS: Mapping[str, tuple[str, ...]] = {
    "libvirtd": (),
    "nova_compute": _NOVA,
    "nova_evacuate": (*_NOVA, "evacuation_mode", "tag_key", "max_parallel",
                      "mass_failure_hosts", "mass_failure_percent", "reserved_hosts"),
    "fence_nova": (*_NOVA, "pcmk_host_list"),
    "fence_ipmi": _IPMI_RENDERED,
    "fence_hold": ("pcmk_host_list",),
}

#: The agent each ``agents:`` section configures, as its metadata and man page name it.
AGENT_NAMES: Mapping[str, str] = {
    "libvirtd": "libvirtd",
    "nova_compute": "NovaCompute",
    "nova_evacuate": "NovaEvacuate",
    "fence_nova": "fence_nova",
    "fence_ipmi": "fence_ipmi",
    "fence_hold": "fence_hold",
}
_FENCE_AGENTS = ("fence_nova", "fence_ipmi", "fence_hold")
#: Where a secret belongs instead of an agent parameter (which the CIB shows to every node).
_CLOUD_SECRET = "put it in a root-only secure.yaml for the inventory's cloud"
_SECRET_HOME = {
    "nova_compute": _CLOUD_SECRET,
    "nova_evacuate": _CLOUD_SECRET,
    "fence_nova": _CLOUD_SECRET,
    "fence_ipmi": "name a root-only file in bmc.password_file instead",
}

# Pacemaker ids are XML IDs; a remote node's name is also its connection resource id.
_NODE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_HOST_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:-]*$")
_PARAM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


class InventoryError(ValueError):
    """The inventory is unreadable or invalid; the message names the field."""


@dataclass(frozen=True)
class Bmc:
    """How to reach one node's BMC for ``fence_ipmi``.

    Exactly one of ``password_file`` and ``password_script`` is set.
    ``options`` are further ``fence_ipmi`` options, passed through as given.
    """

    address: str
    username: str
    port: int = 623
    password_file: str | None = None
    password_script: str | None = None
    options: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class RemoteSettings:
    """The ``ocf:pacemaker:remote`` connection to a compute node."""

    reconnect_interval: str = "60s"
    monitor_interval: str = "10s"
    monitor_timeout: str = "20s"
    port: int | None = None  # None: pacemaker_remote's default (3121), not rendered


@dataclass(frozen=True)
class Controller:
    """A full cluster node (corosync member) running NovaEvacuate and the connections.

    ``node_id`` is its corosync node id, used for its ``<nodes>`` entry.
    """

    name: str
    node_id: str
    bmc: Bmc | None = None


@dataclass(frozen=True)
class Compute:
    """A compute host managed as a Pacemaker Remote node."""

    name: str
    address: str
    nova_host: str
    bmc: Bmc
    remote: RemoteSettings = RemoteSettings()


@dataclass(frozen=True)
class EvacuationSettings:
    """The evacuation policy NovaEvacuate applies (and ``instanceha simulate`` previews).

    Field names follow NovaEvacuate's parameters (``mode`` is ``evacuation_mode``).
    """

    mode: str = "tagged-or-all"
    max_parallel: int = 8
    mass_failure_hosts: int = 0
    mass_failure_percent: int = 0
    tag_key: str = "evacuable"
    reserved_hosts: tuple[str, ...] = ()


@dataclass(frozen=True)
class AlertSettings:
    """The post-fence Pacemaker alert (``select_fencing``)."""

    path: str = DEFAULT_ALERT_PATH
    timeout: str = "30s"
    recipient: str | None = None
    options: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class AgentSections:
    """Extra parameters per agent (``agents:``), passed through in the order given.

    ``nova_compute_start_timeout`` is ``nova_compute.start_timeout``; None renders
    NovaCompute's own declared start timeout (its ``SPEC``, :mod:`instanceha.cib.render`).
    """

    libvirtd: tuple[tuple[str, str], ...] = ()
    nova_compute: tuple[tuple[str, str], ...] = ()
    nova_evacuate: tuple[tuple[str, str], ...] = ()
    fence_nova: tuple[tuple[str, str], ...] = ()
    fence_ipmi: tuple[tuple[str, str], ...] = ()
    fence_hold: tuple[tuple[str, str], ...] = ()
    nova_compute_start_timeout: str | None = None


@dataclass(frozen=True)
class Inventory:
    """A validated inventory."""

    cloud: str
    controllers: tuple[Controller, ...]
    computes: tuple[Compute, ...]
    nova_domain: str | None = None
    evacuation: EvacuationSettings = EvacuationSettings()
    alert: AlertSettings = AlertSettings()
    agents: AgentSections = AgentSections()
    role_attribute: str = ROLE_ATTRIBUTE
    source: str = "<inventory>"

    def compute(self, name: str) -> Compute | None:
        """The compute whose node name or Nova host name is ``name``, or None."""
        return next((c for c in self.computes if name in (c.name, c.nova_host)), None)

    def host_map(self) -> str:
        """``node:novahost`` pairs (``;``-separated) for the computes ``nova.domain`` misses.

        The Nova agents' ``host_map`` parameter: every other compute's Nova host
        follows from its node name and ``domain`` (:mod:`instanceha.nova.hostmap`).
        """
        rule = HostMap(domain=self.nova_domain or "")
        return ";".join(
            f"{c.name}:{c.nova_host}"
            for c in self.computes
            if rule.nova_host(c.name) != c.nova_host
        )


# ----------------------------------------------------------------- reading


class _Node:
    """One mapping of the document with its path, tracking which keys were read."""

    def __init__(self, path: str, value: object) -> None:
        if not isinstance(value, Mapping):
            raise InventoryError(f"{path or 'inventory'}: must be a mapping, not {_kind(value)}")
        self.path = path
        self.data: Mapping[object, object] = value
        self.seen: set[str] = set()

    def where(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def raw(self, key: str) -> object:
        self.seen.add(key)
        return self.data.get(key)

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def text(self, key: str, default: str | None = None, *, required: bool = False) -> str | None:
        value = self.raw(key)
        if value is None:
            if required:
                raise InventoryError(f"{self.where(key)}: required")
            return default
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise InventoryError(f"{self.where(key)}: must be a string, not {_kind(value)}")
        text = str(value).strip()
        if not text:
            if required:
                raise InventoryError(f"{self.where(key)}: must not be empty")
            return default
        return text

    def required(self, key: str) -> str:
        value = self.text(key, required=True)
        assert value is not None  # required=True never returns None
        return value

    def integer(
        self, key: str, default: int | None, *, minimum: int, maximum: int | None = None
    ) -> int | None:
        value = self.raw(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise InventoryError(f"{self.where(key)}: must be an integer, not {_kind(value)}")
        try:
            number = int(value)
        except ValueError:
            raise InventoryError(f"{self.where(key)}: {value!r} is not an integer") from None
        if number < minimum or (maximum is not None and number > maximum):
            bounds = f"at least {minimum}" if maximum is None else f"{minimum}..{maximum}"
            raise InventoryError(f"{self.where(key)}: {number} is out of range ({bounds})")
        return number

    def duration(self, key: str, default: str) -> str:
        value = self.text(key, default)
        assert value is not None
        if not is_duration(value):
            raise InventoryError(
                f"{self.where(key)}: {value!r} is not a duration (examples: 10s, 2min, 500ms)"
            )
        return value

    def child(self, key: str) -> _Node | None:
        value = self.raw(key)
        return None if value is None else _Node(self.where(key), value)

    def items(self, key: str) -> list[object]:
        value = self.raw(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise InventoryError(f"{self.where(key)}: must be a list, not {_kind(value)}")
        return value

    def params(
        self, key: str, reserved: Sequence[str] = (), agent: str | None = None
    ) -> tuple[tuple[str, str], ...]:
        """A mapping of agent parameter names to scalar values, as ordered pairs.

        ``reserved`` names are set from other fields and may not appear here.
        With ``agent`` (a key of :data:`AGENT_NAMES`), every name and value is
        checked against that agent's own parameter declarations; secrets (what
        any of our agents declares secret) are refused either way.
        """
        node = self.child(key)
        if node is None:
            return ()
        pairs = []
        for name, value in node.data.items():
            where = node.where(str(name))
            if not isinstance(name, str) or not _PARAM_NAME.match(name):
                raise InventoryError(f"{where}: {name!r} is not a parameter name")
            _refuse_secret(where, name, agent)
            if name in reserved:
                raise InventoryError(
                    f"{where}: set from another inventory field; remove it here "
                    "(see docs/inventory.md)"
                )
            if value is None or isinstance(value, Mapping | list):
                raise InventoryError(f"{where}: must be a scalar value, not {_kind(value)}")
            pairs.append((name, _scalar(value)))
            if agent is not None:
                _check_param(where, agent, name, pairs[-1][1])
            node.seen.add(name)
        return tuple(pairs)

    def done(self) -> None:
        """Reject keys nobody read: a typo must not be silently ignored."""
        unknown = sorted(str(k) for k in self.data if str(k) not in self.seen)
        if unknown:
            known = ", ".join(sorted(self.seen))
            raise InventoryError(
                f"{self.where(unknown[0])}: unknown field (known here: {known})"
            )


def _kind(value: object) -> str:
    if value is None:
        return "empty"
    return {dict: "a mapping", list: "a list", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )


def _scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@functools.cache
def agent_parameters(agent: str) -> ParamSet:
    """The parameters ``agent`` (a key of :data:`AGENT_NAMES`) declares.

    A fence agent's include the standard ones (``password``, ``delay``, ...).
    The agents' modules are imported only here, when an inventory is checked.
    """
    if agent == "libvirtd":
        from instanceha.agents.libvirtd import SPEC as LIBVIRTD

        return LIBVIRTD.params
    if agent == "nova_compute":
        from instanceha.agents.nova_compute import SPEC as NOVA_COMPUTE

        return NOVA_COMPUTE.params
    if agent == "nova_evacuate":
        from instanceha.agents.nova_evacuate import SPEC as NOVA_EVACUATE

        return NOVA_EVACUATE.params
    if agent == "fence_nova":
        from instanceha.fence.nova import SPEC as FENCE_NOVA

        return FENCE_NOVA.all_params
    if agent == "fence_ipmi":
        from instanceha.fence.ipmi import SPEC as FENCE_IPMI

        return FENCE_IPMI.all_params
    if agent == "fence_hold":
        from instanceha.fence.hold import SPEC as FENCE_HOLD

        return FENCE_HOLD.all_params
    raise KeyError(agent)


def _is_secret(agent: str | None, name: str) -> bool:
    agents = AGENT_NAMES if agent is None else (agent,)
    return any((p := agent_parameters(a).get(name)) is not None and p.secret for a in agents)


def _refuse_secret(where: str, name: str, agent: str | None) -> None:
    if not _is_secret(agent, name):
        return
    home = _SECRET_HOME.get(agent or "", "pass it to the agent another way")
    raise InventoryError(
        f"{where}: a secret, never rendered into the CIB (every cluster node can read it, and "
        f"'cib render' writes it world-readable); {home}"
    )


def _pacemaker_param(agent: str, name: str) -> bool:
    """A stonith resource's ``pcmk_*`` parameters are pacemaker-fenced's, not the agent's."""
    return agent in _FENCE_AGENTS and name.startswith("pcmk_")


def _check_param(where: str, agent: str, name: str, value: str) -> None:
    """The agent's own declaration of ``name`` accepts ``value`` (else a one-line error)."""
    if _pacemaker_param(agent, name):
        return
    declared = agent_parameters(agent)
    param = declared.get(name)
    label = AGENT_NAMES[agent]
    if param is None:
        page = label if agent in _FENCE_AGENTS else f"ocf_instanceha_{label}"
        names = [n for p in declared for n in (p.name, *p.aliases)]
        close = difflib.get_close_matches(name, names, n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        raise InventoryError(f"{where}: {label} has no such parameter ({hint}see man {page})")
    try:
        param.coerce(value)
    except ParamError as err:
        raise InventoryError(f"{where}: {label}: {err.problem}") from None


def check_agent_parameters(agent: str, pairs: Sequence[tuple[str, str]]) -> None:
    """Refuse what ``agent`` would refuse: unknown names, bad values, its own checks.

    The last check of every rendered resource (:mod:`instanceha.cib.render`):
    the declarations' parsing, and for fence_ipmi its ``validate`` (IPMI length
    limits). The agents' other checks look at the node they run on (executables,
    configuration files, credentials) and are not made here.

    :raises ParamError: naming the parameter.
    """
    declared = agent_parameters(agent)
    for name, _ in pairs:
        if declared.get(name) is None and not _pacemaker_param(agent, name):
            raise ParamError(name, f"is not a parameter of {AGENT_NAMES[agent]}")
    params = declared.parse(dict(pairs))
    if agent == "fence_ipmi":
        from instanceha.fence.ipmi import validate

        validate(params)


def _name(node: _Node, key: str, pattern: re.Pattern[str], what: str) -> str:
    value = node.required(key)
    if not pattern.match(value):
        raise InventoryError(f"{node.where(key)}: {value!r} is not a valid {what}")
    return value


def _absolute(node: _Node, key: str, value: str | None) -> str | None:
    if value is not None and not value.startswith("/"):
        raise InventoryError(f"{node.where(key)}: {value!r} must be an absolute path")
    return value


def _bmc(node: _Node | None, defaults: _Node | None, path: str) -> Bmc:
    """A BMC from its own mapping, falling back field by field to ``bmc_defaults``."""
    if node is None:
        raise InventoryError(f"{path}: required")

    def pick(key: str) -> _Node | None:
        if node.has(key):
            return node
        if defaults is not None and defaults.has(key):
            return defaults
        return None

    user_src = pick("username")
    if user_src is None:
        raise InventoryError(f"{node.where('username')}: required (or set bmc_defaults.username)")
    port_src = pick("port") or node
    file_src, script_src = node, node
    if not node.has("password_file") and not node.has("password_script") and defaults:
        file_src, script_src = defaults, defaults
    password_file = _absolute(file_src, "password_file", file_src.text("password_file"))
    password_script = script_src.text("password_script")
    if password_file and password_script:
        raise InventoryError(
            f"{node.where('password_file')}: set password_file or password_script, not both"
        )
    if not password_file and not password_script:
        raise InventoryError(
            f"{node.where('password_file')}: required (or password_script; "
            "the password itself is never stored in the inventory)"
        )
    if node.has("password"):
        raise InventoryError(
            f"{node.where('password')}: not supported; put the password in a root-only "
            "file and name it in password_file"
        )
    options = dict(defaults.params("options", _IPMI_RENDERED, "fence_ipmi") if defaults else ())
    options.update(node.params("options", _IPMI_RENDERED, "fence_ipmi"))
    bmc = Bmc(
        address=_name(node, "address", _HOST_NAME, "BMC address"),
        username=user_src.required("username"),
        port=port_src.integer("port", 623, minimum=1, maximum=65535) or 623,
        password_file=password_file,
        password_script=password_script,
        options=tuple(options.items()),
    )
    fields = {"ip": node.where("address"), "ipport": port_src.where("port"),
              "username": user_src.where("username"),
              "password_script": script_src.where("password_script")}
    device = [("ip", bmc.address), ("ipport", str(bmc.port)), ("username", bmc.username),
              *([("password_script", password_script)] if password_script else []),
              *bmc.options]
    try:
        check_agent_parameters("fence_ipmi", device)
    except ParamError as err:
        where = fields.get(err.name, node.where("options"))
        raise InventoryError(f"{where}: fence_ipmi: {err.problem}") from None
    node.done()
    return bmc


def _remote(node: _Node | None, base: RemoteSettings) -> RemoteSettings:
    if node is None:
        return base
    settings = RemoteSettings(
        reconnect_interval=node.duration("reconnect_interval", base.reconnect_interval),
        monitor_interval=node.duration("monitor_interval", base.monitor_interval),
        monitor_timeout=node.duration("monitor_timeout", base.monitor_timeout),
        port=node.integer("port", base.port, minimum=1, maximum=65535),
    )
    if to_ms(settings.reconnect_interval) <= 0:
        # Pacemaker takes it as the connection's failure-timeout: 0 would keep a failed
        # connection's fail-count until cleanup (cib_templates/remote.xml.in)
        raise InventoryError(
            f"{node.where('reconnect_interval')}: must be longer than 0 (it is also how long "
            "a failed connection's failures are remembered)"
        )
    node.done()
    return settings


def _controller(item: object, index: int, bmc_defaults: _Node | None) -> Controller:
    path = f"controllers[{index}]"
    if isinstance(item, str):
        item = {"name": item}
    node = _Node(path, item)
    name = _name(node, "name", _NODE_NAME, "node name")
    node_id = node.text("node_id", str(index + 1))
    assert node_id is not None
    bmc_node = node.child("bmc")
    bmc = _bmc(bmc_node, bmc_defaults, f"{path}.bmc") if bmc_node is not None else None
    node.done()
    return Controller(name=name, node_id=node_id, bmc=bmc)


def _compute(
    item: object, index: int, bmc_defaults: _Node | None, remote: RemoteSettings, domain: str | None
) -> Compute:
    node = _Node(f"computes[{index}]", item)
    name = _name(node, "name", _NODE_NAME, "node name")
    nova_host = node.text("nova_host")
    try:
        if nova_host is None:
            nova_host = HostMap(domain=domain or "").nova_host(name)
        else:
            parse_host_map(f"{name}:{nova_host}")
    except HostMapError as err:
        raise InventoryError(f"{node.where('nova_host')}: {err}") from None
    compute = Compute(
        name=name,
        address=_name(node, "address", _HOST_NAME, "address"),
        nova_host=nova_host,
        bmc=_bmc(node.child("bmc"), bmc_defaults, node.where("bmc")),
        remote=_remote(node.child("remote"), remote),
    )
    node.done()
    return compute


def _evacuation(node: _Node | None) -> EvacuationSettings:
    if node is None:
        return EvacuationSettings()
    mode = node.text("mode", "tagged-or-all")
    if mode not in EVACUATION_MODES:
        raise InventoryError(
            f"{node.where('mode')}: {mode!r} is not one of {', '.join(EVACUATION_MODES)}"
        )
    reserved = []
    for i, host in enumerate(node.items("reserved_hosts")):
        if not isinstance(host, str) or not _HOST_NAME.match(host):
            raise InventoryError(f"{node.where('reserved_hosts')}[{i}]: not a host name")
        reserved.append(host)
    tag_key = node.text("tag_key", "evacuable") or "evacuable"
    if not _PARAM_NAME.match(tag_key.replace(":", "_")):
        raise InventoryError(f"{node.where('tag_key')}: {tag_key!r} is not a metadata key")
    settings = EvacuationSettings(
        mode=mode,
        max_parallel=node.integer("max_parallel", 8, minimum=1, maximum=200) or 8,
        mass_failure_hosts=node.integer("mass_failure_hosts", 0, minimum=0) or 0,
        mass_failure_percent=node.integer("mass_failure_percent", 0, minimum=0, maximum=100)
        or 0,
        tag_key=tag_key,
        reserved_hosts=tuple(reserved),
    )
    node.done()
    return settings


def _alert(node: _Node | None) -> AlertSettings:
    if node is None:
        return AlertSettings()
    settings = AlertSettings(
        path=_absolute(node, "path", node.text("path", DEFAULT_ALERT_PATH)) or DEFAULT_ALERT_PATH,
        timeout=node.duration("timeout", "30s"),
        recipient=node.text("recipient"),
        options=node.params("options"),
    )
    node.done()
    return settings


def _agents(node: _Node | None) -> AgentSections:
    if node is None:
        return AgentSections()
    sections: dict[str, tuple[tuple[str, str], ...]] = {}
    start_timeout = AgentSections.nova_compute_start_timeout
    for name, reserved in AGENT_SECTIONS.items():
        section = node.child(name)
        if section is None:
            continue
        sections[name] = section.params("params", reserved, name)
        if name == "nova_compute" and section.text("start_timeout") is not None:
            start_timeout = section.duration("start_timeout", "")
        section.done()
    node.done()
    return AgentSections(**sections, nova_compute_start_timeout=start_timeout)


def _unique(values: Sequence[tuple[str, str]], what: str) -> None:
    seen: dict[str, str] = {}
    for path, value in values:
        if value in seen:
            raise InventoryError(f"{path}: {what} {value!r} is also used by {seen[value]}")
        seen[value] = path


def parse_inventory(document: object, source: str = "<inventory>") -> Inventory:
    """Validate a parsed YAML document into an :class:`Inventory`.

    :raises InventoryError: naming the first invalid field.
    """
    top = _Node("", document)
    cloud = top.required("cloud")
    domain = None
    nova = top.child("nova")
    if nova is not None:
        domain = nova.text("domain")
        if domain is not None and not _HOST_NAME.match(domain):
            raise InventoryError(f"nova.domain: {domain!r} is not a DNS domain")
        nova.done()
    bmc_defaults = top.child("bmc_defaults")
    remote = _remote(top.child("remote"), RemoteSettings())

    controllers = [_controller(c, i, bmc_defaults) for i, c in enumerate(top.items("controllers"))]
    if not controllers:
        raise InventoryError("controllers: required (at least one cluster node)")
    computes = [
        _compute(c, i, bmc_defaults, remote, domain) for i, c in enumerate(top.items("computes"))
    ]
    if not computes:
        raise InventoryError("computes: required (at least one compute node)")
    if bmc_defaults is not None:
        bmc_defaults.params("options", _IPMI_RENDERED, "fence_ipmi")
        for key in ("username", "port", "password_file", "password_script"):
            bmc_defaults.raw(key)
        bmc_defaults.done()

    names = [(f"controllers[{i}].name", c.name) for i, c in enumerate(controllers)]
    names += [(f"computes[{i}].name", c.name) for i, c in enumerate(computes)]
    _unique(names, "node name")
    _unique([(f"controllers[{i}].node_id", c.node_id) for i, c in enumerate(controllers)],
            "node_id")
    _unique([(f"computes[{i}].address", c.address) for i, c in enumerate(computes)], "address")
    _unique([(f"computes[{i}].nova_host", c.nova_host) for i, c in enumerate(computes)],
            "Nova host")
    role = top.text("role_attribute", ROLE_ATTRIBUTE) or ROLE_ATTRIBUTE
    if not _PARAM_NAME.match(role):
        raise InventoryError(f"role_attribute: {role!r} is not an attribute name")

    inventory = Inventory(
        cloud=cloud,
        controllers=tuple(controllers),
        computes=tuple(computes),
        nova_domain=domain,
        evacuation=_evacuation(top.child("evacuation")),
        alert=_alert(top.child("alert")),
        agents=_agents(top.child("agents")),
        role_attribute=role,
        source=source,
    )
    top.done()
    return inventory


def load_inventory(path: str | Path) -> Inventory:
    """Read and validate the YAML inventory at ``path``.

    :raises InventoryError: when the file is missing, not YAML, or invalid.
    """
    path = Path(path)
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_INVENTORY_BYTES + 1)
    except FileNotFoundError:
        raise InventoryError(f"{path}: no such file (write one: see docs/inventory.md)") from None
    except OSError as err:
        raise InventoryError(f"{path}: cannot read: {err.strerror}") from None
    if len(data) > MAX_INVENTORY_BYTES:
        raise InventoryError(f"{path}: larger than {MAX_INVENTORY_BYTES >> 20} MiB: not an "
                             "inventory")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[:err.start].count(b"\n") + 1
        raise InventoryError(f"{path}: line {line} is not UTF-8 text: not an inventory") \
            from None
    import yaml

    try:
        document = yaml.load(text, Loader=_unique_key_loader())  # a SafeLoader
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "?"
        raise InventoryError(f"{path}: not valid YAML at {where}: {err.problem}") from None
    except yaml.YAMLError as err:
        raise InventoryError(f"{path}: not valid YAML: {err}") from None
    try:
        return parse_inventory(document, str(path))
    except InventoryError as err:
        raise InventoryError(f"{path}: {err}") from None


@functools.cache
def _unique_key_loader() -> Any:
    """PyYAML's SafeLoader, refusing a key repeated in one mapping (it keeps the last).

    A repeated key is a mistake that would silently win over the first; merge
    keys (``<<: *anchor``) may still be overridden. The error is a YAML error
    at the repeated key, naming it and the line of its first occurrence.
    """
    import yaml

    def mapping(loader: Any, node: Any) -> Any:
        first: dict[object, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = loader.construct_object(key_node, deep=True)
            try:
                repeated = key in first
            except TypeError:  # unhashable: construct_mapping reports it
                continue
            if repeated:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first at line {first[key]}); "
                    "a key may appear once per mapping", key_node.start_mark)
            first[key] = key_node.start_mark.line + 1
        return loader.construct_mapping(node, deep=True)

    loader: Any = type("UniqueKeyLoader", (yaml.SafeLoader,), {})
    loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    return loader
