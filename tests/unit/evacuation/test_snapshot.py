"""Snapshot format: parse, dump, build from a Nova port."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fakes.fake_nova import FakeNova
from instanceha.evacuation.snapshot import (
    AllocationRatios,
    FlavorSize,
    HostCapacity,
    SnapshotError,
    dump_snapshot,
    load_snapshot,
    take_snapshot,
)
from instanceha.nova.model import Aggregate, Image

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "cib"


def test_golden_snapshot_round_trips() -> None:
    text = (GOLDEN / "snapshot-comp1.json").read_text()
    snap = load_snapshot(text)
    assert snap.host == "comp1.example.com" and len(snap.servers) == 5
    assert snap.sizes["11111111-0000-0000-0000-000000000001"] == FlavorSize(4, 8192, 80)
    tagged = snap.images["img-tagged"]
    assert tagged is not None and tagged.tags == ("evacuable",)
    assert [h.host for h in snap.hosts if h.usable] == ["comp2.example.com",
                                                         "compute-03.example.com"]
    assert load_snapshot(dump_snapshot(snap)) == snap


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("format"), "not an instanceha-nova-snapshot"),
        (lambda d: d.update(version=2), "version 2 is not supported"),
        (lambda d: d.update(host=""), "host: required"),
        (lambda d: d["servers"][0].pop("id"), r"servers\[0\]\.id: required"),
        (lambda d: d["servers"][1]["flavor"].update(vcpus="two"), r"servers\[1\]\.flavor\.vcpus"),
        (lambda d: d["hosts"][0].update(vcpus_used=True), r"hosts\[0\]\.vcpus_used"),
        (lambda d: d["images"].update(x=[1]), "images.x: expected an object or null"),
    ],
)
def test_bad_documents_name_the_field(mutate: Any, message: str) -> None:
    doc = json.loads((GOLDEN / "snapshot-comp1.json").read_text())
    mutate(doc)
    with pytest.raises(SnapshotError, match=message):
        load_snapshot(json.dumps(doc))
    with pytest.raises(SnapshotError, match="not JSON"):
        load_snapshot("{")


class Source(FakeNova):
    """FakeNova plus the two reads a snapshot needs beyond NovaPort."""

    def flavor_sizes(self) -> dict[str, FlavorSize]:
        return {"m1.small": FlavorSize(1, 2048, 20)}

    def hypervisors(self) -> list[HostCapacity]:
        return [HostCapacity(host=h, vcpus=8, memory_mb=16384, disk_gb=100)
                for h in ("c1", "c2")]


def test_take_snapshot_from_a_nova_port() -> None:
    nova = Source()
    for host in ("c1", "c2"):
        nova.add_compute(host)
    nova.add_image(Image("img1", tags=("evacuable",)))
    nova.add_aggregate(Aggregate("agg", ("c1",), {"evacuable": "true"}))
    server = nova.add_server("c1", name="vm", image_id="img1", flavor_name="m1.small")
    gone = nova.add_server("c1", name="old", image_id="img-deleted", flavor_name="m1.gone")
    nova.kill_compute("c1")
    snap = take_snapshot(nova, "c1", taken_at="2026-01-01T00:00:00Z",
                         ratios=AllocationRatios(cpu=2.0))
    assert {s.name for s in snap.servers} == {"vm", "old"}
    assert snap.sizes[server.id] == FlavorSize(1, 2048, 20)
    assert snap.sizes[gone.id] == FlavorSize()  # flavor unknown to Nova
    assert snap.images == {"img1": Image("img1", tags=("evacuable",)), "img-deleted": None}
    hosts = {h.host: h for h in snap.hosts}
    assert hosts["c1"].state == "down" and hosts["c2"].usable
    assert hosts["c2"].cpu_allocation_ratio == 2.0
    assert load_snapshot(dump_snapshot(snap)) == snap
