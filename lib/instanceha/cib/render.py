"""Render the instance HA CIB from an :class:`~instanceha.cib.inventory.Inventory`.

Everything comes from ``cib_templates/``; this module only decides which
template is filled how often and with which (escaped) values. Ids are
deterministic and follow the names ``pcs`` would generate, so the XML and the
``pcs`` script (:mod:`instanceha.cib.pcs`) describe the same objects.

A BMC password is never written into the CIB: ``fence_ipmi`` gets a
``password_script`` that reads the admin's file (or the admin's own script).
Only ``include_secrets`` inlines a password file's content as ``password``.

Every resource's parameters are checked last against its agent's own
declarations (:func:`~instanceha.cib.inventory.check_agent_parameters`), so a
rendered CIB never carries a setting its agent would refuse. Likewise the
timeouts and intervals of our OCF resources' operations are the agent's own
action declarations (its ``SPEC``, also shown by its ``meta-data``), filled into
the templates by :func:`action_values`; only ``nova_compute.start_timeout`` of
the inventory may override one.
"""

from __future__ import annotations

import functools
import importlib
import shlex
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from instanceha.cib.inventory import AGENT_NAMES, Bmc, Inventory, check_agent_parameters
from instanceha.cib.templates import Templates, attr, nvset, once
from instanceha.cluster.attribute_names import EVACUATE_ATTRIBUTE
from instanceha.spec import ParamError

if TYPE_CHECKING:
    from instanceha.ocf.agent import ActionSpec, AgentSpec

__all__ = [
    "DEFAULT_SCHEMA",
    "OCF_AGENTS",
    "PASSWORD_FILE_READER",
    "RenderError",
    "RenderOptions",
    "action_key",
    "action_values",
    "agent_spec",
    "read_password_file",
    "render_cib",
]

#: validate-with of a rendered CIB when the installed Pacemaker cannot be asked.
DEFAULT_SCHEMA = "pacemaker-3.9"
#: Command fence_ipmi runs to read a password file (its first line is the password).
PASSWORD_FILE_READER = "/bin/cat"


#: Our OCF agents (keys of :data:`~instanceha.cib.inventory.AGENT_NAMES`): their resources'
#: operations take the agent's action declarations.
OCF_AGENTS = ("libvirtd", "nova_compute", "nova_evacuate")


class RenderError(ValueError):
    """The inventory cannot be rendered (e.g. an unreadable password file)."""


@dataclass(frozen=True)
class RenderOptions:
    """How to render: schema, and whether passwords may be inlined."""

    validate_with: str = DEFAULT_SCHEMA
    include_secrets: bool = False


def read_password_file(path: str) -> str:
    """The first line of a password file.

    :raises RenderError: when it cannot be read or is empty.
    """
    try:
        with open(path, encoding="utf-8") as handle:
            line = handle.readline().rstrip("\r\n")
    except OSError as err:
        raise RenderError(f"{path}: cannot read password file ({err.strerror})") from None
    except UnicodeDecodeError:
        raise RenderError(f"{path}: password file is not UTF-8 text") from None
    if not line:
        raise RenderError(f"{path}: password file is empty")
    return line


@functools.cache
def agent_spec(agent: str) -> AgentSpec:
    """The ``SPEC`` of our OCF agent ``agent`` (a key of :data:`OCF_AGENTS`).

    Its module is imported only here, when a CIB is rendered.
    """
    from instanceha.ocf.agent import AgentSpec

    if agent not in OCF_AGENTS:
        raise KeyError(agent)
    spec = importlib.import_module(f"instanceha.agents.{agent}").SPEC
    assert isinstance(spec, AgentSpec), agent
    return spec


def action_key(action: ActionSpec) -> str:
    """The placeholder prefix of ``action`` in a template: its name with ``_`` for ``-``,
    and ``_depth<n>`` for a monitor at ``OCF_CHECK_LEVEL`` n > 0 (``monitor_depth10``)."""
    key = action.name.replace("-", "_")
    return f"{key}_depth{action.depth}" if action.depth else key


def action_values(actions: Sequence[ActionSpec]) -> dict[str, str]:
    """``<key>_timeout`` and ``<key>_interval`` (:func:`action_key`) of every action, as
    Pacemaker durations in seconds (``60s``; no interval is ``0s``).

    :raises RenderError: when two actions would fill the same placeholders.
    """
    values: dict[str, str] = {}
    for action in actions:
        key = action_key(action)
        if f"{key}_timeout" in values:
            raise RenderError(f"two {action.name} actions at depth {action.depth or 0}")
        values[f"{key}_timeout"] = f"{action.timeout}s"
        values[f"{key}_interval"] = f"{action.interval or 0}s"
    return values


def _secret_params(bmc: Bmc, include: bool, read: Callable[[str], str]) -> list[tuple[str, str]]:
    if bmc.password_file is None:
        return [("password_script", bmc.password_script or "")]
    if include:
        return [("password", read(bmc.password_file))]
    return [("password_script", f"{PASSWORD_FILE_READER} {shlex.quote(bmc.password_file)}")]


class _Renderer:
    def __init__(
        self,
        inv: Inventory,
        templates: Templates,
        options: RenderOptions,
        read_secret: Callable[[str], str],
    ) -> None:
        self.inv = inv
        self.t = templates
        self.options = options
        self.read_secret = read_secret

    # ------------------------------------------------------------ pieces

    def nova_common(self) -> list[tuple[str, str]]:
        """cloud, domain and host_map: the same on every agent that talks to Nova."""
        pairs = [("cloud", self.inv.cloud)]
        if self.inv.nova_domain:
            pairs.append(("domain", self.inv.nova_domain))
        host_map = self.inv.host_map()
        if host_map:
            pairs.append(("host_map", host_map))
        return pairs

    def fence_ipmi(self, name: str, bmc: Bmc, field: str) -> str:
        """``fence-ipmi-<name>``; ``field`` is the inventory path of its ``bmc``."""
        set_id = f"fence-ipmi-{name}-instance_attributes"
        pairs = [("ip", bmc.address), ("ipport", str(bmc.port)), ("username", bmc.username)]
        pairs += _secret_params(bmc, self.options.include_secrets, self.read_secret)
        pairs += [*self.inv.agents.fence_ipmi, *bmc.options, ("pcmk_host_list", name)]
        pairs = _merged(pairs)
        try:
            check_agent_parameters("fence_ipmi", pairs)
        except ParamError as err:
            if err.name == "password" and bmc.password_file:  # never the value itself
                raise RenderError(f"{field}.password_file: {bmc.password_file}: the password "
                                  f"{err.problem}") from None
            raise RenderError(f"fence-ipmi-{name} ({field}): fence_ipmi: {err.problem}") \
                from None
        return self.t.fill(
            "fence-ipmi",
            name=attr(name),
            instance_attributes=nvset("instance_attributes", set_id, pairs),
        )

    def ops(self, agent: str, start_timeout: str | None = None) -> dict[str, str]:
        """Template values of ``agent``'s operations (:func:`action_values`), with
        ``default_start_timeout`` the declared one and ``start_timeout`` the inventory's
        override when it has one."""
        values = action_values(agent_spec(agent).actions)
        values["default_start_timeout"] = values["start_timeout"]
        if start_timeout is not None:
            values["start_timeout"] = start_timeout
        return {name: attr(value) for name, value in values.items()}

    def every_compute_device(self, agent: str, rendered: list[tuple[str, str]],
                             extra: Sequence[tuple[str, str]]) -> str:
        """A fence device in every compute's fencing level (``fence-nova``, ``fence-hold``).

        pcmk_action_limit=-1: without it Pacemaker runs one action at a time on a device, and
        hosts whose failures are detected together would be fenced one after the other; its
        actions on different hosts are independent.
        """
        rid = agent.replace("_", "-")
        pairs = [*rendered, ("pcmk_action_limit", "-1"), *extra,
                 ("pcmk_host_list", ",".join(c.name for c in self.inv.computes))]
        return self.t.fill(rid, instance_attributes=nvset(
            "instance_attributes", f"{rid}-instance_attributes", _checked(agent, rid, pairs)))

    def crm_config(self) -> str:
        blocks = [self.t.fill("crm_config")]
        if len(self.inv.controllers) == 2:
            blocks.append(self.t.fill("crm_config-two-controllers"))
        return "\n".join(blocks)

    def nodes(self) -> str:
        role = attr(self.inv.role_attribute)
        blocks = once([
            self.t.fill("node-controller", name=attr(c.name), node_id=attr(c.node_id),
                        role_attribute=role)
            for c in self.inv.controllers
        ])
        blocks += once([
            self.t.fill("node-compute", name=attr(c.name), role_attribute=role)
            for c in self.inv.computes
        ])
        return "\n".join(blocks)

    def resources(self) -> str:
        remotes = []
        for c in self.inv.computes:
            pairs = [("server", c.address)]
            if c.remote.port is not None:
                pairs.append(("port", str(c.remote.port)))
            pairs.append(("reconnect_interval", c.remote.reconnect_interval))
            remotes.append(
                self.t.fill(
                    "remote",
                    name=attr(c.name),
                    address=attr(c.address),
                    monitor_interval=attr(c.remote.monitor_interval),
                    monitor_timeout=attr(c.remote.monitor_timeout),
                    instance_attributes=nvset(
                        "instance_attributes", f"{c.name}-instance_attributes", pairs
                    ),
                )
            )
        blocks = once(remotes)
        blocks += once(
            [self.fence_ipmi(c.name, c.bmc, f"controllers[{i}].bmc")
             for i, c in enumerate(self.inv.controllers) if c.bmc]
            + [self.fence_ipmi(c.name, c.bmc, f"computes[{i}].bmc")
               for i, c in enumerate(self.inv.computes)]
        )
        blocks.append(self.every_compute_device("fence_nova", self.nova_common(),
                                                self.inv.agents.fence_nova))
        blocks.append(self.every_compute_device("fence_hold", [], self.inv.agents.fence_hold))
        blocks.append(
            self.t.fill(
                "libvirtd",
                **self.ops("libvirtd"),
                instance_attributes=nvset(
                    "instance_attributes", "libvirtd-instance_attributes",
                    _checked("libvirtd", "libvirtd", list(self.inv.agents.libvirtd)),
                ),
            )
        )
        compute_pairs = [*self.nova_common(), *self.inv.agents.nova_compute]
        blocks.append(
            self.t.fill(
                "nova-compute",
                **self.ops("nova_compute", self.inv.agents.nova_compute_start_timeout),
                instance_attributes=nvset(
                    "instance_attributes", "nova-compute-instance_attributes",
                    _checked("nova_compute", "nova-compute", compute_pairs),
                ),
            )
        )
        ev = self.inv.evacuation
        evac_pairs = [
            *self.nova_common(),
            ("evacuation_mode", ev.mode),
            ("tag_key", ev.tag_key),
            ("max_parallel", str(ev.max_parallel)),
            ("mass_failure_hosts", str(ev.mass_failure_hosts)),
            ("mass_failure_percent", str(ev.mass_failure_percent)),
        ]
        if ev.reserved_hosts:
            evac_pairs.append(("reserved_hosts", ",".join(ev.reserved_hosts)))
        evac_pairs += self.inv.agents.nova_evacuate
        blocks.append(
            self.t.fill(
                "nova-evacuate",
                **self.ops("nova_evacuate"),
                instance_attributes=nvset(
                    "instance_attributes", "nova-evacuate-instance_attributes",
                    _checked("nova_evacuate", "nova-evacuate", evac_pairs),
                ),
            )
        )
        return "\n".join(blocks)

    def constraints(self) -> str:
        blocks = [self.t.fill("constraints", role_attribute=attr(self.inv.role_attribute),
                              evacuate_attribute=attr(EVACUATE_ATTRIBUTE))]
        blocks += once([
            self.t.fill("fence-ipmi-avoid", name=attr(c.name))
            for c in self.inv.controllers
            if c.bmc
        ])
        return "\n".join(blocks)

    def topology(self) -> str:
        return "\n".join(
            once([self.t.fill("fencing-level", name=attr(c.name)) for c in self.inv.computes])
        )

    def alerts(self) -> str:
        alert = self.inv.alert
        recipients = ""
        if alert.recipient:
            rid = "instanceha-fence-event-recipient"
            recipients = f'<recipient id="{rid}" value="{attr(alert.recipient)}"/>'
        return self.t.fill(
            "alert",
            path=attr(alert.path),
            timeout=attr(alert.timeout),
            instance_attributes=nvset(
                "instance_attributes", "instanceha-fence-event-instance_attributes",
                list(alert.options),
            ),
            recipients=recipients,
        )

    def cib(self) -> str:
        def section(text: str) -> str:
            return "\n".join("      " + row if row else row for row in text.splitlines())

        return self.t.fill(
            "cib",
            validate_with=attr(self.options.validate_with),
            crm_config=section(self.crm_config()),
            nodes=section(self.nodes()),
            resources=section(self.resources()),
            constraints=section(self.constraints()),
            fencing_topology=section(self.topology()),
            alerts=section(self.alerts()),
            rsc_defaults=section(self.t.fill("rsc_defaults")),
        ) + "\n"


def _merged(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Later pairs override earlier ones with the same name, keeping the first position."""
    merged: dict[str, str] = {}
    for name, value in pairs:
        merged[name] = value
    return list(merged.items())


def _checked(agent: str, resource: str, pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """``pairs`` merged, once the agent's own parameter declarations accept them."""
    merged = _merged(pairs)
    try:
        check_agent_parameters(agent, merged)
    except ParamError as err:
        raise RenderError(f"{resource}: {AGENT_NAMES[agent]}: {err}") from None
    return merged


def render_cib(
    inventory: Inventory,
    *,
    templates: Templates | None = None,
    options: RenderOptions = RenderOptions(),
    read_secret: Callable[[str], str] = read_password_file,
) -> str:
    """The whole CIB (configuration plus an empty status) as XML text.

    :raises RenderError: when a password file cannot be read (``include_secrets``), or
        a resource would get a parameter its agent refuses.
    :raises instanceha.cib.templates.TemplateError: on a broken template.
    """
    text = _Renderer(inventory, templates or Templates(), options, read_secret).cib()
    try:
        ET.fromstring(text)
    except ET.ParseError as err:
        raise RenderError(f"the templates produced malformed XML: {err}") from None
    return text
