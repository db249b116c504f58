"""The Nova snapshot file: what ``instanceha simulate --plan`` needs to know about one host.

Format ``instanceha-nova-snapshot`` version 1 (JSON; docs/cli.md)::

    {"format": "instanceha-nova-snapshot", "version": 1,
     "taken_at": "2026-11-20T22:00:00Z", "host": "<Nova host of the failed node>",
     "servers": [{"id", "name", "status", "vm_state", "task_state", "host",
                  "project_id", "image_id", "metadata", "locked",
                  "flavor": {"name", "vcpus", "ram_mb", "disk_gb", "extra_specs"}}],
     "images": {"<image id>": {"properties": {}, "tags": []} | null},
     "aggregates": [{"name", "hosts": [], "metadata": {}}],
     "hosts": [{"host", "state", "status", "forced_down",
                "vcpus", "vcpus_used", "memory_mb", "memory_mb_used",
                "disk_gb", "disk_gb_used",
                "cpu_allocation_ratio", "ram_allocation_ratio", "disk_allocation_ratio"}],
     "in_flight": ["<server id>", ...]}

``images`` maps every image a server boots from (``null``: the image is gone);
``hosts`` are the other compute hosts with their capacity (the failed host
may be listed too; it is never a target). Flavor sizes are ``null`` when the
flavor no longer exists. :func:`take_snapshot` builds it from a live cloud.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Protocol

from instanceha.evacuation.tracker import IN_FLIGHT_STATUSES
from instanceha.nova.model import Aggregate, ComputeService, Image, NovaNotFound, Server

__all__ = [
    "FORMAT",
    "AllocationRatios",
    "FlavorSize",
    "HostCapacity",
    "Snapshot",
    "SnapshotError",
    "SnapshotSource",
    "dump_snapshot",
    "load_snapshot",
    "parse_snapshot",
    "take_snapshot",
]

FORMAT = "instanceha-nova-snapshot"
VERSION = 1


class SnapshotError(ValueError):
    """The snapshot file is unreadable or not in the format above."""


@dataclass(frozen=True)
class FlavorSize:
    """A flavor's size; None when Nova no longer knows the flavor."""

    vcpus: int | None = None
    ram_mb: int | None = None
    disk_gb: int | None = None


@dataclass(frozen=True)
class AllocationRatios:
    """Overcommit ratios assumed for hosts whose record does not say (Nova's initial ones)."""

    cpu: float = 4.0
    ram: float = 1.0
    disk: float = 1.0


@dataclass(frozen=True)
class HostCapacity:
    """One compute host as the scheduler's filters would roughly see it."""

    host: str
    state: str = "up"
    status: str = "enabled"
    forced_down: bool = False
    vcpus: int = 0
    vcpus_used: int = 0
    memory_mb: int = 0
    memory_mb_used: int = 0
    disk_gb: int = 0
    disk_gb_used: int = 0
    cpu_allocation_ratio: float = 4.0
    ram_allocation_ratio: float = 1.0
    disk_allocation_ratio: float = 1.0

    @property
    def usable(self) -> bool:
        """True when Nova could schedule onto it (up, enabled, not forced down)."""
        return self.state == "up" and self.status == "enabled" and not self.forced_down


@dataclass(frozen=True)
class Snapshot:
    """A parsed snapshot."""

    host: str
    servers: tuple[Server, ...]
    sizes: Mapping[str, FlavorSize]  # by server id
    images: Mapping[str, Image | None]
    aggregates: tuple[Aggregate, ...]
    hosts: tuple[HostCapacity, ...]
    in_flight: frozenset[str] = frozenset()
    taken_at: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)


class SnapshotSource(Protocol):
    """What :func:`take_snapshot` needs beyond :class:`~instanceha.nova.model.NovaPort`."""

    def list_servers_on_host(self, host: str) -> list[Server]: ...

    def get_image(self, image_id: str) -> Image: ...

    def list_aggregates(self) -> list[Aggregate]: ...

    def list_compute_services(self, host: str | None = None) -> list[ComputeService]: ...

    def list_evacuations(self, source_host: str) -> list[Any]: ...

    def flavor_sizes(self) -> dict[str, FlavorSize]:
        """Sizes of every flavor (public and private), by flavor name."""
        ...

    def hypervisors(self) -> list[HostCapacity]:
        """Capacity of every compute host (state and status may be left default)."""
        ...


# ------------------------------------------------------------------ reading


def _get(doc: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str,
         default: Any = None) -> Any:
    value = doc.get(key, default)
    if value is None:
        return default
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise SnapshotError(f"{where}.{key}: expected {getattr(kind, '__name__', kind)}")
    return value


def _str_map(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise SnapshotError(f"{where}: expected an object")
    return {str(k): str(v) for k, v in value.items()}


def _server(doc: Any, i: int) -> tuple[Server, FlavorSize]:
    where = f"servers[{i}]"
    if not isinstance(doc, Mapping):
        raise SnapshotError(f"{where}: expected an object")
    for key in ("id", "status"):
        if not isinstance(doc.get(key), str) or not doc[key]:
            raise SnapshotError(f"{where}.{key}: required")
    flavor = doc.get("flavor") or {}
    if not isinstance(flavor, Mapping):
        raise SnapshotError(f"{where}.flavor: expected an object")
    server = Server(
        id=doc["id"],
        name=str(doc.get("name") or doc["id"]),
        status=doc["status"],
        host=_get(doc, "host", str, where),
        task_state=_get(doc, "task_state", str, where),
        vm_state=_get(doc, "vm_state", str, where),
        project_id=str(doc.get("project_id") or ""),
        image_id=_get(doc, "image_id", str, where),
        flavor_name=str(flavor.get("name") or ""),
        flavor_extra_specs=_str_map(flavor.get("extra_specs"), f"{where}.flavor.extra_specs"),
        metadata=_str_map(doc.get("metadata"), f"{where}.metadata"),
        locked=bool(doc.get("locked", False)),
    )
    size = FlavorSize(
        vcpus=_get(flavor, "vcpus", int, f"{where}.flavor"),
        ram_mb=_get(flavor, "ram_mb", int, f"{where}.flavor"),
        disk_gb=_get(flavor, "disk_gb", int, f"{where}.flavor"),
    )
    return server, size


def _host(doc: Any, i: int) -> HostCapacity:
    where = f"hosts[{i}]"
    if not isinstance(doc, Mapping) or not isinstance(doc.get("host"), str):
        raise SnapshotError(f"{where}.host: required")
    def count(key: str) -> int:
        value: int = _get(doc, key, int, where, 0)
        return value

    def ratio(key: str, default: float) -> float:
        return float(_get(doc, key, (int, float), where, default))

    return HostCapacity(
        host=doc["host"],
        state=str(doc.get("state") or "up"),
        status=str(doc.get("status") or "enabled"),
        forced_down=bool(doc.get("forced_down", False)),
        vcpus=count("vcpus"),
        vcpus_used=count("vcpus_used"),
        memory_mb=count("memory_mb"),
        memory_mb_used=count("memory_mb_used"),
        disk_gb=count("disk_gb"),
        disk_gb_used=count("disk_gb_used"),
        cpu_allocation_ratio=ratio("cpu_allocation_ratio", 4.0),
        ram_allocation_ratio=ratio("ram_allocation_ratio", 1.0),
        disk_allocation_ratio=ratio("disk_allocation_ratio", 1.0),
    )


def parse_snapshot(doc: Any) -> Snapshot:
    """Validate a decoded snapshot document.

    :raises SnapshotError: naming the first bad field.
    """
    if not isinstance(doc, Mapping) or doc.get("format") != FORMAT:
        raise SnapshotError(f"not an {FORMAT} document (missing \"format\": \"{FORMAT}\")")
    if doc.get("version") != VERSION:
        raise SnapshotError(f"version {doc.get('version')!r} is not supported (expected {VERSION})")
    host = doc.get("host")
    if not isinstance(host, str) or not host:
        raise SnapshotError("host: required")
    parsed = [_server(s, i) for i, s in enumerate(doc.get("servers") or [])]
    images: dict[str, Image | None] = {}
    for image_id, image in (doc.get("images") or {}).items():
        if image is None:
            images[image_id] = None
            continue
        if not isinstance(image, Mapping):
            raise SnapshotError(f"images.{image_id}: expected an object or null")
        images[image_id] = Image(
            id=image_id,
            properties=_str_map(image.get("properties"), f"images.{image_id}.properties"),
            tags=tuple(str(t) for t in image.get("tags") or ()),
        )
    aggregates = []
    for i, agg in enumerate(doc.get("aggregates") or []):
        if not isinstance(agg, Mapping) or not isinstance(agg.get("name"), str):
            raise SnapshotError(f"aggregates[{i}].name: required")
        aggregates.append(Aggregate(
            name=agg["name"],
            hosts=tuple(str(h) for h in agg.get("hosts") or ()),
            metadata=_str_map(agg.get("metadata"), f"aggregates[{i}].metadata"),
        ))
    return Snapshot(
        host=host,
        servers=tuple(s for s, _ in parsed),
        sizes={s.id: size for s, size in parsed},
        images=images,
        aggregates=tuple(aggregates),
        hosts=tuple(_host(h, i) for i, h in enumerate(doc.get("hosts") or [])),
        in_flight=frozenset(str(x) for x in doc.get("in_flight") or ()),
        taken_at=str(doc.get("taken_at") or ""),
    )


def load_snapshot(text: str) -> Snapshot:
    """Parse snapshot JSON text.

    :raises SnapshotError: when it is not JSON or not the format.
    """
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as err:
        raise SnapshotError(f"not JSON: {err}") from None
    return parse_snapshot(doc)


# ------------------------------------------------------------------ writing


def _server_doc(server: Server, size: FlavorSize) -> dict[str, Any]:
    return {
        "id": server.id,
        "name": server.name,
        "status": server.status,
        "vm_state": server.vm_state,
        "task_state": server.task_state,
        "host": server.host,
        "project_id": server.project_id,
        "image_id": server.image_id,
        "metadata": dict(server.metadata),
        "locked": server.locked,
        "flavor": {
            "name": server.flavor_name,
            "vcpus": size.vcpus,
            "ram_mb": size.ram_mb,
            "disk_gb": size.disk_gb,
            "extra_specs": dict(server.flavor_extra_specs),
        },
    }


def dump_snapshot(snapshot: Snapshot) -> str:
    """The snapshot as indented JSON (stable key order)."""
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "taken_at": snapshot.taken_at,
        "host": snapshot.host,
        "servers": [_server_doc(s, snapshot.sizes.get(s.id, FlavorSize()))
                    for s in snapshot.servers],
        "images": {
            image_id: None if image is None
            else {"properties": dict(image.properties), "tags": list(image.tags)}
            for image_id, image in sorted(snapshot.images.items())
        },
        "aggregates": [
            {"name": a.name, "hosts": list(a.hosts), "metadata": dict(a.metadata)}
            for a in snapshot.aggregates
        ],
        "hosts": [asdict(h) for h in snapshot.hosts],
        "in_flight": sorted(snapshot.in_flight),
    }
    return json.dumps(doc, indent=2, sort_keys=False) + "\n"


def _images(source: SnapshotSource, ids: Iterable[str]) -> dict[str, Image | None]:
    found: dict[str, Image | None] = {}
    for image_id in sorted(set(ids)):
        try:
            found[image_id] = source.get_image(image_id)
        except NovaNotFound:
            found[image_id] = None
    return found


def take_snapshot(source: SnapshotSource, host: str, *, taken_at: str,
                  ratios: AllocationRatios | None = None) -> Snapshot:
    """Read everything the plan needs about ``host`` (a Nova host name) from Nova.

    ``ratios`` are recorded for every host (os-hypervisors does not report them).
    """
    servers = source.list_servers_on_host(host)
    sizes_by_name = source.flavor_sizes()
    services = {s.host: s for s in source.list_compute_services()}
    hosts = []
    for hyp in source.hypervisors():
        svc = services.get(hyp.host)
        r = ratios or AllocationRatios()
        capacity = replace(hyp, cpu_allocation_ratio=r.cpu, ram_allocation_ratio=r.ram,
                           disk_allocation_ratio=r.disk)
        if svc is not None:
            capacity = replace(capacity, state=svc.state, status=svc.status,
                               forced_down=svc.forced_down)
        hosts.append(capacity)
    in_flight = frozenset(
        m.instance_uuid for m in source.list_evacuations(host)
        if m.status in IN_FLIGHT_STATUSES
    )
    return Snapshot(
        host=host,
        servers=tuple(servers),
        sizes={s.id: sizes_by_name.get(s.flavor_name, FlavorSize()) for s in servers},
        images=_images(source, (s.image_id for s in servers if s.image_id)),
        aggregates=tuple(source.list_aggregates()),
        hosts=tuple(sorted(hosts, key=lambda h: h.host)),
        in_flight=in_flight,
        taken_at=taken_at,
    )
