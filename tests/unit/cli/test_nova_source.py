"""The live snapshot source's two extra reads, over a fake transport."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from instanceha.cli.nova_source import LiveSnapshotSource
from instanceha.evacuation.snapshot import FlavorSize
from instanceha.nova.client import NovaClient
from instanceha.nova.credentials import CloudConfig


class Transport:
    """Answers GET /flavors/detail (two pages) and /os-hypervisors/detail."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str | None, dict[str, Any]]] = []

    def max_microversion(self) -> tuple[int, int]:
        return (2, 96)

    def endpoint(self, service: str) -> str:
        return "http://nova"

    def call(self, method: str, service: str, path: str, *, microversion: str | None = None,
             params: Mapping[str, str | int] | None = None, body: object = None
             ) -> tuple[int, Any]:
        self.calls.append((path, microversion, dict(params or {})))
        if path == "/flavors/detail":
            if "marker" not in (params or {}):
                return 200, {"flavors": [{"id": f"f{i}", "name": f"m{i}", "vcpus": 1,
                                          "ram": 512, "disk": 1} for i in range(1000)]}
            return 200, {"flavors": [{"id": "big", "name": "big", "vcpus": 8, "ram": 16384,
                                      "disk": 100}]}
        return 200, {"hypervisors": [
            {"hypervisor_hostname": "c1.local", "service": {"host": "c1"}, "vcpus": 16,
             "vcpus_used": 2, "memory_mb": 4096, "memory_mb_used": 1024, "local_gb": 50,
             "local_gb_used": 5},
            {"hypervisor_hostname": "", "service": {}},
        ]}


def test_flavors_follow_pages_and_hypervisors_map_to_service_hosts() -> None:
    transport = Transport()
    source = LiveSnapshotSource(NovaClient(CloudConfig(auth_url="http://k"), transport=transport))
    sizes = source.flavor_sizes()
    assert len(sizes) == 1001 and sizes["big"] == FlavorSize(8, 16384, 100)
    assert transport.calls[1][2]["marker"] == "f999"
    assert transport.calls[0][2]["is_public"] == "None"
    hosts = source.hypervisors()
    assert [(h.host, h.vcpus, h.memory_mb_used, h.disk_gb) for h in hosts] == [
        ("c1", 16, 1024, 50)]
    assert transport.calls[-1][1] == "2.53"  # still reports vcpus and memory
