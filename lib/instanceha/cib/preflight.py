"""The preflight checks of ``instanceha check``, each a small function returning a :class:`Check`.

Local checks need nothing but this machine: tools, installed agents, the
inventory and the CIB it renders, password files, credentials and the files
holding them. Cluster checks read the live CIB: fencing enabled, no secrets
in it, drift between the live configuration and the inventory's, computes
online.
"""

from __future__ import annotations

import enum
import os
import shlex
import shutil
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from instanceha.cib.inventory import AGENT_NAMES, Bmc, Inventory, agent_parameters
from instanceha.cib.normalize import normalize_cib

__all__ = [
    "AGENT_PATHS",
    "TOOLS",
    "Check",
    "Status",
    "check_agents",
    "check_bmc_secrets",
    "check_cib_secrets",
    "check_cloud_secrets",
    "check_controllers_fencing",
    "check_credentials",
    "check_drift",
    "check_stonith_enabled",
    "check_tools",
]

#: Pacemaker tools the commands run (pcs is only needed to apply the --pcs script).
TOOLS = ("crm_mon", "crm_simulate", "crm_verify", "cibadmin", "crm_attribute", "stonith_admin")
#: Where Pacemaker looks for the project's agents.
AGENT_PATHS = (
    "/usr/lib/ocf/resource.d/instanceha/libvirtd",
    "/usr/lib/ocf/resource.d/instanceha/NovaCompute",
    "/usr/lib/ocf/resource.d/instanceha/NovaEvacuate",
    "/usr/sbin/fence_ipmi",
    "/usr/sbin/fence_nova",
)
_SEARCH = "/usr/sbin:/usr/bin:/sbin:/bin"


class Status(enum.StrEnum):
    """Outcome of one check."""

    PASS = "pass"
    WARN = "warn"
    FAIL = "FAIL"
    SKIP = "skip"


@dataclass(frozen=True)
class Check:
    """One check: what was checked, its outcome, and a one-line detail (with the fix)."""

    name: str
    status: Status
    detail: str = ""


def check_tools(which: Callable[[str], str | None] = lambda t: shutil.which(t, path=_SEARCH),
                ) -> Check:
    """Pacemaker's command line tools are installed."""
    missing = [t for t in TOOLS if which(t) is None]
    if missing:
        return Check("pacemaker tools", Status.FAIL,
                     f"missing {', '.join(missing)}: apt-get install pacemaker-cli-utils")
    optional = "" if which("pcs") else " (pcs missing: 'cib render --pcs' scripts need it)"
    return Check("pacemaker tools", Status.WARN if optional else Status.PASS,
                 f"{len(TOOLS)} found{optional}")


def check_agents(inventory: Inventory | None,
                 executable: Callable[[str], bool] = lambda p: os.access(p, os.X_OK)) -> Check:
    """The agents the CIB names are installed where Pacemaker looks for them."""
    paths = list(AGENT_PATHS)
    if inventory is not None:
        paths.append(inventory.alert.path)
    missing = [p for p in paths if not executable(p)]
    if missing:
        return Check("agents installed", Status.FAIL,
                     f"missing {', '.join(missing)}: run 'make install' on every node")
    return Check("agents installed", Status.PASS, f"{len(paths)} found")


def _secret_problem(bmc: Bmc, lstat: Callable[[str], os.stat_result]) -> str | None:
    if bmc.password_script:
        try:
            argv = shlex.split(bmc.password_script)
        except ValueError as err:
            return f"password_script cannot be parsed ({err})"
        if not argv or not os.access(argv[0], os.X_OK):
            return f"password_script {argv[0] if argv else '(empty)'} is not executable"
        return None
    path = bmc.password_file or ""
    try:
        info = lstat(path)
    except OSError as err:
        return f"{path}: {err.strerror}"
    problems = (
        (not stat.S_ISREG(info.st_mode), "is not a regular file"),
        (bool(info.st_mode & 0o077), "is readable by others (chmod 600)"),
        (info.st_uid != 0, "is not owned by root"),
    )
    return next((f"{path} {what}" for bad, what in problems if bad), None)


def check_bmc_secrets(inventory: Inventory,
                      lstat: Callable[[str], os.stat_result] = os.lstat) -> Check:
    """Every BMC password file exists here, root-owned 0600; every script is executable.

    fence_ipmi runs on whichever controller fences, so this must pass on each of them.
    A password file that group or others can read fails: it holds the BMC's secret.
    """
    bmcs = [(c.name, c.bmc) for c in inventory.controllers if c.bmc]
    bmcs += [(c.name, c.bmc) for c in inventory.computes]
    problems = [f"{name}: {p}" for name, bmc in bmcs if (p := _secret_problem(bmc, lstat))]
    if problems:
        more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
        return Check("BMC passwords", Status.FAIL, problems[0] + more)
    return Check("BMC passwords", Status.PASS, f"{len(bmcs)} readable by root only")


#: Keys of clouds.yaml/secure.yaml whose values are secrets.
_CLOUD_SECRET_KEYS = frozenset({"password", "application_credential_secret"})


def _holds_secret(document: object) -> bool:
    if isinstance(document, Mapping):
        return any((key in _CLOUD_SECRET_KEYS and bool(value)) or _holds_secret(value)
                   for key, value in document.items())
    if isinstance(document, list):
        return any(_holds_secret(item) for item in document)
    return False


def _file_holds_secret(path: Path) -> bool:
    import yaml

    try:
        return _holds_secret(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, yaml.YAMLError):
        return False  # unreadable or not YAML: the credentials check says so


def check_cloud_secrets(env: Mapping[str, str],
                        stat_path: Callable[[Path], os.stat_result] = Path.stat) -> Check:
    """The clouds.yaml and secure.yaml the credentials come from: one holding a secret
    (a password, an application credential secret) is readable by its owner only.

    The files are those the agents and the cloud credentials check read: the first
    ``clouds.yaml`` and ``secure.yaml`` found where :mod:`instanceha.nova.credentials`
    looks (``OS_CLIENT_CONFIG_FILE``/``OS_CLIENT_SECURE_FILE`` first).
    """
    from instanceha.nova.credentials import config_search_paths

    try:
        searched = config_search_paths(env)
    except (KeyError, OSError) as err:  # no HOME and no passwd entry
        return Check("cloud secrets", Status.SKIP, f"cannot tell where clouds.yaml is ({err})")
    files = [next((p for p in paths if p.is_file()), None) for paths in searched]
    found = [p for p in files if p is not None]
    if not found:
        return Check("cloud secrets", Status.SKIP, "no clouds.yaml or secure.yaml found")
    problems = []
    for path in found:
        try:
            mode = stat.S_IMODE(stat_path(path).st_mode)
        except OSError:
            continue
        if mode & 0o077 and _file_holds_secret(path):
            problems.append(f"{path} (mode {mode:04o}) holds a secret and is readable by "
                            "others (chmod 600)")
    if problems:
        more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
        return Check("cloud secrets", Status.FAIL, problems[0] + more)
    return Check("cloud secrets", Status.PASS,
                 f"{' and '.join(str(p) for p in found)}: secrets readable by their owner only")


#: The agent section (:data:`~instanceha.cib.inventory.AGENT_NAMES`) of each of our
#: agents, by (class, provider, type) as a CIB primitive names it.
_CIB_AGENTS: Mapping[tuple[str | None, str | None, str | None], str] = {
    **{("ocf", "instanceha", name): section for section, name in AGENT_NAMES.items()
       if not name.startswith("fence_")},
    **{("stonith", None, name): section for section, name in AGENT_NAMES.items()
       if name.startswith("fence_")},
}


def _secret_names(section: str | None, params: Mapping[str, str]) -> list[str]:
    sections = list(AGENT_NAMES) if section is None else [section]
    return [name for name, value in params.items() if value and any(
        (p := agent_parameters(s).get(name)) is not None and p.secret for s in sections)]


def check_cib_secrets(live_cib: str) -> Check:
    """No secret parameter of our agents (and no alert option named like one) in the CIB.

    Every cluster node reads the CIB, and it is copied into reports and backups.
    A BMC password inlined by ``cib render --include-secrets`` is a warning (the
    admin asked for it); any other secret fails: ``cib render`` never writes one.
    """
    config = normalize_cib(live_cib)
    found: list[tuple[str, str]] = []
    for rid, res in sorted(config["resources"].items()):
        section = _CIB_AGENTS.get(res["agent"])
        if section is not None:
            found += [(rid, name) for name in _secret_names(section, res["params"])]
    for aid, alert in sorted(config["alerts"].items()):
        found += [(f"alert {aid}", name) for name in _secret_names(None, alert["options"])]
    if not found:
        return Check("secrets in the CIB", Status.PASS,
                     f"none in {len(config['resources'])} resources")
    inlined = [f for f in found if f[0].startswith("fence-ipmi-")
               and config["resources"][f[0]]["agent"][2] == "fence_ipmi"]
    others = [f for f in found if f not in inlined]
    shown = others or inlined
    more = f" (+{len(found) - 1} more)" if len(found) > 1 else ""
    where = f"{shown[0][0]}: {shown[0][1]}{more}"
    if others:
        return Check("secrets in the CIB", Status.FAIL,
                     f"{where}: every cluster node can read it; move it to a root-only "
                     "secure.yaml for the cloud and remove it from the CIB")
    return Check("secrets in the CIB", Status.WARN,
                 f"{where}: inlined by 'cib render --include-secrets', every cluster node can "
                 "read it; prefer bmc.password_file (fence_ipmi reads it itself)")


def check_controllers_fencing(inventory: Inventory) -> Check:
    """Controllers have a power fencing device too (they are unfenced and fenced like any node)."""
    bare = [c.name for c in inventory.controllers if c.bmc is None]
    if bare:
        return Check("controller fencing", Status.WARN,
                     f"no BMC in the inventory for {', '.join(bare)}: configure their fencing "
                     "separately, or Pacemaker cannot fence (or unfence) them")
    return Check("controller fencing", Status.PASS, f"{len(inventory.controllers)} devices")


def check_credentials(cloud: str, env: Mapping[str, str]) -> Check:
    """The cloud's credentials resolve (clouds.yaml found, entry complete); no network."""
    from instanceha.nova.credentials import CredentialsError, resolve_credentials

    try:
        config = resolve_credentials(cloud=cloud, env=env)
    except CredentialsError as err:
        return Check("cloud credentials", Status.FAIL, str(err))
    return Check("cloud credentials", Status.PASS, f"{config.source}, {config.auth_url}")


def check_stonith_enabled(live_cib: str) -> Check:
    """Fencing is enabled in the live cluster."""
    value = normalize_cib(live_cib)["properties"].get("stonith-enabled", "true")
    if value.lower() in ("false", "no", "0", "off"):
        return Check("stonith-enabled", Status.FAIL,
                     "fencing is disabled: nothing would ever be evacuated "
                     "(pcs property set stonith-enabled=true)")
    return Check("stonith-enabled", Status.PASS, value)


def check_drift(rendered: str, live_cib: str) -> Check:
    """The live configuration holds what the inventory renders (extra live objects are fine)."""
    want, have = normalize_cib(rendered), normalize_cib(live_cib)
    diffs = []
    for rid, res in want["resources"].items():
        got = have["resources"].get(rid)
        if got is None:
            diffs.append(f"resource {rid} missing")
        elif got != res:
            changed = sorted(k for k in res if res[k] != got.get(k))
            diffs.append(f"resource {rid} differs ({', '.join(changed)})")
    diffs += [f"constraint {c[1]} missing" for c in want["constraints"]
              if c not in have["constraints"]]
    diffs += [f"fencing level {t[0]}#{t[1]} missing" for t in want["topology"]
              if t not in have["topology"]]
    for section, what in (("properties", "property"), ("rsc_defaults", "resource default")):
        for name, value in want[section].items():
            if have[section].get(name) != value:
                diffs.append(f"{what} {name}={have[section].get(name)!r}, want {value!r}")
    for aid, alert in want["alerts"].items():
        if have["alerts"].get(aid) != alert:
            diffs.append(f"alert {aid} missing or different")
    if diffs:
        more = f" (+{len(diffs) - 1} more)" if len(diffs) > 1 else ""
        return Check("live CIB matches inventory", Status.WARN,
                     f"{diffs[0]}{more}: apply 'instanceha cib render --pcs'")
    return Check("live CIB matches inventory", Status.PASS,
                 f"{len(want['resources'])} resources, {len(want['topology'])} fencing levels")
