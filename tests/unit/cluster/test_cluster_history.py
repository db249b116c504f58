"""Fencing history parsing and queries."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from instanceha.cluster.history import (
    FenceEvent,
    FenceHistory,
    FenceState,
    latest_success,
    parse_fence_history,
    parse_pcmk_time,
    successes_since,
)
from instanceha.cluster.runner import CommandError, OutputError
from unit.cluster.cluster_fakes import FENCE_HISTORY, FakeRunner, pcmk_result

T_SUCCESS = datetime(2026, 11, 20, 22, 41, 34, tzinfo=UTC).timestamp()


def test_parse_history() -> None:
    ok, failed, pending = parse_fence_history(FENCE_HISTORY)
    assert ok == FenceEvent(
        target="comp1",
        action="reboot",
        state=FenceState.SUCCESS,
        completed_at=T_SUCCESS,
        delegate="ctl1",
        origin="ctl1",
        client="pacemaker-controld.14157",
    )
    assert ok.succeeded and ok.node_was_killed
    assert failed.state is FenceState.FAILED and failed.exit_reason == "No route to BMC"
    assert not failed.node_was_killed and failed.completed_at is not None
    assert pending.state is FenceState.PENDING and pending.completed_at is None
    assert pending.delegate is None


def test_parse_empty_history() -> None:
    assert parse_fence_history(pcmk_result('<list name="fencing history" count="0"/>')) == []


def test_newer_fields_are_used_when_present() -> None:
    xml = pcmk_result(
        '<list><fence_event action="off" target="c" status="success" device="fence-c"'
        ' completed="2026-11-20 22:41:34Z" completed-nsec="500000000"/></list>'
    )
    (event,) = parse_fence_history(xml)
    assert event.device == "fence-c"
    assert event.completed_at == pytest.approx(T_SUCCESS + 0.5)


@pytest.mark.parametrize(
    "bad",
    [
        '<fence_event target="c" status="success"/>',
        '<fence_event action="off" target="c" status="exploded"/>',
        '<fence_event action="off" target="c" status="success" completed="yesterday"/>',
    ],
)
def test_malformed_events(bad: str) -> None:
    with pytest.raises(OutputError):
        parse_fence_history(pcmk_result(f"<list>{bad}</list>"))


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-20 22:41:34Z",
        "2026-11-20T22:41:34+00:00",
        "2026-11-20 22:41:34",
        "1795214494",
        "Fri Nov 20 22:41:34 2026",
    ],
)
def test_parse_pcmk_time(text: str) -> None:
    assert parse_pcmk_time(text) == T_SUCCESS


def test_successes_since_and_latest() -> None:
    def ev(
        target: str, t: float | None, action: str = "reboot", state: FenceState = FenceState.SUCCESS
    ) -> FenceEvent:
        return FenceEvent(target, action, state, t)

    events = [
        ev("a", 100.0),
        ev("a", 300.0),
        ev("b", 200.0),
        ev("a", 400.0, action="on"),
        ev("a", 500.0, state=FenceState.FAILED),
        ev("c", None, state=FenceState.PENDING),
        ev("b", 250.0, action="off"),
    ]
    assert [(e.target, e.completed_at) for e in successes_since(events, 199.9)] == [
        ("b", 200.0),
        ("b", 250.0),
        ("a", 300.0),
    ]
    latest = latest_success(events, "a")
    assert latest is not None and latest.completed_at == 300.0
    assert latest_success(events, "c") is None


def test_fence_history_queries() -> None:
    runner = FakeRunner().on("stonith_admin", 0, FENCE_HISTORY)
    history = FenceHistory(runner, timeout=9)
    assert len(history.events()) == 3
    assert runner.calls[-1] == ["stonith_admin", "--history=*", "--verbose", "--output-as=xml"]
    history.events("comp1", broadcast=True)
    assert runner.calls[-1][-1] == "--broadcast" and "--history=comp1" in runner.calls[-1]
    last = history.last_success("comp1")
    assert last is not None and last.completed_at == T_SUCCESS
    assert history.last_success("comp2") is None
    assert set(runner.timeouts) == {9}
    with pytest.raises(ValueError):
        history.events("--cleanup")


def test_fencer_down() -> None:
    xml = pcmk_result("", 102, "Not connected", ["Could not connect to fencer"])
    with pytest.raises(CommandError):
        FenceHistory(FakeRunner().on("stonith_admin", 102, xml)).events()
