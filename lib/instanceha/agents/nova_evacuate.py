"""ocf:instanceha:NovaEvacuate — run the evacuator on the controllers (active/passive).

``start`` writes the configuration to a root-only file and launches the
evacuator (:mod:`instanceha.evacuator`) as a supervised worker; ``monitor``
only checks that the worker lives and its heartbeat is fresh, never doing
evacuation work itself; ``stop`` ends the worker, which hands its in-flight
requests back so that the next evacuator resumes them without duplicates.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time

from instanceha.agents._service import service_failure
from instanceha.ocf import ActionSpec, Agent, AgentSpec, Context, OcfError, OcfRc
from instanceha.ocf import main as ocf_main
from instanceha.openstack_params import CREDENTIAL_PARAMS, HOSTMAP_PARAMS, cloud_config, host_map
from instanceha.service import DirectDaemon
from instanceha.spec import Param, Params, ParamSet, ParamType

__all__ = ["AGENT", "SPEC", "main", "state_dir"]

_LOG = logging.getLogger("instanceha")
_WORKER_MODULE = "instanceha.evacuator"
#: Launches of the worker one start may make before it reports failure.
_START_LAUNCHES = 3

_TUNING = (
    Param("evacuation_mode", "which instances to evacuate",
          "all: every instance; tagged: only protected ones (flavor, image, aggregate or "
          "server metadata, see tag_key); tagged-or-all: protected ones, or all when the host "
          "has none (fence_evacuate's behaviour).",
          type=ParamType.SELECT, choices=("all", "tagged", "tagged-or-all"),
          default="tagged-or-all"),
    Param("tag_key", "protection key", "Flavor extra spec, image property/tag, aggregate or "
          "server metadata key marking protected instances.", default="evacuable"),
    Param("reserved_hosts", "reserved target hosts",
          "Comma-separated Nova hosts to evacuate to (empty: let the scheduler choose)."),
    Param("max_parallel", "evacuations in flight", "Evacuations in flight at once per host.",
          type=ParamType.INTEGER, default=8, minimum=1, maximum=200),
    Param("stagger_ms", "gap between evacuate calls (ms)", "Minimum gap between two calls.",
          type=ParamType.INTEGER, default=0, minimum=0, maximum=60000),
    Param("max_attempts", "attempts per instance", "Evacuate calls per instance before "
          "it is reported failed.", type=ParamType.INTEGER, default=3, minimum=1, maximum=20),
    Param("instance_timeout", "seconds per attempt", "From the evacuate call to the target "
          "state on another host.", type=ParamType.INTEGER, default=600, minimum=10),
    Param("mass_failure_hosts", "mass-failure host limit",
          "Hold evacuation when more compute hosts than this fail within "
          "mass_failure_window (0: no limit). Release with 'instanceha evacuate --release'.",
          type=ParamType.INTEGER, default=0, minimum=0),
    Param("mass_failure_percent", "mass-failure share limit",
          "Hold evacuation when more than this percentage of compute hosts fail within "
          "mass_failure_window (0: no limit).",
          type=ParamType.INTEGER, default=0, minimum=0, maximum=100),
    Param("mass_failure_window", "mass-failure window (s)", "Window of the two limits above.",
          type=ParamType.INTEGER, default=600, minimum=10),
    Param("poll_interval", "seconds between passes", "How often the evacuator looks for "
          "requests.", type=ParamType.INTEGER, default=5, minimum=1, maximum=300),
    Param("takeover_after", "seconds before a dead owner's claim is taken over",
          "Must exceed poll_interval plus clock skew between controllers.",
          type=ParamType.INTEGER, default=60, minimum=10),
    Param("heartbeat_timeout", "monitor failure threshold (s)",
          "monitor fails when the worker's heartbeat is older than this.",
          type=ParamType.INTEGER, default=60, minimum=5),
    Param("state_dir", "state directory",
          "Where the worker keeps its pid, heartbeat and root-only configuration "
          "(default: $HA_RSCTMP/<resource>)."),
)

SPEC = AgentSpec(
    name="NovaEvacuate",
    version="1.0",
    shortdesc="Evacuates instances of fenced compute hosts",
    longdesc=(
        "Runs the instanceha evacuator on one controller. It picks up the durable evacuation "
        "requests that fence_nova or the post-fence alert record as node attributes (and "
        "reconciles them with the fencing history), evacuates every protected instance of a "
        "fenced host exactly once, and publishes progress and outcome as node attributes "
        "(crm_mon -A). The monitor only checks the worker's heartbeat. On failover the next "
        "controller resumes without duplicate evacuations."
    ),
    params=ParamSet((*CREDENTIAL_PARAMS, *HOSTMAP_PARAMS, *_TUNING)),
    actions=(
        ActionSpec("start", timeout=30),
        ActionSpec("stop", timeout=60),
        ActionSpec("monitor", timeout=20, interval=10),
        ActionSpec("validate-all", timeout=20),
        ActionSpec("meta-data", timeout=5),
    ),
)


def state_dir(ctx: Context, params: Params) -> str:
    """The worker's private directory."""
    instance = ctx.instance or "NovaEvacuate"
    return params.text("state_dir") or os.path.join(ctx.rsctmp, f"NovaEvacuate-{instance}")


#: What the worker keeps of the agent's environment: the path, the locale, ocf_log's settings.
_WORKER_ENV = frozenset({"PATH", "LANG", "HA_LOGFILE", "HA_DEBUGLOG", "HA_debug", "HA_LOGFACILITY",
                         "HA_DATEFMT"})


def _worker(ctx: Context, params: Params) -> DirectDaemon:
    directory = state_dir(ctx, params)
    config = os.path.join(directory, "config.json")
    env = {k: v for k, v in os.environ.items() if k in _WORKER_ENV}
    env["OCF_RESOURCE_INSTANCE"] = ctx.instance
    return DirectDaemon([sys.executable, "-m", _WORKER_MODULE, config],
                        os.path.join(directory, "worker.pid"), executable=sys.executable,
                        env=env, marker=_WORKER_MODULE,
                        log_path=os.path.join(directory, "worker.out"))


def validate(ctx: Context, params: Params) -> None:
    """Cheap checks, run before every action."""
    try:
        host_map(params)
    except ValueError as error:
        raise OcfError(OcfRc.ERR_CONFIGURED, str(error)) from None


def validate_all(ctx: Context, params: Params) -> OcfRc:
    """Also resolve the credentials (without contacting anything)."""
    from instanceha.nova.credentials import CredentialsError

    try:
        cloud_config(params, os.environ)
    except CredentialsError as error:
        raise OcfError(OcfRc.ERR_CONFIGURED, f"credentials: {error}") from None
    return OcfRc.SUCCESS


def _write_config(ctx: Context, params: Params, directory: str) -> str:
    os.makedirs(directory, mode=0o700, exist_ok=True)
    os.chmod(directory, 0o700)
    path = os.path.join(directory, "config.json")
    raw = {p.name: _raw(params[p.name]) for p in SPEC.params if params[p.name] is not None}
    payload = {"params": raw, "heartbeat": os.path.join(directory, "heartbeat"),
               "owner": ctx.on_node}
    tmp = f"{path}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(payload, handle)
    os.replace(tmp, path)
    return path


def _raw(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def start(ctx: Context, params: Params) -> OcfRc:
    """Launch the worker and wait for its first heartbeat (about a second).

    A worker that dies before its first heartbeat is launched again while the start's
    deadline allows: one crash must not fail the start, since a failed start bans the
    evacuator from its controller until the failure expires.
    """
    validate_all(ctx, params)
    worker = _worker(ctx, params)
    if worker.is_running():
        return OcfRc.SUCCESS
    directory = state_dir(ctx, params)
    _write_config(ctx, params, directory)
    heartbeat = os.path.join(directory, "heartbeat")
    for launch in range(1, _START_LAUNCHES + 1):
        if os.path.exists(heartbeat):
            os.unlink(heartbeat)
        with service_failure():
            worker.start(ctx.deadline)
        while time.monotonic() < ctx.deadline:
            if os.path.exists(heartbeat):
                _LOG.info("evacuator running (pid %s)", worker.pid())
                return OcfRc.SUCCESS
            if not worker.is_running():
                break
            time.sleep(0.1)
        else:
            raise OcfError(OcfRc.ERR_GENERIC,
                           "evacuator did not report its first heartbeat in time")
        _LOG.warning("evacuator exited during start (launch %d of %d); see %s/worker.out",
                     launch, _START_LAUNCHES, directory)
    raise OcfError(OcfRc.ERR_GENERIC, f"evacuator exited {_START_LAUNCHES} times during "
                   f"start; see {directory}/worker.out")


def monitor(ctx: Context, params: Params) -> OcfRc:
    """Worker alive and heartbeat fresh; never evacuates anything itself."""
    if not _worker(ctx, params).is_running():
        return OcfRc.NOT_RUNNING
    if ctx.is_probe:
        return OcfRc.SUCCESS
    heartbeat = os.path.join(state_dir(ctx, params), "heartbeat")
    try:
        age = time.time() - os.stat(heartbeat).st_mtime
    except FileNotFoundError:
        raise OcfError(OcfRc.ERR_GENERIC, "evacuator has no heartbeat file") from None
    if age > params.integer("heartbeat_timeout"):
        raise OcfError(OcfRc.ERR_GENERIC, f"evacuator heartbeat is {age:.0f}s old (hung?)")
    return OcfRc.SUCCESS


def stop(ctx: Context, params: Params) -> OcfRc:
    """Stop the worker; it releases its claims so the next evacuator resumes them."""
    with service_failure():
        _worker(ctx, params).stop(ctx.deadline)
    return OcfRc.SUCCESS


AGENT = Agent(
    spec=SPEC,
    handlers={"start": start, "stop": stop, "monitor": monitor, "validate-all": validate_all},
    validate=validate,
)


def main() -> None:
    """Entry point of the agents/NovaEvacuate shim."""
    ocf_main(AGENT)
