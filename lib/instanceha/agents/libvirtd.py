"""ocf:instanceha:libvirtd — manage and deeply monitor libvirtd on a compute node.

Monitor depth 0 checks that the daemon runs and its socket accepts
connections; depth 10 adds a real libvirt API round trip bounded by our own
deadline, so a hung libvirtd (alive, socket open, no answers) is reported as
failed before Pacemaker's monitor timeout would fire.
"""

from __future__ import annotations

import logging
import os

from instanceha.agents._libvirt_check import LibvirtCheckError, api_round_trip, socket_accepts
from instanceha.agents._service import (
    DirectDaemon,
    ServiceManager,
    SystemdUnit,
    choose_manager,
    service_failure,
)
from instanceha.clock import Clock, SystemClock
from instanceha.ocf import ActionSpec, Agent, AgentSpec, Context, OcfError, OcfRc
from instanceha.ocf import main as ocf_main
from instanceha.spec import Param, Params, ParamSet, ParamType

__all__ = ["AGENT", "SPEC", "main"]

_LOG = logging.getLogger("instanceha")
_SOCKET_WAIT_S = 2.0

SPEC = AgentSpec(
    name="libvirtd",
    version="1.0",
    shortdesc="Manages and deeply monitors libvirtd",
    longdesc=(
        "Starts, stops and monitors the libvirt daemon on a compute node, through systemd "
        "when the node runs it and directly (with a pid file) otherwise. Monitor at "
        "OCF_CHECK_LEVEL 0 checks the process and that its socket accepts connections; "
        "at OCF_CHECK_LEVEL 10 it also makes a read-only libvirt API call and fails when "
        "no answer comes within api_timeout, so that a hung libvirtd is told apart from a "
        "dead one. Under systemd, stop also stops the socket units that would start libvirtd "
        "again on demand (TriggeredBy), and start disables libvirtd's idle exit (Debian's "
        "--timeout 120) with a runtime drop-in, so that the cluster alone decides when "
        "libvirtd runs. Order it before NovaCompute."
    ),
    params=ParamSet(
        (
            Param(
                "binary",
                "libvirtd executable",
                "Path of the libvirtd executable (direct process control).",
                default="/usr/sbin/libvirtd",
            ),
            Param(
                "config",
                "libvirtd configuration file",
                "Passed as --config to libvirtd in direct mode; empty uses libvirtd's default.",
                default="",
            ),
            Param(
                "pidfile",
                "pid file",
                "Pid file of libvirtd in direct mode.",
                default="/run/libvirtd.pid",
            ),
            Param(
                "socket",
                "libvirtd socket",
                "UNIX socket that must accept connections for the daemon to count as up.",
                default="/run/libvirt/libvirt-sock",
            ),
            Param(
                "uri",
                "connection URI for the deep check",
                "libvirt URI opened read-only by monitor at OCF_CHECK_LEVEL 10 "
                "(e.g. qemu:///system, or qemu:///system?socket=/path/libvirt-sock-ro).",
                default="qemu:///system",
            ),
            Param(
                "api_timeout",
                "deadline of the deep check (seconds)",
                "Seconds the level-10 API call may take before libvirtd counts as hung; "
                "capped by the time left in the monitor operation.",
                type=ParamType.INTEGER,
                default=10,
                minimum=1,
                maximum=600,
            ),
            Param(
                "service_manager",
                "how libvirtd is run",
                "auto uses systemd when the node runs systemd and direct process control "
                "otherwise; systemd and direct force one.",
                type=ParamType.SELECT,
                choices=("auto", "systemd", "direct"),
                default="auto",
            ),
            Param(
                "systemd_unit",
                "systemd unit",
                "Unit managed when systemd is used.",
                default="libvirtd.service",
            ),
        )
    ),
    actions=(
        ActionSpec("start", timeout=60),
        ActionSpec("stop", timeout=60),
        ActionSpec("monitor", timeout=30, interval=10, depth=0),
        ActionSpec("monitor", timeout=30, interval=60, depth=10),
        ActionSpec("validate-all", timeout=10),
        ActionSpec("meta-data", timeout=5),
    ),
)


#: Debian's unit runs libvirtd with ``--timeout 120`` (LIBVIRTD_ARGS): it would exit when idle,
#: and the cluster would count a failure. Under systemd, start adds this runtime drop-in (gone
#: at reboot) so that Pacemaker alone decides when libvirtd stops; an admin's LIBVIRTD_ARGS in
#: /etc/default/libvirtd (the unit's EnvironmentFile) still wins.
NO_IDLE_EXIT_DROPIN = "50-instanceha-no-idle-exit"
NO_IDLE_EXIT = ("# ocf:instanceha:libvirtd: the cluster decides when libvirtd stops\n"
                "[Service]\nEnvironment=LIBVIRTD_ARGS=\n")


def _manager(params: Params, clock: Clock | None = None) -> ServiceManager:
    argv = [params.text("binary"), "--pid-file", params.text("pidfile")]
    if params.text("config"):
        argv += ["--config", params.text("config")]
    daemon = DirectDaemon(argv, params.text("pidfile"), clock=clock or SystemClock())
    with service_failure(OcfRc.ERR_INSTALLED):
        return choose_manager(params.text("service_manager"), params.text("systemd_unit"), daemon)


def validate(ctx: Context, params: Params) -> None:
    """Check the configuration and that what it names exists on this node."""
    direct = isinstance(_manager(params, ctx.clock), DirectDaemon)
    if direct and not os.access(params.text("binary"), os.X_OK):
        raise OcfError(OcfRc.ERR_INSTALLED, f"libvirtd binary {params.text('binary')} not found")
    config = params.text("config")
    if config and not os.path.isfile(config):
        raise OcfError(OcfRc.ERR_CONFIGURED, f"config file {config} does not exist")
    if not params.text("socket").startswith("/"):
        raise OcfError(OcfRc.ERR_CONFIGURED, "parameter 'socket' must be an absolute path")


def _health(ctx: Context, params: Params, deep: bool) -> None:
    """Raise OcfError(ERR_GENERIC) unless libvirtd answers as deeply as asked."""
    if not socket_accepts(params.text("socket"), min(_SOCKET_WAIT_S, ctx.remaining())):
        raise OcfError(
            OcfRc.ERR_GENERIC, f"libvirtd runs but its socket {params.text('socket')} refuses"
        )
    if deep:
        budget = min(float(params.integer("api_timeout")), ctx.remaining())
        try:
            api_round_trip(params.text("uri"), budget)
        except LibvirtCheckError as error:
            raise OcfError(OcfRc.ERR_GENERIC, str(error)) from None


def monitor(ctx: Context, params: Params) -> OcfRc:
    """Not running → 7; running and healthy to the asked depth → 0; else 1."""
    if not _manager(params, ctx.clock).is_running():
        return OcfRc.NOT_RUNNING
    _health(ctx, params, deep=ctx.check_level >= 10)
    return OcfRc.SUCCESS


def start(ctx: Context, params: Params) -> OcfRc:
    """Start libvirtd and wait until it answers API calls."""
    manager = _manager(params, ctx.clock)
    if not manager.is_running():
        _LOG.info("starting %s", manager.describe())
        with service_failure():
            if isinstance(manager, SystemdUnit):
                manager.runtime_dropin(NO_IDLE_EXIT_DROPIN, NO_IDLE_EXIT, ctx.deadline)
            manager.start(ctx.deadline)
    last = "libvirtd did not come up"
    while ctx.clock.monotonic() < ctx.deadline:
        if not manager.is_running():
            raise OcfError(OcfRc.ERR_GENERIC, "libvirtd exited during start (see its log)")
        try:
            _health(ctx, params, deep=True)
            _LOG.info("libvirtd is up")
            return OcfRc.SUCCESS
        except OcfError as error:
            last = error.reason
        ctx.clock.sleep(0.2)
    raise OcfError(OcfRc.ERR_GENERIC, f"start timed out: {last}")


def stop(ctx: Context, params: Params) -> OcfRc:
    """Stop libvirtd; success when it no longer runs."""
    manager = _manager(params, ctx.clock)
    if manager.is_running():
        _LOG.info("stopping %s", manager.describe())
    with service_failure():  # also when it is not running: its sockets may still listen
        manager.stop(ctx.deadline)
    return OcfRc.SUCCESS


AGENT = Agent(
    spec=SPEC,
    handlers={"start": start, "stop": stop, "monitor": monitor},
    validate=validate,
)


def main() -> None:
    """Entry point of the agents/libvirtd shim."""
    ocf_main(AGENT)
