"""The evacuation request codec and its compare-and-set state machine."""

from __future__ import annotations

import pytest

from instanceha.clock import FakeClock
from instanceha.cluster.evacuation import (
    EvacuationRequest,
    EvacuationRequests,
    EvacuationState,
    InvalidRequestValue,
)


class DictAttributes:
    """An in-memory AttributeStore with real compare-and-set semantics."""

    def __init__(self) -> None:
        self.values: dict[tuple[str, str], str] = {}
        self.writes = 0
        self.interfere: dict[str, str] | None = None  # node -> value written by "someone else"

    def get(self, node: str, name: str) -> str | None:
        return self.values.get((node, name))

    def get_all(self, name: str) -> dict[str, str]:
        return {n: v for (n, k), v in self.values.items() if k == name}

    def delete(self, node: str, name: str) -> None:
        self.values.pop((node, name), None)

    def compare_and_set(self, node: str, name: str, expected: str | None, new: str | None) -> bool:
        if self.interfere and node in self.interfere:  # another writer wins the race
            self.values[(node, name)] = self.interfere.pop(node)
        if self.values.get((node, name)) != expected:
            return False
        self.writes += 1
        if new is None:
            self.values.pop((node, name), None)
        else:
            self.values[(node, name)] = new
        return True


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=1_795_000_000.0)


@pytest.fixture
def attrs() -> DictAttributes:
    return DictAttributes()


@pytest.fixture
def store(attrs: DictAttributes, clock: FakeClock) -> EvacuationRequests:
    return EvacuationRequests(attrs, clock=clock)


@pytest.mark.parametrize(
    ("req", "text"),
    [
        (EvacuationRequest.requested(12.9), "requested:12"),
        (EvacuationRequest.in_progress("ctl1", 5), "in-progress:ctl1:5"),
        (EvacuationRequest.in_progress("agent.a@ctl-2", 0), "in-progress:agent.a@ctl-2:0"),
        (EvacuationRequest.done(1795214466), "done:1795214466"),
    ],
)
def test_codec_round_trip(req: EvacuationRequest, text: str) -> None:
    assert req.encode() == text
    assert EvacuationRequest.decode(text) == req


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "yes",
        "requested",
        "requested:",
        "requested:x",
        "requested:-1",
        "requested:1:2",
        "in-progress:5",
        "in-progress::5",
        "in-progress:a b:5",
        "done:1:2",
        "evacuate:1",
        "in-progress:a:b:5",
        "requested:1234567890123",
    ],
)
def test_codec_rejects(bad: str) -> None:
    with pytest.raises(InvalidRequestValue):
        EvacuationRequest.decode(bad)


def test_invalid_construction() -> None:
    with pytest.raises(InvalidRequestValue):
        EvacuationRequest(EvacuationState.IN_PROGRESS, 1)
    with pytest.raises(InvalidRequestValue):
        EvacuationRequest(EvacuationState.DONE, 1, owner="x")
    with pytest.raises(InvalidRequestValue):
        EvacuationRequest.in_progress("a:b", 1)
    with pytest.raises(InvalidRequestValue):
        EvacuationRequest.requested(-1)


def test_age(clock: FakeClock) -> None:
    req = EvacuationRequest.requested(clock.time())
    assert req.age(clock.time() + 30.5) == 30.5
    assert req.age(clock.time() - 10) == 0.0


def test_full_lifecycle(store: EvacuationRequests, clock: FakeClock) -> None:
    assert store.attribute == "instanceha-evacuate"
    assert store.get("comp1") is None
    assert store.request("comp1")
    assert not store.request("comp1")
    clock.advance(3)
    claimed = store.claim("comp1", "ctl1")
    assert claimed == EvacuationRequest.in_progress("ctl1", clock.time())
    assert not store.request("comp1"), "in progress: a new request is not needed"
    clock.advance(10)
    assert store.renew("comp1", "ctl1")
    assert store.get("comp1") == EvacuationRequest.in_progress("ctl1", clock.time())
    assert store.complete("comp1", "ctl1")
    assert store.get("comp1") == EvacuationRequest.done(clock.time())
    assert store.claim("comp1", "ctl1") is None, "nothing to claim once done"
    assert store.request("comp1"), "a new failure after done"
    assert store.all() == {"comp1": EvacuationRequest.requested(clock.time())}


def test_only_the_owner_moves_its_claim(store: EvacuationRequests) -> None:
    store.request("comp1")
    assert store.claim("comp1", "a") is not None
    assert store.claim("comp1", "b") is None
    assert not store.complete("comp1", "b")
    assert not store.release("comp1", "b")
    assert not store.renew("comp1", "b")
    assert store.claim("comp1", "a") is not None, "re-claiming one's own claim renews it"
    assert store.release("comp1", "a")
    req = store.get("comp1")
    assert req is not None and req.state is EvacuationState.REQUESTED
    assert store.claim("comp1", "b") is not None


def test_stale_claims_can_be_taken_over(store: EvacuationRequests, clock: FakeClock) -> None:
    store.request("comp1")
    store.claim("comp1", "a")
    clock.advance(59)
    assert store.claim("comp1", "b", stale_after=60) is None
    clock.advance(1)
    taken = store.claim("comp1", "b", stale_after=60)
    assert taken is not None and taken.owner == "b"
    assert not store.complete("comp1", "a")


def test_losing_a_race_reports_false(
    store: EvacuationRequests, attrs: DictAttributes, clock: FakeClock
) -> None:
    store.request("comp1")
    attrs.interfere = {"comp1": EvacuationRequest.in_progress("other", clock.time()).encode()}
    assert store.claim("comp1", "me") is None
    assert store.get("comp1") == EvacuationRequest.in_progress("other", clock.time())
    attrs.interfere = {"comp2": "requested:1"}
    assert not store.request("comp2")


def test_undecodable_values(store: EvacuationRequests, attrs: DictAttributes) -> None:
    attrs.values[("comp1", "instanceha-evacuate")] = "yes"  # e.g. NovaEvacuate's evacuate=yes
    with pytest.raises(InvalidRequestValue):
        store.get("comp1")
    assert store.all() == {}
    assert store.claim("comp1", "a") is None
    assert not store.complete("comp1", "a")
    assert store.request("comp1"), "a request replaces garbage"
    assert store.all()["comp1"].state is EvacuationState.REQUESTED


def test_clear(store: EvacuationRequests, clock: FakeClock) -> None:
    store.request("comp1")
    req = store.get("comp1")
    assert req is not None
    assert not store.clear("comp1", only_if=EvacuationRequest.done(clock.time()))
    assert store.clear("comp1", only_if=req)
    assert store.get("comp1") is None
    store.request("comp1")
    assert store.clear("comp1")
    assert store.get("comp1") is None


def test_custom_attribute_name(attrs: DictAttributes, clock: FakeClock) -> None:
    store = EvacuationRequests(attrs, clock=clock, name="my-evac")
    store.request("comp9")
    assert ("comp9", "my-evac") in attrs.values
    with pytest.raises(ValueError):
        EvacuationRequests(attrs, clock=clock, name="bad name")
