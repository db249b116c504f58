"""ocf:instanceha:NovaEvacuate — run the evacuator on the controllers (active/passive).

``start`` writes the configuration to a root-only file in the agent's own state
directory and launches the evacuator (:mod:`instanceha.evacuator`) as a supervised
worker; ``monitor`` only checks that the worker lives and its heartbeat is fresh, never doing
evacuation work itself; ``stop`` ends the worker, which hands its in-flight
requests back so that the next evacuator resumes them without duplicates.

The state directory is dedicated to one resource: start creates it (0700, with a
marker naming the resource) and never changes the mode of a directory it did not
create; validation refuses shared and system directories, home directories,
symbolic links and directories that root does not own alone.
"""

from __future__ import annotations

import json
import logging
import os
import pwd
import stat
import sys

from instanceha.agents._service import DirectDaemon, service_failure
from instanceha.nova.params import CREDENTIAL_PARAMS, HOSTMAP_PARAMS, cloud_config, host_map
from instanceha.ocf import ActionSpec, Agent, AgentSpec, Context, OcfError, OcfRc
from instanceha.ocf import main as ocf_main
from instanceha.spec import Param, ParamError, Params, ParamSet, ParamType

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
          "Comma-separated Nova hosts to evacuate to (empty: let the scheduler choose).",
          max_length=65536),
    Param("max_parallel", "evacuations in flight", "Evacuations in flight at once per host.",
          type=ParamType.INTEGER, default=8, minimum=1, maximum=200),
    Param("stagger_ms", "gap between evacuate calls (ms)", "Minimum gap between two calls.",
          type=ParamType.INTEGER, default=0, minimum=0, maximum=60000),
    Param("max_attempts", "attempts per instance", "Evacuate calls per instance before "
          "it is reported failed.", type=ParamType.INTEGER, default=3, minimum=1, maximum=20),
    Param("instance_timeout", "seconds per attempt", "From the evacuate call to the target "
          "state on another host.", type=ParamType.INTEGER, default=600, minimum=10,
          maximum=86400),
    Param("mass_failure_hosts", "mass-failure host limit",
          "Hold evacuation when more compute hosts than this fail within "
          "mass_failure_window (0: no limit). Release with 'instanceha evacuate --release'.",
          type=ParamType.INTEGER, default=0, minimum=0, maximum=100000),
    Param("mass_failure_percent", "mass-failure share limit",
          "Hold evacuation when more than this percentage of compute hosts fail within "
          "mass_failure_window (0: no limit).",
          type=ParamType.INTEGER, default=0, minimum=0, maximum=100),
    Param("mass_failure_window", "mass-failure window (s)", "Window of the two limits above.",
          type=ParamType.INTEGER, default=600, minimum=10, maximum=604800),
    Param("poll_interval", "seconds between passes", "How often the evacuator looks for "
          "requests.", type=ParamType.INTEGER, default=5, minimum=1, maximum=300),
    Param("takeover_after", "seconds before a dead owner's claim is taken over",
          "Must exceed poll_interval plus clock skew between controllers.",
          type=ParamType.INTEGER, default=60, minimum=10, maximum=86400),
    Param("heartbeat_timeout", "monitor failure threshold (s)",
          "monitor fails when the worker's heartbeat is older than this.",
          type=ParamType.INTEGER, default=60, minimum=5, maximum=86400),
    Param("state_dir", "state directory",
          "Directory dedicated to this resource, where the worker keeps its pid, heartbeat "
          "and root-only configuration (default: $HA_RSCTMP/NovaEvacuate-<resource>). start "
          "creates it with mode 0700; an existing directory that NovaEvacuate did not create "
          "is refused, as are shared and system directories (/, /tmp, /var, /run, /etc, ...), "
          "home directories, symbolic links and directories that root does not own alone."),
    Param("metrics_file", "Prometheus metrics file",
          "Absolute path of a *.prom file the worker writes its metrics to, in the Prometheus "
          "text format, for node_exporter's textfile collector (Debian's "
          "prometheus-node-exporter reads /var/lib/prometheus/node-exporter: give "
          "/var/lib/prometheus/node-exporter/instanceha.prom). Written atomically (mode 0644) "
          "at start, within seconds of a change and at least every minute; deleted at stop. "
          "Counters restart at 0 with the worker. Empty: no metrics. A missing directory is "
          "logged and does not stop evacuations. The file holds "
          "instanceha_evacuations_total{outcome}, instanceha_evacuation_runs_total{result}, "
          "instanceha_fencings_total, the histograms instanceha_evacuation_duration_seconds, "
          "instanceha_evacuation_run_seconds and instanceha_instance_evacuation_seconds, and "
          "the gauges instanceha_requests{state}, instanceha_held_nodes{hold}, "
          "instanceha_quorate and instanceha_worker_start_time_seconds, each with its HELP "
          "line.",
          pattern=r"/.*\.prom", pattern_hint="an absolute path ending in .prom "
          "(node_exporter reads only those)"),
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


def _default_state_dir(ctx: Context) -> str:
    return os.path.join(ctx.rsctmp, f"NovaEvacuate-{ctx.instance or 'NovaEvacuate'}")


def state_dir(ctx: Context, params: Params) -> str:
    """The worker's private directory."""
    return params.text("state_dir") or _default_state_dir(ctx)


#: Marks a state directory as created by NovaEvacuate; holds the resource's name.
STATE_MARKER = ".instanceha-nova-evacuate"
#: Directories shared with the system or other software: never a state directory.
_SHARED_DIRS = frozenset({
    "/", "/bin", "/boot", "/dev", "/dev/shm", "/etc", "/home", "/lib", "/lib32", "/lib64",
    "/media", "/mnt", "/opt", "/proc", "/root", "/run", "/run/lock", "/run/shm", "/run/user",
    "/run/resource-agents", "/sbin", "/srv", "/sys", "/tmp", "/usr", "/usr/bin", "/usr/lib",
    "/usr/lib/ocf", "/usr/libexec", "/usr/local", "/usr/sbin", "/usr/share", "/var",
    "/var/backups", "/var/cache", "/var/lib", "/var/lib/pacemaker", "/var/local", "/var/lock",
    "/var/log", "/var/log/pacemaker", "/var/mail", "/var/opt", "/var/run", "/var/spool",
    "/var/tmp",
})
#: Nothing below these is a place for files of ours.
_VIRTUAL_TREES = ("/proc/", "/sys/", "/dev/")


def _state_dir_error(problem: str) -> OcfError:
    return OcfError(OcfRc.ERR_CONFIGURED, str(ParamError("state_dir", problem)))


def _home_dirs() -> set[str]:
    return {os.path.normpath(entry.pw_dir) for entry in pwd.getpwall() if entry.pw_dir}


def _check_state_path(ctx: Context, directory: str) -> None:
    """Refuse a path that is shared with the system or others, whatever is there now."""
    if not os.path.isabs(directory):
        raise _state_dir_error(f"must be an absolute path, not {directory!r}")
    forms = {os.path.normpath(directory), os.path.realpath(directory)}
    shared = _SHARED_DIRS | {os.path.normpath(ctx.rsctmp), os.path.realpath(ctx.rsctmp)}
    for form in sorted(forms):
        if form in shared or any(form.startswith(tree) for tree in _VIRTUAL_TREES):
            raise _state_dir_error(f"{directory} is a shared or system directory: give a "
                                   "dedicated path, which start creates with mode 0700")
        if form in _home_dirs():
            raise _state_dir_error(f"{directory} is a home directory: give a dedicated path, "
                                   "which start creates with mode 0700")
    _check_parent(directory)


def _check_parent(directory: str) -> None:
    """The closest existing parent must not let others swap our directory for theirs."""
    parent = os.path.dirname(os.path.normpath(directory))
    while not os.path.lexists(parent):
        parent = os.path.dirname(parent)
    info = os.stat(parent)
    if not stat.S_ISDIR(info.st_mode):
        raise _state_dir_error(f"{directory} is below {parent}, which is not a directory")
    if (info.st_mode & 0o022) and not info.st_mode & stat.S_ISVTX:
        raise _state_dir_error(f"{directory} is below {parent}, which others may write to")


def _check_existing(directory: str, info: os.stat_result) -> None:
    if stat.S_ISLNK(info.st_mode):
        raise _state_dir_error(f"{directory} is a symbolic link")
    if not stat.S_ISDIR(info.st_mode):
        raise _state_dir_error(f"{directory} exists and is not a directory")
    if info.st_uid != os.geteuid():
        raise _state_dir_error(f"{directory} is owned by uid {info.st_uid}, not by root")
    if info.st_mode & 0o022:
        raise _state_dir_error(f"{directory} is writable by group or others")


def _marker_owner(directory: str) -> str | None:
    try:
        with open(os.path.join(directory, STATE_MARKER), encoding="utf-8") as handle:
            return handle.read(256).strip()
    except (FileNotFoundError, NotADirectoryError):
        return None


def _check_ownership(ctx: Context, directory: str) -> None:
    """An existing directory must be this resource's: marked by us, or our default path."""
    owner = _marker_owner(directory)
    if owner is None and directory != _default_state_dir(ctx):
        raise _state_dir_error(f"{directory} exists and was not created by NovaEvacuate: "
                               "give a new path (start creates it with mode 0700)")
    if owner and ctx.instance and owner != ctx.instance:
        raise _state_dir_error(f"{directory} belongs to resource {owner}, not {ctx.instance}")


def check_state_dir(ctx: Context, params: Params, *, owned: bool = True) -> None:
    """Refuse a state directory that is shared, a system one, or not ours.

    ``owned``: also require an existing directory to be marked as this resource's
    (validate-all, start); monitors only check the path and its owner.

    :raises OcfError: ERR_CONFIGURED naming ``state_dir``.
    """
    directory = state_dir(ctx, params)
    _check_state_path(ctx, directory)
    try:
        info = os.lstat(directory)
    except FileNotFoundError:
        return
    _check_existing(directory, info)
    if owned:
        _check_ownership(ctx, directory)


def _own_state_dir(ctx: Context, params: Params) -> str:
    """Create the state directory (0700, marked), or take up our existing one."""
    check_state_dir(ctx, params)
    directory = state_dir(ctx, params)
    os.makedirs(os.path.dirname(directory), mode=0o700, exist_ok=True)
    try:
        os.mkdir(directory, 0o700)
    except FileExistsError:
        check_state_dir(ctx, params)  # someone was quicker: it must still be ours
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        info = os.fstat(fd)
        _check_existing(directory, info)
        if stat.S_IMODE(info.st_mode) != 0o700:
            os.fchmod(fd, 0o700)  # ours (marked, or our default path): private again
    finally:
        os.close(fd)
    if _marker_owner(directory) is None:
        marker = os.open(os.path.join(directory, STATE_MARKER),
                         os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(marker, "w", encoding="utf-8") as handle:
            handle.write(f"{ctx.instance or 'NovaEvacuate'}\n")
    return directory


#: What the worker keeps of the agent's environment: the path, the locale, ocf_log's settings.
_WORKER_ENV = frozenset({"PATH", "LANG", "HA_LOGFILE", "HA_DEBUGLOG", "HA_debug", "HA_LOGFACILITY",
                         "HA_DATEFMT"})


def _worker(ctx: Context, params: Params) -> DirectDaemon:
    directory = state_dir(ctx, params)
    config = os.path.join(directory, "config.json")
    env = {k: v for k, v in ctx.environ.items() if k in _WORKER_ENV}
    env["OCF_RESOURCE_INSTANCE"] = ctx.instance
    return DirectDaemon([sys.executable, "-m", _WORKER_MODULE, config],
                        os.path.join(directory, "worker.pid"), executable=sys.executable,
                        env=env, marker=_WORKER_MODULE,
                        log_path=os.path.join(directory, "worker.out"), clock=ctx.clock)


def validate(ctx: Context, params: Params) -> None:
    """Cheap checks, run before every action but stop: host mapping, state directory."""
    try:
        host_map(params)
    except ValueError as error:
        raise OcfError(OcfRc.ERR_CONFIGURED, str(error)) from None
    check_state_dir(ctx, params, owned=False)


def validate_all(ctx: Context, params: Params) -> OcfRc:
    """Also the state directory's owner and the credentials (without contacting anything)."""
    from instanceha.nova.credentials import CredentialsError

    check_state_dir(ctx, params)
    try:
        cloud_config(params, ctx.environ)
    except CredentialsError as error:
        raise OcfError(OcfRc.ERR_CONFIGURED, f"credentials: {error}") from None
    return OcfRc.SUCCESS


def _write_config(ctx: Context, params: Params, directory: str) -> str:
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
    directory = _own_state_dir(ctx, params)
    _write_config(ctx, params, directory)
    heartbeat = os.path.join(directory, "heartbeat")
    for launch in range(1, _START_LAUNCHES + 1):
        if os.path.exists(heartbeat):
            os.unlink(heartbeat)
        with service_failure():
            worker.start(ctx.deadline)
        while ctx.clock.monotonic() < ctx.deadline:
            if os.path.exists(heartbeat):
                _LOG.info("evacuator running (pid %s)", worker.pid())
                return OcfRc.SUCCESS
            if not worker.is_running():
                break
            ctx.clock.sleep(0.1)
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
        age = ctx.clock.time() - os.stat(heartbeat).st_mtime
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
