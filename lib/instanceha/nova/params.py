"""Credential and host-mapping parameters shared by every agent that talks to Nova.

The declarations are stdlib-only; :func:`cloud_config` imports the credential
resolver (and through it PyYAML) only when an agent actually needs Nova.
Prefer ``cloud`` (a clouds.yaml entry, secrets in a root-only secure.yaml)
over ``password``: instance parameters are readable by anyone who can read
the CIB.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from instanceha.nova.hostmap import HostMap
from instanceha.spec import Param, Params, ParamType

if TYPE_CHECKING:
    from instanceha.nova.credentials import CloudConfig

__all__ = ["CREDENTIAL_PARAMS", "HOSTMAP_PARAMS", "cloud_config", "credential_values", "host_map"]

#: What one environment variable can carry to an agent (Linux MAX_ARG_STRLEN, 128 KiB,
#: less the ``OCF_RESKEY_<name>=`` prefix).
_ENV_VALUE_MAX = 131_000

CREDENTIAL_PARAMS: tuple[Param, ...] = (
    Param("cloud", "clouds.yaml cloud name",
          "Entry of clouds.yaml (searched in OS_CLIENT_CONFIG_FILE, /etc/openstack/clouds.yaml "
          "and root's ~/.config/openstack) holding the credentials; secrets belong in a "
          "root-only secure.yaml. Explicit parameters below override its values."),
    Param("clouds_yaml", "clouds.yaml path",
          "Explicit clouds.yaml file to read (needs cloud); it must exist: no other "
          "clouds.yaml is searched instead.", default=""),
    Param("auth_url", "Keystone URL", "Identity endpoint, e.g. https://keystone:5000/v3."),
    Param("username", "user name", "Keystone user (password authentication).",
          aliases=("login",)),
    Param("password", "password", "Keystone password; prefer cloud with a secure.yaml.",
          secret=True, aliases=("passwd",)),
    Param("project_name", "project name", "Project to scope the token to (needs admin).",
          aliases=("tenant_name",)),
    Param("user_domain_name", "user domain", "Keystone v3 user domain name."),
    Param("project_domain_name", "project domain", "Keystone v3 project domain name."),
    Param("application_credential_id", "application credential id",
          "Use an application credential instead of a password."),
    Param("application_credential_secret", "application credential secret",
          "Secret of the application credential.", secret=True),
    Param("region_name", "region", "Region of the compute endpoint."),
    Param("interface", "endpoint interface", "Which catalog endpoint to use.",
          type=ParamType.SELECT, choices=("public", "internal", "admin"), default="public",
          aliases=("endpoint_type",)),
    Param("cacert", "CA bundle", "PEM file of CAs to verify the endpoints' certificates."),
    Param("insecure", "skip TLS verification", "Do not verify certificates (labs only).",
          type=ParamType.BOOLEAN, default=False),
)

HOSTMAP_PARAMS: tuple[Param, ...] = (
    Param("host_map", "node to Nova host map",
          "Explicit node:novahost pairs separated by ';', for names no rule derives.",
          max_length=_ENV_VALUE_MAX),
    Param("domain", "DNS domain",
          "Appended to short node names to form the Nova host name (comp1 -> comp1.DOMAIN)."),
)

_EXPLICIT = ("auth_url", "username", "password", "project_name", "user_domain_name",
             "project_domain_name", "application_credential_id",
             "application_credential_secret", "region_name", "cacert")


def credential_values(params: Params) -> dict[str, object]:
    """Explicit credential fields set by the agent's parameters."""
    values: dict[str, object] = {k: params.text(k) for k in _EXPLICIT if params.text(k)}
    if params.text("application_credential_id"):
        values["auth_type"] = "v3applicationcredential"
    if params.text("interface") != "public":
        values["interface"] = params.text("interface")
    if params.flag("insecure"):
        values["insecure"] = True
    return values


def cloud_config(params: Params, environ: Mapping[str, str]) -> CloudConfig:
    """Resolve credentials from ``cloud``, ``OS_*`` variables and explicit parameters.

    An explicit ``clouds_yaml`` is the one file read: missing, a directory, or
    without ``cloud``, it is an error naming it (never a fallback to another file).

    :raises instanceha.nova.credentials.CredentialsError: naming what is missing.
    """
    from instanceha.nova.credentials import resolve_credentials

    explicit_file = params.text("clouds_yaml")
    return resolve_credentials(
        cloud=params.text("cloud") or None, env=dict(environ),
        explicit=credential_values(params),
        clouds_file=Path(explicit_file) if explicit_file else None,
    )


def host_map(params: Params, published: Mapping[str, str] | None = None) -> HostMap:
    """The node ↔ Nova host rules from ``host_map`` and ``domain``.

    :raises HostMapError: on a malformed map or domain.
    """
    return HostMap.from_params(params.text("host_map"), params.text("domain"), published)
