"""The mass-failure guard's decision, on request values alone."""

from __future__ import annotations

from instanceha.cluster.evacuation import EvacuationRequest, EvacuationState
from instanceha.evacuator.guard import GuardConfig, evaluate

NOW = 1_800_000_000


def req(state: EvacuationState, ago: int, owner: str | None = None) -> EvacuationRequest:
    return EvacuationRequest(state, NOW - ago, owner)


REQUESTED, IN_PROGRESS, DONE = (
    EvacuationState.REQUESTED, EvacuationState.IN_PROGRESS, EvacuationState.DONE)


def test_one_failure_under_the_limit_is_not_held() -> None:
    verdict = evaluate(GuardConfig(max_hosts=1), {"c1": req(REQUESTED, 5)}, {}, 10, NOW)
    assert not verdict.tripped and not verdict.held


def test_a_host_evacuated_quickly_still_counts_within_the_window() -> None:
    # the first host was already evacuated when the second asked: still two failures
    requests = {"c1": req(DONE, 30), "c2": req(REQUESTED, 2)}
    verdict = evaluate(GuardConfig(max_hosts=1, window=600), requests, {}, 10, NOW)
    assert verdict.tripped and verdict.held == {"c2"}
    assert "2 of 10 compute hosts failed within 600s" in verdict.reason


def test_failures_outside_the_window_do_not_count() -> None:
    requests = {"c1": req(DONE, 3600), "c2": req(REQUESTED, 2)}
    assert not evaluate(GuardConfig(max_hosts=1, window=600), requests, {}, 10, NOW).tripped


def test_started_evacuations_go_on_and_released_nodes_are_not_held_again() -> None:
    requests = {"c1": req(IN_PROGRESS, 3, "ctl1"), "c2": req(REQUESTED, 2),
                "c3": req(REQUESTED, 1)}
    holds = {"c3": f"released:{NOW}"}
    verdict = evaluate(GuardConfig(max_share=0.2), requests, holds, 10, NOW)
    assert verdict.tripped and verdict.held == {"c2"}
