"""CachedNova: images and aggregates once per incident, everything else straight through."""

from __future__ import annotations

import pytest

from fakes.fake_nova import FakeNova
from instanceha.nova.cache import CachedNova
from instanceha.nova.model import Aggregate, Image, NovaNotFound


def test_images_and_aggregates_are_fetched_once() -> None:
    fake = FakeNova()
    fake.add_compute("c1")
    fake.add_image(Image("i1", {"evacuable": "true"}))
    fake.add_aggregate(Aggregate("ha", ("c1",), {"evacuable": "true"}))
    cached = CachedNova(fake)
    for _ in range(3):
        assert cached.get_image("i1").properties == {"evacuable": "true"}
        assert [a.name for a in cached.list_aggregates()] == ["ha"]
        with pytest.raises(NovaNotFound):
            cached.get_image("gone")
    names = [name for name, _ in fake.calls]
    assert names.count("get_image") == 2
    assert names.count("list_aggregates") == 1


def test_everything_else_passes_through() -> None:
    fake = FakeNova()
    fake.add_compute("c1")
    cached = CachedNova(fake)
    cached.force_down("c1")
    cached.force_down("c1")
    assert [name for name, _ in fake.calls] == ["force_down", "force_down"]
    assert cached.port is fake
