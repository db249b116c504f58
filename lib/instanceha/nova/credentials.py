"""Resolve OpenStack credentials from clouds.yaml, ``OS_*`` variables or explicit values.

Sources, lowest to highest precedence:

1. **clouds.yaml** when a cloud is named (``cloud=`` or ``OS_CLOUD``): an explicit
   ``clouds_file`` (the agents' ``clouds_yaml``), which must exist and is never
   replaced by another, else the first ``clouds.yaml`` found among
   ``OS_CLIENT_CONFIG_FILE``, ``./clouds.yaml``, ``~/.config/openstack/clouds.yaml``,
   ``/etc/openstack/clouds.yaml``; deep-merged with the first ``secure.yaml`` found
   among ``OS_CLIENT_SECURE_FILE`` and the same directories. Otherwise **``OS_*``
   variables** of the ``env`` mapping.
2. **Explicit values** (agent parameters), which override field by field.
   Empty strings count as unset, as OCF parameters default to ``""``.

The files must be UTF-8 YAML of at most 1 MiB without duplicate keys (a
repeated key is an error naming it, never "last wins"); a file that holds a
secret and that group or others can read is logged as a warning.

The environment is only ever the ``env`` mapping the caller passes: this module
never reads ``os.environ``. Password (``password``/``v3password``) and
application-credential (``v3applicationcredential``) authentication are
supported, with Keystone v3 user and project domains by name or id.
"""

from __future__ import annotations

import logging
import os
import pwd
import stat
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from instanceha.spec import openstack_bool

__all__ = [
    "INTERFACES",
    "CloudConfig",
    "CredentialsError",
    "config_search_paths",
    "from_clouds_yaml",
    "from_env",
    "resolve_credentials",
]

#: Endpoint interfaces Keystone catalogs know (``publicURL`` forms are accepted too).
INTERFACES = ("public", "internal", "admin")

_PASSWORD = "password"
_APPCRED = "v3applicationcredential"
_AUTH_TYPES = {
    "password": _PASSWORD,
    "v3password": _PASSWORD,
    "v3applicationcredential": _APPCRED,
    "applicationcredential": _APPCRED,
}
_SECRETS = frozenset({"password", "application_credential_secret"})

#: OS_* variable → field. First listed wins when several name the same field.
_ENV_FIELDS: tuple[tuple[str, str], ...] = (
    ("OS_AUTH_URL", "auth_url"),
    ("OS_AUTH_TYPE", "auth_type"),
    ("OS_USERNAME", "username"),
    ("OS_USER_ID", "user_id"),
    ("OS_PASSWORD", "password"),
    ("OS_PROJECT_NAME", "project_name"),
    ("OS_TENANT_NAME", "project_name"),
    ("OS_PROJECT_ID", "project_id"),
    ("OS_TENANT_ID", "project_id"),
    ("OS_USER_DOMAIN_NAME", "user_domain_name"),
    ("OS_USER_DOMAIN_ID", "user_domain_id"),
    ("OS_PROJECT_DOMAIN_NAME", "project_domain_name"),
    ("OS_PROJECT_DOMAIN_ID", "project_domain_id"),
    ("OS_APPLICATION_CREDENTIAL_ID", "application_credential_id"),
    ("OS_APPLICATION_CREDENTIAL_NAME", "application_credential_name"),
    ("OS_APPLICATION_CREDENTIAL_SECRET", "application_credential_secret"),
    ("OS_REGION_NAME", "region_name"),
    ("OS_INTERFACE", "interface"),
    ("OS_ENDPOINT_TYPE", "interface"),
    ("OS_CACERT", "cacert"),
    ("OS_INSECURE", "insecure"),
)
#: clouds.yaml keys inside ``auth:``.
_AUTH_KEYS = (
    "auth_url",
    "username",
    "user_id",
    "password",
    "project_name",
    "project_id",
    "user_domain_name",
    "user_domain_id",
    "project_domain_name",
    "project_domain_id",
    "application_credential_id",
    "application_credential_name",
    "application_credential_secret",
)
_OPTIONAL_STRINGS = (*_AUTH_KEYS[1:], "region_name", "cacert")
_Missing = Callable[[str], "CredentialsError"]
_LOG = logging.getLogger("instanceha.credentials")
#: Largest clouds.yaml/secure.yaml read (real ones are a few KiB).
MAX_FILE_BYTES = 1 << 20


class CredentialsError(ValueError):
    """Credentials are missing, contradictory or unreadable; the message names what."""


@dataclass(frozen=True)
class CloudConfig:
    """Everything needed to open a Keystone session; ``repr`` masks the secrets."""

    auth_url: str
    auth_type: str = _PASSWORD
    username: str | None = None
    user_id: str | None = None
    password: str | None = None
    project_name: str | None = None
    project_id: str | None = None
    user_domain_name: str | None = None
    user_domain_id: str | None = None
    project_domain_name: str | None = None
    project_domain_id: str | None = None
    application_credential_id: str | None = None
    application_credential_name: str | None = None
    application_credential_secret: str | None = None
    region_name: str | None = None
    interface: str = "public"
    cacert: str | None = None
    insecure: bool = False
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    source: str = "explicit parameters"

    def __repr__(self) -> str:
        parts = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in _SECRETS and value is not None:
                value = "***"
            parts.append(f"{f.name}={value!r}")
        return f"CloudConfig({', '.join(parts)})"

    __str__ = __repr__

    @property
    def verify(self) -> bool | str:
        """What requests/keystoneauth take as ``verify``: False, a CA bundle path or True."""
        if self.insecure:
            return False
        return self.cacert or True


def config_search_paths(
    env: Mapping[str, str], cwd: Path | None = None, home: Path | None = None
) -> tuple[list[Path], list[Path]]:
    """Candidate ``clouds.yaml`` and ``secure.yaml`` paths, in search order.

    ``cwd`` defaults to the current directory; ``home`` to ``HOME`` from ``env``
    or else the passwd entry of the current user.
    """
    cwd = cwd if cwd is not None else Path.cwd()
    if home is None:
        home = Path(env["HOME"]) if env.get("HOME") else Path(pwd.getpwuid(os.getuid()).pw_dir)
    dirs = [cwd, home / ".config" / "openstack", Path("/etc/openstack")]
    clouds = [d / "clouds.yaml" for d in dirs]
    secure = [d / "secure.yaml" for d in dirs]
    if env.get("OS_CLIENT_CONFIG_FILE"):
        clouds.insert(0, Path(env["OS_CLIENT_CONFIG_FILE"]))
    if env.get("OS_CLIENT_SECURE_FILE"):
        secure.insert(0, Path(env["OS_CLIENT_SECURE_FILE"]))
    return clouds, secure


def from_clouds_yaml(
    cloud: str,
    clouds_paths: Sequence[Path],
    secure_paths: Sequence[Path] = (),
) -> dict[str, Any]:
    """The raw fields of ``cloud`` from the first clouds.yaml and secure.yaml found.

    Returns a field mapping (not yet validated) for :func:`resolve_credentials`.
    """
    clouds_file = _first_existing(clouds_paths)
    if clouds_file is None:
        searched = ", ".join(str(p) for p in clouds_paths)
        raise CredentialsError(
            f"cloud {cloud!r} requested but no clouds.yaml found (searched {searched})"
        )
    entry = _cloud_entry(_load_yaml(clouds_file), cloud, clouds_file)
    if entry is None:
        raise CredentialsError(f"cloud {cloud!r} is not defined in {clouds_file}")
    sources = [str(clouds_file)]
    secure_file = _first_existing(secure_paths)
    if secure_file is not None:
        secure_entry = _cloud_entry(_load_yaml(secure_file), cloud, secure_file)
        if secure_entry is not None:
            entry = _deep_merge(entry, secure_entry)
            sources.append(str(secure_file))
    values = _entry_values(entry, cloud, clouds_file)
    values["source"] = f"cloud {cloud!r} ({' + '.join(sources)})"
    return values


def from_env(env: Mapping[str, str]) -> dict[str, Any]:
    """The raw fields the ``OS_*`` variables of ``env`` define (not yet validated)."""
    values: dict[str, Any] = {}
    for var, name in _ENV_FIELDS:
        if env.get(var) and values.get(name) is None:
            values[name] = env[var]
    if env.get("OS_DOMAIN_NAME"):
        values.setdefault("user_domain_name", env["OS_DOMAIN_NAME"])
        values.setdefault("project_domain_name", env["OS_DOMAIN_NAME"])
    if env.get("OS_DOMAIN_ID"):
        values.setdefault("user_domain_id", env["OS_DOMAIN_ID"])
        values.setdefault("project_domain_id", env["OS_DOMAIN_ID"])
    values["source"] = "OS_* environment variables"
    return values


def resolve_credentials(
    *,
    cloud: str | None = None,
    env: Mapping[str, str] | None = None,
    explicit: Mapping[str, object] | None = None,
    cwd: Path | None = None,
    home: Path | None = None,
    clouds_file: Path | None = None,
) -> CloudConfig:
    """Build a validated :class:`CloudConfig` (see the module docstring for precedence).

    ``explicit`` keys are :class:`CloudConfig` field names; ``None`` and ``""``
    values are ignored. ``clouds_file`` is an explicitly configured clouds.yaml
    (the ``clouds_yaml`` parameter): it is used, or resolution fails naming it.
    Raises :class:`CredentialsError` naming what is wrong.
    """
    env = env or {}
    given = {k: v for k, v in (explicit or {}).items() if v is not None and v != ""}
    unknown = sorted(set(given) - {f.name for f in fields(CloudConfig)})
    if unknown:
        raise CredentialsError(f"unknown credential parameter(s): {', '.join(unknown)}")
    cloud = cloud or env.get("OS_CLOUD") or None
    if clouds_file is not None:
        _check_explicit_file(clouds_file)
        if not cloud:
            raise CredentialsError(f"clouds_yaml {clouds_file} is set but no cloud is named "
                                   "(set cloud to one of its entries)")
    if cloud:
        clouds_paths, secure_paths = config_search_paths(env, cwd, home)
        if clouds_file is not None:
            clouds_paths = [clouds_file]
        base = from_clouds_yaml(cloud, clouds_paths, secure_paths)
    else:
        base = from_env(env) if any(k.startswith("OS_") for k in env) else {}
    merged = {k: v for k, v in base.items() if v is not None and v != ""}
    merged.update(given)
    if given and base:
        merged["source"] = f"{base['source']} + explicit parameters"
    elif given:
        merged["source"] = "explicit parameters"
    return _validate(merged)


def _entry_values(entry: Mapping[str, Any], cloud: str, path: Path) -> dict[str, Any]:
    """Map one clouds.yaml cloud entry onto CloudConfig field names."""
    if "profile" in entry:
        raise CredentialsError(
            f"cloud {cloud!r} in {path} uses a vendor profile, which is not supported:"
            " write auth_url and the other values out"
        )
    values: dict[str, Any] = {}
    auth = entry.get("auth") or {}
    if not isinstance(auth, Mapping):
        raise CredentialsError(f"cloud {cloud!r} in {path}: 'auth' must be a mapping")
    for key in _AUTH_KEYS:
        values[key] = auth.get(key)
    for short in ("domain_name", "domain_id"):  # openstacksdk's shorthand for both domains
        if auth.get(short) is not None:
            for scope in ("user", "project"):
                values.setdefault(f"{scope}_{short}", None)
                if values[f"{scope}_{short}"] is None:
                    values[f"{scope}_{short}"] = auth[short]
    values["auth_type"] = entry.get("auth_type")
    values["region_name"] = entry.get("region_name") or _first_region(entry.get("regions"))
    values["interface"] = entry.get("interface") or entry.get("endpoint_type")
    values["cacert"] = entry.get("cacert")
    if "verify" in entry:
        values["insecure"] = not _as_bool(entry["verify"], "verify")
    elif "insecure" in entry:
        values["insecure"] = entry["insecure"]
    if entry.get("api_timeout") is not None:
        values["read_timeout"] = entry["api_timeout"]
    return values


# --------------------------------------------------------------------- helpers


def _validate(values: dict[str, Any]) -> CloudConfig:
    source = str(values.get("source", "explicit parameters"))

    def missing(what: str) -> CredentialsError:
        return CredentialsError(f"{what} (credentials from {source})")

    if not values.get("auth_url"):
        raise missing("auth_url is required")
    raw_type = str(values.get("auth_type") or _PASSWORD).lower()
    if raw_type not in _AUTH_TYPES:
        raise CredentialsError(
            f"auth_type {raw_type!r} is not supported: use password or v3applicationcredential"
        )
    auth_type = _AUTH_TYPES[raw_type]
    if auth_type == _PASSWORD:
        _check_password(values, missing)
    else:
        _check_application_credential(values, missing)
    interface = str(values.get("interface") or "public").lower().removesuffix("url")
    if interface not in INTERFACES:
        raise CredentialsError(
            f"interface {values.get('interface')!r} is not one of {', '.join(INTERFACES)}"
        )
    strings = {name: str(values[name]) for name in _OPTIONAL_STRINGS if values.get(name)}
    return CloudConfig(
        auth_url=str(values["auth_url"]),
        source=source,
        **strings,
        auth_type=auth_type,
        interface=interface,
        insecure=_as_bool(values.get("insecure", False), "insecure"),
        connect_timeout=_as_timeout(values.get("connect_timeout", 10.0), "connect_timeout"),
        read_timeout=_as_timeout(values.get("read_timeout", 30.0), "read_timeout"),
    )


def _has_user(values: Mapping[str, Any], missing: _Missing) -> None:
    if not (values.get("username") or values.get("user_id")):
        raise missing("username or user_id is required")
    if (
        values.get("username")
        and not values.get("user_id")
        and not (values.get("user_domain_name") or values.get("user_domain_id"))
    ):
        raise missing("user_domain_name or user_domain_id is required with username")


def _check_password(values: Mapping[str, Any], missing: _Missing) -> None:
    _has_user(values, missing)
    if not values.get("password"):
        raise missing("password is required")
    if not (values.get("project_name") or values.get("project_id")):
        raise missing("project_name or project_id is required")
    if (
        values.get("project_name")
        and not values.get("project_id")
        and not (values.get("project_domain_name") or values.get("project_domain_id"))
    ):
        raise missing("project_domain_name or project_domain_id is required with project_name")


def _check_application_credential(values: Mapping[str, Any], missing: _Missing) -> None:
    if not values.get("application_credential_secret"):
        raise missing("application_credential_secret is required")
    if not values.get("application_credential_id"):
        if not values.get("application_credential_name"):
            raise missing("application_credential_id or application_credential_name is required")
        _has_user(values, missing)


def _as_bool(value: object, name: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip()
    parsed = openstack_bool(text) if text else False  # an empty OS_INSECURE= is false
    if parsed is not None:
        return parsed
    raise CredentialsError(f"{name} must be a boolean (true/false), not {value!r}")


def _as_timeout(value: object, name: str) -> float:
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise CredentialsError(f"{name} must be a number of seconds, not {value!r}") from None
    if not seconds > 0:
        raise CredentialsError(f"{name} must be positive, not {value!r}")
    return seconds


def _first_region(regions: object) -> str | None:
    if isinstance(regions, list) and regions:
        first = regions[0]
        if isinstance(first, Mapping):
            name = first.get("name")
            return str(name) if name else None
        return str(first)
    return None


def _check_explicit_file(path: Path) -> None:
    """An explicitly configured clouds.yaml must be a readable regular file."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise CredentialsError(f"clouds_yaml {path} does not exist") from None
    except OSError as err:
        raise CredentialsError(f"clouds_yaml {path} cannot be read: {err.strerror}") from None
    if stat.S_ISDIR(info.st_mode):
        raise CredentialsError(f"clouds_yaml {path} is a directory, not a clouds.yaml file")
    if not stat.S_ISREG(info.st_mode):
        raise CredentialsError(f"clouds_yaml {path} is not a regular file")


def _first_existing(paths: Sequence[Path]) -> Path | None:
    for path in paths:
        if path.is_file():
            return path
    return None


def _strict_loader() -> type:
    """PyYAML's safe loader, refusing a key repeated in one mapping (not "last wins")."""
    import yaml

    class StrictLoader(yaml.SafeLoader):  # type: ignore[misc]
        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            if isinstance(node, yaml.MappingNode):
                seen: set[object] = set()
                for key_node, _ in node.value:  # the node's own keys: a merge (<<) may be
                    if key_node.tag == "tag:yaml.org,2002:merge":  # overridden, not repeated
                        continue
                    key = self.construct_object(key_node, deep=True)
                    try:
                        repeated = key in seen
                        seen.add(key)
                    except TypeError:  # an unhashable key: SafeLoader reports it
                        continue
                    if repeated:
                        raise yaml.constructor.ConstructorError(
                            None, None, f"duplicate key {str(key)[:80]!r}", key_node.start_mark)
            return super().construct_mapping(node, deep=deep)

    return StrictLoader


def _read_text(path: Path) -> str:
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as err:
        raise CredentialsError(f"cannot read {path}: {err.strerror}") from None
    if len(data) > MAX_FILE_BYTES:
        raise CredentialsError(f"{path} is larger than {MAX_FILE_BYTES // 1024} KiB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[:err.start].count(b"\n") + 1
        raise CredentialsError(f"{path} line {line} is not UTF-8 text") from None


def _load_yaml(path: Path) -> object:
    try:
        import yaml
    except ImportError:  # pragma: no cover - python3-yaml is a dependency
        raise CredentialsError(f"PyYAML (python3-yaml) is needed to read {path}") from None
    text = _read_text(path)
    try:
        document = yaml.load(text, Loader=_strict_loader())  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = str(getattr(err, "problem", "") or "")
        detail = f": {problem}" if problem.startswith("duplicate key") else ""
        raise CredentialsError(f"{path}{where} is not valid YAML{detail}") from None
    _warn_if_readable(path, document)
    return document


def _holds_secret(document: object) -> bool:
    if isinstance(document, Mapping):
        return any((key in _SECRETS and value) or _holds_secret(value)
                   for key, value in document.items())
    if isinstance(document, list):
        return any(_holds_secret(item) for item in document)
    return False


def _warn_if_readable(path: Path, document: object) -> None:
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return
    if mode & 0o044 and _holds_secret(document):
        who = "group and others" if mode & 0o044 == 0o044 else \
            "group" if mode & 0o040 else "others"
        _LOG.warning("%s holds a secret and is readable by %s (mode %04o): chmod 600 it",
                     path, who, mode)


def _cloud_entry(document: object, cloud: str, path: Path) -> dict[str, Any] | None:
    if document is None:
        return None
    clouds = document.get("clouds") if isinstance(document, Mapping) else None
    if not isinstance(clouds, Mapping):
        raise CredentialsError(f"{path} has no 'clouds:' mapping")
    entry = clouds.get(cloud)
    if entry is None:
        return None
    if not isinstance(entry, Mapping):
        raise CredentialsError(f"cloud {cloud!r} in {path} must be a mapping")
    return dict(entry)


def _deep_merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged
