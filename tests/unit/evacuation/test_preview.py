"""The evacuation preview: policy decisions plus the capacity estimate."""

from __future__ import annotations

from instanceha.evacuation.policy import Mode, PolicyConfig
from instanceha.evacuation.preview import estimate_capacity, preview
from instanceha.evacuation.snapshot import FlavorSize, HostCapacity, Snapshot
from instanceha.nova.model import Server


def _server(i: int, **kw: object) -> Server:
    values: dict[str, object] = {"id": f"s{i}", "name": f"vm{i}", "status": "ACTIVE",
                                 "host": "h0", "vm_state": "active", "image_id": "img"}
    values.update(kw)
    return Server(**values)  # type: ignore[arg-type]


def _host(name: str, ram_free: int, *, vcpus_free: int = 64, disk_free: int = 1000,
          **kw: object) -> HostCapacity:
    return HostCapacity(host=name, vcpus=vcpus_free, memory_mb=ram_free, disk_gb=disk_free,
                        cpu_allocation_ratio=1.0, **kw)  # type: ignore[arg-type]


def _snapshot(servers: list[Server], sizes: dict[str, FlavorSize],
              hosts: list[HostCapacity]) -> Snapshot:
    return Snapshot(host="h0", servers=tuple(servers), sizes=sizes, images={"img": None},
                    aggregates=(), hosts=tuple(hosts))


def test_places_biggest_first_on_most_free_ram() -> None:
    servers = [_server(1), _server(2), _server(3)]
    sizes = {"s1": FlavorSize(2, 4096, 10), "s2": FlavorSize(1, 8192, 10),
             "s3": FlavorSize(1, 2048, 10)}
    hosts = [_host("h0", 100_000), _host("a", 10_000), _host("b", 8_000),
             _host("down", 100_000, state="down"), _host("off", 100_000, status="disabled")]
    result = preview(_snapshot(servers, sizes, hosts), PolicyConfig(mode=Mode.ALL))
    cap = result.capacity
    assert cap.hosts == ("a", "b")  # never the failed host, nor unusable ones
    assert cap.verdict == "fits"
    assert cap.placements == {"s2": "a", "s1": "b", "s3": "b"}
    assert (cap.needed.vcpus, cap.needed.ram_mb, cap.needed.disk_gb) == (4, 14336, 30)


def test_does_not_fit_and_unknown_sizes() -> None:
    servers = [_server(1), _server(2)]
    sizes = {"s1": FlavorSize(2, 64_000, 10), "s2": FlavorSize()}
    result = preview(_snapshot(servers, sizes, [_host("a", 8_000)]), PolicyConfig(mode=Mode.ALL))
    assert result.capacity.unplaced == ("s1",)
    assert result.capacity.unknown_size == ("s2",)
    assert result.capacity.verdict == "does not fit"
    fits_but_unknown = preview(_snapshot([_server(2)], sizes, [_host("a", 8_000)]),
                               PolicyConfig(mode=Mode.ALL))
    assert fits_but_unknown.capacity.verdict == "unknown"


def test_boot_from_volume_needs_no_local_disk_and_reserved_hosts_are_binding() -> None:
    servers = [_server(1, image_id=None), _server(2)]
    sizes = {"s1": FlavorSize(1, 1024, 500), "s2": FlavorSize(1, 1024, 500)}
    hosts = [_host("spare", 4096, disk_free=100), _host("big", 100_000, disk_free=10_000)]
    config = PolicyConfig(mode=Mode.ALL, reserved_hosts=("spare",))
    result = preview(_snapshot(servers, sizes, hosts), config)
    assert all(d.target_host == "spare" for d in result.plan.to_evacuate)
    assert result.capacity.placements == {"s1": "spare"}
    assert result.capacity.unplaced == ("s2",)  # 500 GiB of local disk do not fit on spare


def test_skipped_servers_need_no_capacity() -> None:
    servers = [_server(1, metadata={"evacuable": "false"}), _server(2, status="BUILD",
                                                                    vm_state="building")]
    sizes = {"s1": FlavorSize(1, 1024, 1), "s2": FlavorSize(1, 1024, 1)}
    result = preview(_snapshot(servers, sizes, []), PolicyConfig(mode=Mode.ALL))
    assert len(result.plan.skipped) == 2 and not result.plan.to_evacuate
    assert estimate_capacity(result.plan, _snapshot(servers, sizes, [])).verdict == "fits"
