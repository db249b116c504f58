"""Nova's wire format: microversion choice and JSON → model conversion (pure, stdlib only).

:class:`ApiVersions` decides, from the compute endpoint's maximum microversion,
which microversion every call uses; the ``*_from_json`` functions turn Nova and
Glance documents into :mod:`instanceha.nova.model` objects. No I/O here, so all
of it is unit-tested without a cloud.

Microversions (``max`` is the server's maximum):

=================  =========================  =============================================
call               microversion               why
=================  =========================  =============================================
services           2.53 (2.11 if max < 2.53)  UUID ids and ``PUT /os-services/{id}``;
                                              2.11 host/binary ``force-down``/``disable``
servers            2.47 (2.23 if max < 2.47)  flavor with ``extra_specs`` embedded
migrations         2.59 (2.23 if max < 2.59)  uuid + paging; ``migration_type`` from 2.23
evacuate           2.68 (2.29, 2.23)          below 2.95 Nova keeps the power state;
                                              2.68 drops ``force``, 2.29 validates host
=================  =========================  =============================================

Never 2.95+ for evacuate: from 2.95 Nova leaves *every* evacuated server
stopped. Below it, nova-compute rebuilds the server and, when it was stopped,
stops it again before it moves ``host`` and marks the migration ``done``
(``_do_rebuild_instance``: "bringing vm to original state"), so ACTIVE stays
ACTIVE and SHUTOFF stays SHUTOFF with no extra call. (Both ways the guest of a
stopped server runs briefly on the destination: Nova spawns, then powers off.)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from instanceha.nova.model import (
    Aggregate,
    ComputeService,
    Image,
    Migration,
    NovaAuthError,
    NovaConflict,
    NovaError,
    NovaNotFound,
    NovaTimeout,
    NovaUnavailable,
    Server,
)

__all__ = [
    "MIN_SUPPORTED",
    "ApiVersions",
    "aggregate_from_json",
    "fault_message",
    "has_next_link",
    "image_from_json",
    "error_for_status",
    "migration_from_json",
    "migration_sort_key",
    "parse_version",
    "server_from_json",
    "service_from_json",
]

#: The oldest compute API maximum we work with (Mitaka has 2.25).
MIN_SUPPORTED = (2, 23)

_VERSION_RE = re.compile(r"^\s*(\d+)\.(\d+)\s*$")

#: Glance v2 image fields that are not custom properties.
_GLANCE_BASE_FIELDS = frozenset(
    {
        "checksum",
        "container_format",
        "created_at",
        "direct_url",
        "disk_format",
        "file",
        "id",
        "locations",
        "min_disk",
        "min_ram",
        "name",
        "os_hash_algo",
        "os_hash_value",
        "os_hidden",
        "owner",
        "protected",
        "schema",
        "self",
        "size",
        "status",
        "stores",
        "tags",
        "updated_at",
        "virtual_size",
        "visibility",
    }
)


def parse_version(text: str) -> tuple[int, int]:
    """``"2.53"`` → ``(2, 53)``; raises ValueError on anything else."""
    match = _VERSION_RE.match(text or "")
    if match is None:
        raise ValueError(f"not a microversion: {text!r}")
    return int(match.group(1)), int(match.group(2))


def _fmt(version: tuple[int, int]) -> str:
    return f"{version[0]}.{version[1]}"


@dataclass(frozen=True)
class ApiVersions:
    """The microversion of every call, given the server's maximum (see the module table)."""

    maximum: tuple[int, int]

    def __post_init__(self) -> None:
        if self.maximum < MIN_SUPPORTED:
            raise ValueError(
                f"Nova supports microversions up to {_fmt(self.maximum)};"
                f" instanceha needs {_fmt(MIN_SUPPORTED)} or later"
            )

    def _at_most(self, wanted: tuple[int, int]) -> tuple[int, int]:
        return min(self.maximum, wanted)

    @property
    def uuid_services(self) -> bool:
        """True when services are addressed by UUID (``PUT /os-services/{id}``)."""
        return self.maximum >= (2, 53)

    @property
    def services(self) -> str:
        return "2.53" if self.uuid_services else "2.11"

    @property
    def embedded_flavor(self) -> bool:
        """True when server documents embed the flavor with its extra specs."""
        return self.maximum >= (2, 47)

    @property
    def servers(self) -> str:
        return "2.47" if self.embedded_flavor else _fmt(MIN_SUPPORTED)

    @property
    def paged_migrations(self) -> bool:
        """True when ``GET /os-migrations`` pages (limit/marker) and returns uuids."""
        return self.maximum >= (2, 59)

    @property
    def migrations(self) -> str:
        return "2.59" if self.paged_migrations else _fmt(MIN_SUPPORTED)

    @property
    def evacuate(self) -> str:
        """Microversion for evacuating: below 2.95, so Nova keeps the power state."""
        if self.maximum >= (2, 68):
            return "2.68"
        if self.maximum >= (2, 29):
            return "2.29"
        return _fmt(MIN_SUPPORTED)

    @property
    def general(self) -> str:
        """Microversion for calls whose format does not matter (aggregates)."""
        return _fmt(self._at_most((2, 53)))


def _str_map(value: object) -> dict[str, str]:
    if not isinstance(value, Mapping):
        return {}
    return {str(k): "" if v is None else str(v) for k, v in value.items()}


def service_from_json(doc: Mapping[str, Any]) -> ComputeService:
    """One ``os-services`` entry (2.11 integer ids become strings)."""
    return ComputeService(
        id=str(doc.get("id", "")),
        host=str(doc.get("host", "")),
        binary=str(doc.get("binary", "")),
        state=str(doc.get("state", "")),
        status=str(doc.get("status", "")),
        forced_down=bool(doc.get("forced_down", False)),
        disabled_reason=doc.get("disabled_reason") or None,
        zone=doc.get("zone") or None,
        updated_at=str(doc["updated_at"]) if doc.get("updated_at") else None,
    )


def server_from_json(
    doc: Mapping[str, Any], flavor_lookup: Mapping[str, tuple[str, dict[str, str]]] | None = None
) -> Server:
    """One ``/servers/detail`` entry.

    ``flavor_lookup`` maps a flavor id to (name, extra specs) for servers
    documents older than 2.47 that only carry the flavor id.
    """
    image = doc.get("image")
    image_id = image.get("id") if isinstance(image, Mapping) else None
    raw_flavor = doc.get("flavor")
    flavor: Mapping[str, Any] = raw_flavor if isinstance(raw_flavor, Mapping) else {}
    if "original_name" in flavor:
        flavor_name = str(flavor["original_name"])
        extra_specs = _str_map(flavor.get("extra_specs"))
    else:
        flavor_name, extra_specs = (flavor_lookup or {}).get(str(flavor.get("id", "")), ("", {}))
    return Server(
        id=str(doc["id"]),
        name=str(doc.get("name", "")),
        status=str(doc.get("status", "")),
        host=doc.get("OS-EXT-SRV-ATTR:host") or None,
        task_state=doc.get("OS-EXT-STS:task_state") or None,
        vm_state=doc.get("OS-EXT-STS:vm_state") or None,
        project_id=str(doc.get("tenant_id", "")),
        image_id=str(image_id) if image_id else None,
        flavor_name=flavor_name,
        flavor_extra_specs=dict(extra_specs),
        metadata=_str_map(doc.get("metadata")),
        locked=bool(doc.get("locked", False)),
    )


def migration_from_json(doc: Mapping[str, Any]) -> Migration:
    """One ``os-migrations`` entry; the id is the uuid when Nova gives one (2.59+)."""
    return Migration(
        id=str(doc.get("uuid") or doc.get("id", "")),
        instance_uuid=str(doc.get("instance_uuid", "")),
        source_compute=str(doc.get("source_compute") or ""),
        dest_compute=doc.get("dest_compute") or None,
        status=str(doc.get("status", "")),
        migration_type=str(doc.get("migration_type", "")),
        created_at=str(doc.get("created_at") or ""),
        updated_at=str(doc.get("updated_at") or ""),
    )


def migration_sort_key(doc: Mapping[str, Any]) -> tuple[str, int]:
    """Newest first when sorted in reverse: creation time, then the integer id."""
    raw_id = doc.get("id")
    return str(doc.get("created_at") or ""), raw_id if isinstance(raw_id, int) else 0


def image_from_json(doc: Mapping[str, Any]) -> Image:
    """A Glance v2 image: custom properties are the non-standard top-level keys."""
    props = {
        str(k): "" if v is None else str(v)
        for k, v in doc.items()
        if k not in _GLANCE_BASE_FIELDS and isinstance(v, str | int | float | bool)
    }
    tags = doc.get("tags") or []
    return Image(id=str(doc["id"]), properties=props, tags=tuple(str(t) for t in tags))


def aggregate_from_json(doc: Mapping[str, Any]) -> Aggregate:
    """One ``os-aggregates`` entry."""
    return Aggregate(
        name=str(doc.get("name", "")),
        hosts=tuple(str(h) for h in doc.get("hosts") or ()),
        metadata=_str_map(doc.get("metadata")),
    )


def has_next_link(doc: Mapping[str, Any], collection: str) -> bool:
    """True when a paged collection answer carries a ``next`` link."""
    links = doc.get(f"{collection}_links") or []
    return any(isinstance(link, Mapping) and link.get("rel") == "next" for link in links)


def fault_message(body: object) -> str:
    """Nova's (or Glance's, Keystone's) human message from an error body."""
    if isinstance(body, Mapping):
        for value in body.values():
            if isinstance(value, Mapping) and value.get("message"):
                return " ".join(str(value["message"]).split())
        if body.get("message"):
            return " ".join(str(body["message"]).split())
    if isinstance(body, str) and body.strip():
        text = re.sub(r"<[^>]+>", " ", body)
        return " ".join(text.split())[:300]
    return ""


def error_for_status(
    status: int, body: object, method: str, path: str, service: str = "Nova"
) -> NovaError:
    """The typed error for an HTTP error answer, with the service's own message.

    401/403 → :class:`NovaAuthError`; 404 → :class:`NovaNotFound`; 400/409 →
    :class:`NovaConflict` (Nova answers 400 for state refusals such as force-up
    with ``done`` evacuations or an evacuation whose source is still up);
    408/504 → :class:`NovaTimeout`; 429 and 5xx → :class:`NovaUnavailable`.
    """
    detail = fault_message(body) or "no explanation given"
    text = f"{service} answered HTTP {status} to {method} {path}: {detail}"
    if status in (401, 403):
        return NovaAuthError(text)
    if status == 404:
        return NovaNotFound(text)
    if status in (400, 409):
        return NovaConflict(text)
    if status in (408, 504):
        return NovaTimeout(text)
    if status == 429 or status >= 500:
        return NovaUnavailable(text)
    return NovaError(text)
