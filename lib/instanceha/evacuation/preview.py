"""Preview of an evacuation: the policy's decisions plus a capacity estimate (pure).

The decisions are :func:`instanceha.evacuation.policy.build_plan`'s, exactly
what NovaEvacuate would decide for the same servers. The capacity check is
an estimate, not Nova's scheduler: each evacuated server is placed on the
usable host (up, enabled, not forced down, not the failed host) with the most
free RAM that fits its flavor's vCPUs, RAM and (unless it boots from a
volume) disk, with the hosts' allocation ratios; a server with a reserved
target host must fit there. Affinity, aggregates' filters, NUMA, PCI and
quotas are not modelled.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from instanceha.evacuation.policy import Decision, Plan, PolicyConfig, build_plan
from instanceha.evacuation.snapshot import FlavorSize, HostCapacity, Snapshot

__all__ = ["CapacityReport", "EvacuationPreview", "Resources", "estimate_capacity", "preview"]


@dataclass(frozen=True)
class Resources:
    """vCPUs, RAM (MiB) and local disk (GiB)."""

    vcpus: float = 0
    ram_mb: float = 0
    disk_gb: float = 0

    def __add__(self, other: Resources) -> Resources:
        return Resources(self.vcpus + other.vcpus, self.ram_mb + other.ram_mb,
                         self.disk_gb + other.disk_gb)

    def __sub__(self, other: Resources) -> Resources:
        return Resources(self.vcpus - other.vcpus, self.ram_mb - other.ram_mb,
                         self.disk_gb - other.disk_gb)

    def fits_in(self, other: Resources) -> bool:
        """True when every component is at most ``other``'s."""
        return (self.vcpus <= other.vcpus and self.ram_mb <= other.ram_mb
                and self.disk_gb <= other.disk_gb)


@dataclass(frozen=True)
class CapacityReport:
    """Whether the evacuated servers fit on the remaining hosts."""

    needed: Resources
    free: Resources
    hosts: tuple[str, ...]
    placements: Mapping[str, str] = field(default_factory=dict)  # server id -> host
    unplaced: tuple[str, ...] = ()
    unknown_size: tuple[str, ...] = ()

    @property
    def verdict(self) -> str:
        """``fits``, ``does not fit`` or ``unknown`` (some flavor sizes are missing)."""
        if self.unplaced:
            return "does not fit"
        if self.unknown_size:
            return "unknown"
        return "fits"


@dataclass(frozen=True)
class EvacuationPreview:
    """The plan for one failed host and the capacity left for it."""

    plan: Plan
    capacity: CapacityReport


def _free(host: HostCapacity) -> Resources:
    return Resources(
        host.vcpus * host.cpu_allocation_ratio - host.vcpus_used,
        host.memory_mb * host.ram_allocation_ratio - host.memory_mb_used,
        host.disk_gb * host.disk_allocation_ratio - host.disk_gb_used,
    )


def _need(decision: Decision, size: FlavorSize) -> Resources | None:
    if size.vcpus is None or size.ram_mb is None:
        return None
    boots_from_volume = decision.server.image_id is None
    disk = 0 if boots_from_volume else (size.disk_gb or 0)
    return Resources(size.vcpus, size.ram_mb, disk)


def estimate_capacity(plan: Plan, snapshot: Snapshot) -> CapacityReport:
    """Place the plan's evacuations on the snapshot's usable hosts (see the module doc)."""
    usable = [h for h in snapshot.hosts if h.usable and h.host != plan.host]
    free = {h.host: _free(h) for h in usable}
    total_free = sum(free.values(), Resources())
    needs: list[tuple[Decision, Resources]] = []
    unknown = []
    for decision in plan.to_evacuate:
        need = _need(decision, snapshot.sizes.get(decision.server.id, FlavorSize()))
        if need is None:
            unknown.append(decision.server.id)
        else:
            needs.append((decision, need))
    needed = sum((n for _, n in needs), Resources())
    placements: dict[str, str] = {}
    unplaced = []
    for decision, need in sorted(needs, key=lambda dn: (-dn[1].ram_mb, -dn[1].vcpus,
                                                         dn[0].server.name)):
        if decision.target_host:
            candidates = [decision.target_host] if decision.target_host in free else []
        else:
            candidates = sorted(free, key=lambda h: (-free[h].ram_mb, h))
        target = next((h for h in candidates if need.fits_in(free[h])), None)
        if target is None:
            unplaced.append(decision.server.id)
            continue
        free[target] = free[target] - need
        placements[decision.server.id] = target
    return CapacityReport(
        needed=needed,
        free=total_free,
        hosts=tuple(sorted(h.host for h in usable)),
        placements=placements,
        unplaced=tuple(unplaced),
        unknown_size=tuple(unknown),
    )


def preview(snapshot: Snapshot, config: PolicyConfig) -> EvacuationPreview:
    """The policy's plan for the snapshot's host and its capacity estimate."""
    plan = build_plan(
        snapshot.host,
        snapshot.servers,
        snapshot.images,
        snapshot.aggregates,
        config=config,
        in_flight=snapshot.in_flight,
    )
    return EvacuationPreview(plan, estimate_capacity(plan, snapshot))
