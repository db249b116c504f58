"""ocf:instanceha:NovaCompute — gate, run and re-enable nova-compute on a compute node.

``start``:

1. publish this node's Nova host name as the node attribute
   :data:`~instanceha.hostmap.NOVA_HOST_ATTRIBUTE`;
2. wait, bounded by the start timeout, until no evacuation of this host is
   pending or in flight: the durable request is absent or ``done``, and Nova
   lists no unfinished evacuation migration from this host (while Nova cannot
   be asked, keep waiting: starting blind could race an evacuation);
3. start nova-compute (systemd when present, else directly with a pid file);
4. undo our fencing in Nova: clear ``forced_down`` (Nova refuses while
   ``done`` evacuation migrations remain; the started nova-compute moves them
   to ``completed``, so retry until then), then enable the service when it
   was disabled with our reason marker (an admin's disable is kept).

``monitor`` checks the process; at OCF_CHECK_LEVEL 10 also that Nova reports
the service up (degraded, not failed, while Nova cannot be reached).
"""

from __future__ import annotations

import logging
import os
import shlex
import time
from typing import TYPE_CHECKING

from instanceha.agents._service import service_failure
from instanceha.hostmap import NOVA_HOST_ATTRIBUTE, HostMapError
from instanceha.ocf import ActionSpec, Agent, AgentSpec, Context, OcfError, OcfRc
from instanceha.ocf import main as ocf_main
from instanceha.openstack_params import CREDENTIAL_PARAMS, HOSTMAP_PARAMS, cloud_config, host_map
from instanceha.service import DirectDaemon, ServiceManager, choose_manager
from instanceha.spec import Param, Params, ParamSet, ParamType

if TYPE_CHECKING:
    from instanceha.cluster import NodeAttributes
    from instanceha.nova.model import NovaPort

__all__ = ["AGENT", "SPEC", "UNFINISHED_MIGRATION_STATUSES", "main"]

_LOG = logging.getLogger("instanceha")
_POLL_S = 3.0
_UP_MARGIN_S = 5.0  # of the start timeout kept back when waiting for the first heartbeat

#: Evacuation migration statuses that mean "still moving away from this host".
UNFINISHED_MIGRATION_STATUSES = frozenset(
    {"accepted", "pre-migrating", "migrating", "post-migrating", "queued", "preparing",
     "running"}
)

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
          default="/etc/nova/nova.conf"),
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
    shortdesc="Runs nova-compute once its host's evacuation is finished",
    longdesc=(
        "Clone on the compute nodes (pacemaker_remote). start publishes the node's Nova host "
        "name, waits until no evacuation of this host is pending or in flight, starts "
        "nova-compute and then undoes the force-down and disable that fencing applied "
        "(only a disable carrying instanceha's reason marker). monitor checks the process "
        "and, at OCF_CHECK_LEVEL 10, that Nova reports the service up. Give start a timeout "
        "long enough for a full evacuation."
    ),
    params=ParamSet((*CREDENTIAL_PARAMS, *HOSTMAP_PARAMS, *_SERVICE)),
    actions=(
        ActionSpec("start", timeout=600),
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


def _manager(params: Params) -> ServiceManager:
    argv = [params.text("binary")]
    for path in shlex.split(params.text("config_files")):
        argv += ["--config-file", path]
    daemon = DirectDaemon(argv, params.text("pidfile"),
                          log_path=params.text("log_file") or os.devnull,
                          user=params.text("user") or None)
    with service_failure(OcfRc.ERR_INSTALLED):
        return choose_manager(params.text("service_manager"), params.text("systemd_unit"), daemon)


def _nova(params: Params) -> NovaPort:
    from instanceha.nova.client import NovaClient
    from instanceha.nova.credentials import CredentialsError

    try:
        return NovaClient(cloud_config(params, os.environ))
    except CredentialsError as error:
        raise OcfError(OcfRc.ERR_CONFIGURED, f"credentials: {error}") from None


def validate(ctx: Context, params: Params) -> None:
    """Cheap checks before every action: the host mapping and the executable."""
    try:
        host_map(params)
    except HostMapError as error:
        raise OcfError(OcfRc.ERR_CONFIGURED, str(error)) from None
    if not isinstance(_manager(params), DirectDaemon):
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
        cloud_config(params, os.environ)
    except CredentialsError as error:
        raise OcfError(OcfRc.ERR_CONFIGURED, f"credentials: {error}") from None
    return OcfRc.SUCCESS


def _attributes() -> NodeAttributes:
    """The cluster's permanent node attributes (where the evacuation requests live)."""
    from instanceha.cluster import NodeAttributes

    return NodeAttributes()


def _evacuation_pending(node: str, host: str, nova: NovaPort) -> str | None:
    """Why this host must still wait, or None when nova-compute may start."""
    from instanceha.cluster import ClusterError, EvacuationRequests, EvacuationState
    from instanceha.nova.model import NovaError

    try:
        request = EvacuationRequests(_attributes()).get(node)
    except (ClusterError, ValueError) as error:
        return f"cannot read the evacuation request: {error}"
    if request is not None and request.state is not EvacuationState.DONE:
        return f"evacuation of {node} is {request.encode()}"
    try:
        moving = [m for m in nova.list_evacuations(host)
                  if m.status in UNFINISHED_MIGRATION_STATUSES]
    except NovaError as error:
        return f"cannot ask Nova about evacuations: {error}"
    if moving:
        return f"{len(moving)} evacuation(s) from {host} still in flight in Nova"
    return None


def _wait_for_gate(ctx: Context, node: str, host: str, nova: NovaPort) -> None:
    last = None
    while True:
        reason = _evacuation_pending(node, host, nova)
        if reason is None:
            return
        if reason != last:
            _LOG.info("nova-compute held back: %s", reason)
            last = reason
        if time.monotonic() + _POLL_S >= ctx.deadline:
            raise OcfError(OcfRc.ERR_GENERIC, f"start timed out while gated: {reason}")
        time.sleep(_POLL_S)


def _undo_fencing(ctx: Context, host: str, nova: NovaPort, *, enable: bool) -> None:
    """Clear our force-down (``enable=False``) or our disable (``enable=True``), retrying
    until Nova accepts: it refuses the unforce while done evacuations of the host remain,
    which the starting nova-compute completes."""
    from instanceha.nova.model import NovaError

    last = "no answer from Nova"
    while time.monotonic() < ctx.deadline:
        try:
            services = nova.list_compute_services(host)
            if not services:
                raise OcfError(OcfRc.ERR_CONFIGURED, f"Nova has no nova-compute on host {host}")
            service = services[0]
            if not enable and service.forced_down:
                nova.unforce_down(host)
                _LOG.info("cleared forced_down of %s", host)
            if enable and service.disabled_by_us:
                nova.enable(host)
                _LOG.info("re-enabled %s (was: %s)", host, service.disabled_reason)
            return
        except NovaError as error:  # NovaConflict: done evacuations not yet completed
            last = str(error)
        time.sleep(1.0)
    raise OcfError(OcfRc.ERR_GENERIC, f"nova-compute runs but Nova still fences {host}: {last}")


def start(ctx: Context, params: Params) -> OcfRc:
    """Publish, gate, start, re-enable (see the module docstring)."""
    from instanceha.cluster import ClusterError

    validate_all(ctx, params)
    node, host = _node(ctx), _nova_host(ctx, params)
    manager = _manager(params)
    try:
        _attributes().set(node, NOVA_HOST_ATTRIBUTE, host)
    except ClusterError as error:
        raise OcfError(OcfRc.ERR_GENERIC, f"cannot publish the Nova host name: {error}") from None
    nova = _nova(params)
    if not manager.is_running():
        _wait_for_gate(ctx, node, host, nova)
        _LOG.info("starting %s for Nova host %s", manager.describe(), host)
        with service_failure():
            manager.start(ctx.deadline)
    # unforce, then wait for a heartbeat, then enable: Nova only tells a compute it sees up
    # to drop the COMPUTE_STATUS_DISABLED trait; enabled earlier, the scheduler kept skipping
    # the host until nova-compute's next periodic sync (seen on the end-to-end lab)
    _undo_fencing(ctx, host, nova, enable=False)
    _wait_reported_up(ctx, host, nova)
    _undo_fencing(ctx, host, nova, enable=True)
    if not manager.is_running():
        raise OcfError(OcfRc.ERR_GENERIC, "nova-compute exited during start (see its log)")
    return OcfRc.SUCCESS


def _wait_reported_up(ctx: Context, host: str, nova: NovaPort) -> None:
    """Until Nova sees the service up (its first heartbeat), so that a started resource is a
    host in service and the first deep monitor does not report it degraded. Bounded by the
    start deadline minus a margin; past it the start goes on (the process runs)."""
    from instanceha.nova.model import NovaError

    until = ctx.deadline - _UP_MARGIN_S
    while time.monotonic() < until:
        try:
            services = nova.list_compute_services(host)
            if services and services[0].state == "up" and not services[0].forced_down:
                return
        except NovaError as error:
            _LOG.debug("waiting for %s to report: %s", host, error)
        time.sleep(1.0)
    _LOG.warning("nova-compute of %s runs but Nova does not report it up yet", host)


def monitor(ctx: Context, params: Params) -> OcfRc:
    """Process alive; at depth 10 also up in Nova."""
    if not _manager(params).is_running():
        return OcfRc.NOT_RUNNING
    if ctx.check_level < 10 or ctx.is_probe:
        return OcfRc.SUCCESS
    from instanceha.nova.model import NovaError

    host = _nova_host(ctx, params)
    try:
        services = _nova(params).list_compute_services(host)
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
    """Stop nova-compute."""
    manager = _manager(params)
    with service_failure():
        manager.stop(ctx.deadline)
    return OcfRc.SUCCESS


AGENT = Agent(
    spec=SPEC,
    handlers={"start": start, "stop": stop, "monitor": monitor, "validate-all": validate_all},
    validate=validate,
)


def main() -> None:
    """Entry point of the agents/NovaCompute shim."""
    ocf_main(AGENT)
