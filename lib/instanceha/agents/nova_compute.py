"""ocf:instanceha:NovaCompute — run nova-compute on a compute node, never while it is evacuated.

No action of this agent waits for an evacuation or for Nova: while any action is in flight
Pacemaker starts no new transition, so a start held open for an evacuation would leave the
next failed host unfenced (and deadlock with a restarting evacuator).

* The gate is Pacemaker's: the rendered location rule
  ``location-nova-compute-clone-evacuation-gate`` bans this clone from a node whose durable
  evacuation request is set and not ``done``; the transition after the evacuator's ``done``
  starts it.
* ``start`` publishes the node's Nova host name (``instanceha-nova-host``),
  refuses at once if an evacuation of this node is unfinished anyway (a forced start, a
  configuration without the rule), starts nova-compute (systemd when present, else directly
  with a pid file) and sets the transient attribute
  :data:`~instanceha.cluster.attribute_names.SERVICE_ATTRIBUTE` to ``started``: the
  evacuator then clears our force-down and, once Nova sees the service up, our disable
  (:mod:`instanceha.evacuator.service_return`).
* ``stop`` stops nova-compute and removes that attribute.
* ``monitor`` checks the process; at OCF_CHECK_LEVEL 10, once the evacuator has returned the
  host to service, also that Nova reports the service up (degraded, not failed, when Nova
  cannot be reached or reports it down).
"""

from __future__ import annotations

import logging
import os
import shlex
from collections.abc import Mapping
from typing import TYPE_CHECKING

from instanceha.agents._service import DirectDaemon, ServiceManager, choose_manager, service_failure
from instanceha.clock import Clock, SystemClock
from instanceha.nova.hostmap import HostMapError
from instanceha.nova.params import CREDENTIAL_PARAMS, HOSTMAP_PARAMS, cloud_config, host_map
from instanceha.ocf import ActionSpec, Agent, AgentSpec, Context, OcfError, OcfRc
from instanceha.ocf import main as ocf_main
from instanceha.spec import Param, Params, ParamSet, ParamType

if TYPE_CHECKING:
    from instanceha.cluster import NodeAttributes, TransientAttributes
    from instanceha.nova.model import NovaPort

__all__ = ["AGENT", "SPEC", "main"]

_LOG = logging.getLogger("instanceha")
_SERVICE = (
    Param("nova_host", "Nova host name",
          "Nova service host of this node; default: host_map, then domain, then the node name."),
    Param("service_manager", "how nova-compute is run",
          "auto uses systemd when the node runs it, direct process control otherwise.",
          type=ParamType.SELECT, choices=("auto", "systemd", "direct"), default="auto"),
    Param("systemd_unit", "systemd unit", "Unit managed when systemd is used.",
          default="nova-compute.service"),
    Param("binary", "nova-compute executable", "Executable run in direct mode.",
          default="/usr/bin/nova-compute"),
    Param("config_files", "nova configuration files",
          "Space-separated files passed as --config-file in direct mode.",
          default="/etc/nova/nova.conf", shell_words=True),
    Param("pidfile", "pid file", "Pid file of nova-compute in direct mode.",
          default="/run/nova-compute.pid"),
    Param("log_file", "output file", "Where nova-compute's stdout/stderr go in direct mode.",
          default="/var/log/nova/nova-compute.out"),
    Param("user", "user", "User nova-compute runs as in direct mode (empty: root).",
          default=""),
)

SPEC = AgentSpec(
    name="NovaCompute",
    version="1.0",
    shortdesc="Runs nova-compute, never on a host whose evacuation is unfinished",
    longdesc=(
        "Clone on the compute nodes (pacemaker_remote). Pacemaker keeps it stopped on a node "
        "whose evacuation is unfinished (instanceha's rendered location rule on the durable "
        "request attribute); no action waits for an evacuation or for Nova. start publishes "
        "the node's Nova host name, starts nova-compute and sets the transient attribute "
        "instanceha-nova-compute=started, after which NovaEvacuate undoes the force-down and "
        "the disable that fencing applied (only a disable carrying instanceha's reason "
        "marker). stop removes the attribute. monitor checks the process and, at "
        "OCF_CHECK_LEVEL 10, that Nova reports the service up."
    ),
    params=ParamSet((*CREDENTIAL_PARAMS, *HOSTMAP_PARAMS, *_SERVICE)),
    actions=(
        ActionSpec("start", timeout=60),
        ActionSpec("stop", timeout=120),
        ActionSpec("monitor", timeout=30, interval=10, depth=0),
        ActionSpec("monitor", timeout=60, interval=60, depth=10),
        ActionSpec("validate-all", timeout=20),
        ActionSpec("meta-data", timeout=5),
    ),
)


def _node(ctx: Context) -> str:
    if ctx.on_node:
        return ctx.on_node
    # the cluster package costs ~10 ms of imports: only the actions that need it load it
    from instanceha.cluster import ClusterError, ClusterNodes

    try:
        return ClusterNodes().local_name()
    except ClusterError as error:
        raise OcfError(OcfRc.ERR_GENERIC, f"cannot tell this node's name: {error}") from None


def _nova_host(ctx: Context, params: Params) -> str:
    if params.text("nova_host"):
        return params.text("nova_host")
    try:
        return host_map(params).nova_host(_node(ctx))
    except HostMapError as error:
        raise OcfError(OcfRc.ERR_CONFIGURED, f"cannot map this node to a Nova host: {error}") \
            from None


def _manager(params: Params, clock: Clock | None = None) -> ServiceManager:
    argv = [params.text("binary")]
    for path in shlex.split(params.text("config_files")):
        argv += ["--config-file", path]
    daemon = DirectDaemon(argv, params.text("pidfile"),
                          log_path=params.text("log_file") or os.devnull,
                          user=params.text("user") or None, clock=clock or SystemClock())
    with service_failure(OcfRc.ERR_INSTALLED):
        return choose_manager(params.text("service_manager"), params.text("systemd_unit"), daemon)


def _nova(params: Params, environ: Mapping[str, str]) -> NovaPort:
    from instanceha.nova.client import NovaClient
    from instanceha.nova.credentials import CredentialsError

    try:
        return NovaClient(cloud_config(params, environ))
    except CredentialsError as error:
        raise OcfError(OcfRc.ERR_CONFIGURED, f"credentials: {error}") from None


def validate(ctx: Context, params: Params) -> None:
    """Cheap checks before every action: the host mapping and the executable."""
    try:
        host_map(params)
    except HostMapError as error:
        raise OcfError(OcfRc.ERR_CONFIGURED, str(error)) from None
    if not isinstance(_manager(params, ctx.clock), DirectDaemon):
        return  # systemd owns the executable and its configuration
    if not os.access(params.text("binary"), os.X_OK):
        raise OcfError(OcfRc.ERR_INSTALLED, f"nova-compute {params.text('binary')} not found")
    for path in shlex.split(params.text("config_files")):
        if not os.path.isfile(path):
            raise OcfError(OcfRc.ERR_CONFIGURED, f"config file {path} does not exist")


def validate_all(ctx: Context, params: Params) -> OcfRc:
    """Also the Nova host name and the credentials (nothing is contacted)."""
    from instanceha.nova.credentials import CredentialsError

    _nova_host(ctx, params)
    try:
        cloud_config(params, ctx.environ)
    except CredentialsError as error:
        raise OcfError(OcfRc.ERR_CONFIGURED, f"credentials: {error}") from None
    return OcfRc.SUCCESS


def _attributes() -> NodeAttributes:
    """The cluster's permanent node attributes (where the evacuation requests live)."""
    from instanceha.cluster import NodeAttributes

    return NodeAttributes()


def _refuse_if_evacuating(node: str) -> None:
    """Fail at once (never wait) when this node's evacuation is unfinished."""
    from instanceha.cluster import ClusterError, EvacuationRequests, EvacuationState

    try:
        request = EvacuationRequests(_attributes()).get(node)
    except (ClusterError, ValueError) as error:
        raise OcfError(OcfRc.ERR_GENERIC, f"cannot read the evacuation request: {error}") \
            from None
    if request is not None and request.state is not EvacuationState.DONE:
        raise OcfError(OcfRc.ERR_GENERIC,
                       f"evacuation of {node} is {request.encode()}: nova-compute must not "
                       "start before it is done (is the evacuation gate rule missing?)")


def _transient() -> TransientAttributes:
    """The cluster's reboot-lifetime node attributes (the return-to-service marker)."""
    from instanceha.cluster import TransientAttributes

    return TransientAttributes()


def start(ctx: Context, params: Params) -> OcfRc:
    """Publish, refuse if evacuating, start, hand over to the evacuator (module docstring)."""
    from instanceha.cluster import ClusterError
    from instanceha.cluster.attribute_names import (
        NOVA_HOST_ATTRIBUTE,
        SERVICE_ATTRIBUTE,
        SERVICE_STARTED,
    )

    validate_all(ctx, params)
    node, host = _node(ctx), _nova_host(ctx, params)
    manager = _manager(params, ctx.clock)
    try:
        _attributes().set(node, NOVA_HOST_ATTRIBUTE, host)
    except ClusterError as error:
        raise OcfError(OcfRc.ERR_GENERIC, f"cannot publish the Nova host name: {error}") from None
    if not manager.is_running():
        _refuse_if_evacuating(node)
        _LOG.info("starting %s for Nova host %s", manager.describe(), host)
        with service_failure():
            manager.start(ctx.deadline)
    try:
        _transient().set(node, SERVICE_ATTRIBUTE, SERVICE_STARTED)
    except ClusterError as error:
        raise OcfError(OcfRc.ERR_GENERIC,
                       f"nova-compute runs but the evacuator cannot be told: {error}") from None
    return OcfRc.SUCCESS


def monitor(ctx: Context, params: Params) -> OcfRc:
    """Process alive; at depth 10 also up in Nova, once the evacuator returned the host to
    service (until then Nova rightly reports it forced down or not yet up)."""
    if not _manager(params, ctx.clock).is_running():
        return OcfRc.NOT_RUNNING
    if ctx.check_level < 10 or ctx.is_probe:
        return OcfRc.SUCCESS
    from instanceha.cluster import ClusterError
    from instanceha.cluster.attribute_names import SERVICE_ATTRIBUTE, SERVICE_STARTED

    try:
        returning = _transient().get(_node(ctx), SERVICE_ATTRIBUTE) == SERVICE_STARTED
    except ClusterError as error:
        _LOG.warning("cannot read %s: %s", SERVICE_ATTRIBUTE, error)
        return OcfRc.DEGRADED
    if returning:
        _LOG.info("nova-compute runs; the evacuator is returning the host to service")
        return OcfRc.SUCCESS
    return _nova_reports_up(_nova_host(ctx, params), params, ctx.environ)


def _nova_reports_up(host: str, params: Params, environ: Mapping[str, str]) -> OcfRc:
    """SUCCESS when Nova reports the service up and not forced down, else DEGRADED."""
    from instanceha.nova.model import NovaError

    try:
        services = _nova(params, environ).list_compute_services(host)
    except NovaError as error:
        _LOG.warning("cannot confirm %s in Nova: %s", host, error)
        return OcfRc.DEGRADED
    if not services:
        raise OcfError(OcfRc.ERR_GENERIC, f"Nova has no nova-compute service on {host}")
    if services[0].forced_down or services[0].state != "up":
        _LOG.warning("Nova reports %s %s (forced_down=%s)", host, services[0].state,
                     services[0].forced_down)
        return OcfRc.DEGRADED
    return OcfRc.SUCCESS


def stop(ctx: Context, params: Params) -> OcfRc:
    """Stop nova-compute, then withdraw the return-to-service marker (best effort: a stop
    that fails gets its node fenced)."""
    from instanceha.cluster import ClusterError
    from instanceha.cluster.attribute_names import SERVICE_ATTRIBUTE

    manager = _manager(params, ctx.clock)
    with service_failure():
        manager.stop(ctx.deadline)
    try:
        _transient().delete(_node(ctx), SERVICE_ATTRIBUTE)
    except (ClusterError, OcfError) as error:
        _LOG.warning("cannot withdraw %s: %s", SERVICE_ATTRIBUTE, error)
    return OcfRc.SUCCESS


AGENT = Agent(
    spec=SPEC,
    handlers={"start": start, "stop": stop, "monitor": monitor, "validate-all": validate_all},
    validate=validate,
)


def main() -> None:
    """Entry point of the agents/NovaCompute shim."""
    ocf_main(AGENT)
