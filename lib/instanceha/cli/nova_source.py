"""A :class:`~instanceha.evacuation.snapshot.SnapshotSource` over a live cloud (``NovaClient``).

The NovaPort calls go through :class:`instanceha.nova.client.NovaClient`; the two
reads it does not offer (flavor sizes, hypervisor capacity) go through its
public transport at the client's negotiated "general" microversion (≤ 2.53,
where ``os-hypervisors`` still reports vcpus, memory and disk).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from instanceha.evacuation.snapshot import FlavorSize, HostCapacity
from instanceha.nova.client import NovaClient
from instanceha.nova.model import Aggregate, ComputeService, Image, Migration, NovaError, Server

__all__ = ["LiveSnapshotSource"]

_PAGE = 1000


def _int(doc: Mapping[str, Any], key: str) -> int:
    value = doc.get(key)
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


class LiveSnapshotSource:
    """Reads one host's snapshot data from Nova and Glance."""

    def __init__(self, client: NovaClient) -> None:
        self.client = client

    def _get(self, path: str, params: Mapping[str, str | int]) -> Any:
        status, doc = self.client.transport.call(
            "GET", "compute", path, microversion=self.client.versions.general, params=params
        )
        if status >= 400 or not isinstance(doc, Mapping):
            raise NovaError(f"GET {path} answered HTTP {status}")
        return doc

    def list_servers_on_host(self, host: str) -> list[Server]:
        return self.client.list_servers_on_host(host)

    def get_image(self, image_id: str) -> Image:
        return self.client.get_image(image_id)

    def list_aggregates(self) -> list[Aggregate]:
        return self.client.list_aggregates()

    def list_compute_services(self, host: str | None = None) -> list[ComputeService]:
        return self.client.list_compute_services(host)

    def list_evacuations(self, source_host: str) -> list[Migration]:
        return self.client.list_evacuations(source_host)

    def flavor_sizes(self) -> dict[str, FlavorSize]:
        """``GET /flavors/detail?is_public=None`` (all flavors, admin), every page."""
        sizes: dict[str, FlavorSize] = {}
        marker: str | None = None
        while True:
            params: dict[str, str | int] = {"is_public": "None", "limit": _PAGE}
            if marker:
                params["marker"] = marker
            flavors = list(self._get("/flavors/detail", params).get("flavors") or [])
            for f in flavors:
                sizes[str(f.get("name", ""))] = FlavorSize(
                    vcpus=_int(f, "vcpus"), ram_mb=_int(f, "ram"), disk_gb=_int(f, "disk")
                )
            if len(flavors) < _PAGE:
                return sizes
            marker = str(flavors[-1].get("id"))

    def hypervisors(self) -> list[HostCapacity]:
        """``GET /os-hypervisors/detail``: capacity by compute service host."""
        doc = self._get("/os-hypervisors/detail", {})
        hosts = []
        for hyp in doc.get("hypervisors") or []:
            service = hyp.get("service") or {}
            host = str(service.get("host") or hyp.get("hypervisor_hostname") or "")
            if not host:
                continue
            hosts.append(HostCapacity(
                host=host,
                vcpus=_int(hyp, "vcpus"),
                vcpus_used=_int(hyp, "vcpus_used"),
                memory_mb=_int(hyp, "memory_mb"),
                memory_mb_used=_int(hyp, "memory_mb_used"),
                disk_gb=_int(hyp, "local_gb"),
                disk_gb_used=_int(hyp, "local_gb_used"),
            ))
        return hosts
