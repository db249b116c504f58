"""Plain data the Nova access layer hands out, and the errors it raises.

Nothing here imports novaclient or keystoneauth1: the evacuation policy, the
engine, the agents and the fakes all speak these types, and only
:mod:`instanceha.nova.client` turns Nova's wire format into them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

__all__ = [
    "OUR_DISABLED_REASON_PREFIX",
    "Aggregate",
    "ComputeService",
    "Image",
    "Migration",
    "NovaAuthError",
    "NovaConflict",
    "NovaError",
    "NovaNotFound",
    "NovaPort",
    "NovaTimeout",
    "NovaUnavailable",
    "Server",
    "evacuation_finished",
    "power_fixup",
]

#: Every ``disabled_reason`` we write starts with this marker, so that we only
#: ever undo a disable that is ours (an admin's maintenance disable is kept).
OUR_DISABLED_REASON_PREFIX = "instanceha:"


@dataclass(frozen=True)
class ComputeService:
    """A nova-compute service record (``GET /os-services``)."""

    id: str
    host: str
    binary: str
    state: str  # "up" or "down"
    status: str  # "enabled" or "disabled"
    forced_down: bool
    disabled_reason: str | None = None
    zone: str | None = None
    updated_at: str | None = None  # the last heartbeat (or record change) Nova recorded

    @property
    def disabled_by_us(self) -> bool:
        """True when the service is disabled with our reason marker."""
        return self.status == "disabled" and (self.disabled_reason or "").startswith(
            OUR_DISABLED_REASON_PREFIX
        )


@dataclass(frozen=True)
class Server:
    """What the policy and the engine need to know of one server.

    ``status`` is Nova's API status (ACTIVE, SHUTOFF, ERROR, BUILD, ...);
    ``task_state`` and ``vm_state`` come from the OS-EXT-STS extension;
    ``flavor_extra_specs`` from the embedded flavor (microversion 2.47+).
    """

    id: str
    name: str
    status: str
    host: str | None
    task_state: str | None = None
    vm_state: str | None = None
    project_id: str = ""
    image_id: str | None = None  # None for a boot-from-volume server
    flavor_name: str = ""
    flavor_extra_specs: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)
    locked: bool = False


@dataclass(frozen=True)
class Migration:
    """A migration record (``GET /os-migrations``), for evacuations."""

    id: str
    instance_uuid: str
    source_compute: str
    dest_compute: str | None
    status: str  # accepted, pre-migrating, done, completed, failed, error, ...
    migration_type: str  # "evacuation" for ours
    created_at: str = ""
    updated_at: str = ""


@dataclass(frozen=True)
class Image:
    """The parts of a Glance image the protection policy reads."""

    id: str
    properties: dict[str, str] = field(default_factory=dict)
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Aggregate:
    """A host aggregate with its hosts and metadata."""

    name: str
    hosts: tuple[str, ...]
    metadata: dict[str, str] = field(default_factory=dict)


class NovaError(Exception):
    """Base of every error the Nova access layer raises; the message is for humans."""


class NovaConflict(NovaError):
    """Nova refused because of the resource's state (HTTP 409, or 400 on force-up)."""


class NovaNotFound(NovaError):
    """The server, service, host or image does not exist (HTTP 404)."""


class NovaUnavailable(NovaError):
    """Nova, Keystone or the network is down or answering 5xx: try again later."""


class NovaAuthError(NovaError):
    """Credentials are wrong or lack the admin role (HTTP 401/403): retrying will not help."""


class NovaTimeout(NovaUnavailable):
    """A call did not answer within its deadline."""


class NovaPort(Protocol):
    """The operations instance HA needs from Nova.

    Implemented by :class:`instanceha.nova.client.NovaClient` (real Nova) and
    by the in-process fake in ``tests/fakes``; one contract suite runs against
    both. Host names are Nova service host names.
    """

    def list_compute_services(self, host: str | None = None) -> list[ComputeService]:
        """nova-compute services, all or those of one host."""
        ...

    def force_down(self, host: str) -> ComputeService:
        """Mark the host's nova-compute forced down (idempotent)."""
        ...

    def unforce_down(self, host: str) -> ComputeService:
        """Clear forced_down; raises NovaConflict while ``done`` evacuations remain."""
        ...

    def disable(self, host: str, reason: str) -> ComputeService:
        """Disable the host's nova-compute with ``reason`` (idempotent)."""
        ...

    def enable(self, host: str) -> ComputeService:
        """Enable the host's nova-compute (idempotent)."""
        ...

    def list_servers_on_host(self, host: str) -> list[Server]:
        """Every server on the host across all projects, following every page."""
        ...

    def get_server(self, server_id: str) -> Server:
        """One server; raises NovaNotFound when it is gone."""
        ...

    def evacuate(self, server_id: str, target_host: str | None = None) -> None:
        """Ask Nova to rebuild the server elsewhere (scheduler picks unless target_host).

        The access layer chooses the microversion; the server's power state
        before the call is the one it ends in (see the access layer's docs).
        """
        ...

    def start_server(self, server_id: str) -> None:
        """Power a server on (os-start)."""
        ...

    def stop_server(self, server_id: str) -> None:
        """Power a server off (os-stop)."""
        ...

    def list_evacuations(self, source_host: str) -> list[Migration]:
        """Evacuation migration records whose source is the host, newest first."""
        ...

    def get_image(self, image_id: str) -> Image:
        """An image's properties and tags; raises NovaNotFound when it is gone."""
        ...

    def list_aggregates(self) -> list[Aggregate]:
        """Every host aggregate with hosts and metadata."""
        ...


def evacuation_finished(server: Server, source_host: str) -> bool:
    """True once Nova has finished rebuilding ``server`` away from ``source_host``.

    Nova saves the final status *before* it moves ``host``, so ACTIVE alone
    does not prove completion: the host must have changed and no task may be
    running. (An evacuation that failed leaves the server ERROR on the source;
    read the migration record for that.)
    """
    return server.task_state is None and server.host not in (None, source_host)


def power_fixup(status_before: str, after: Server) -> str | None:
    """What to call once an evacuation has finished so the power state is preserved.

    ``status_before`` is the server's status when the engine asked for the
    evacuation (from :meth:`NovaPort.list_servers_on_host`/``get_server``);
    ``after`` is the server once :func:`evacuation_finished` is true. Returns
    ``"stop"`` (call :meth:`NovaPort.stop_server`), ``"start"`` (call
    :meth:`NovaPort.start_server`) or ``None`` (nothing to do). Only a server
    that was SHUTOFF or ACTIVE is fixed up; an ERROR server is left as Nova
    rebuilt it (running).

    A safety net: :class:`~instanceha.nova.client.NovaClient` evacuates below
    microversion 2.95, where Nova itself keeps ACTIVE and SHUTOFF (measured on
    the lab), so this returns None there. It acts when a port stops every
    evacuated server (2.95+ semantics; ``FakeNova(stop_evacuated=True)``).
    """
    if after.task_state is not None:
        return None
    if status_before == "SHUTOFF" and after.status == "ACTIVE":
        return "stop"
    if status_before == "ACTIVE" and after.status == "SHUTOFF":
        return "start"
    return None
