"""The mass-failure guard's decision, on request values alone."""

from __future__ import annotations

from instanceha.cluster.evacuation import EvacuationRequest, EvacuationState
from instanceha.evacuator.guard import GuardConfig, evaluate, failure_times

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


def test_a_release_applies_only_to_the_failure_it_was_given_for() -> None:
    """Released an hour ago, failing again now with two others: held again."""
    requests = {"c1": req(REQUESTED, 3), "c2": req(REQUESTED, 2), "c3": req(REQUESTED, 1)}
    holds = {"c3": f"released:{NOW - 3600}"}
    verdict = evaluate(GuardConfig(max_hosts=2), requests, holds, 10, NOW)
    assert verdict.tripped and verdict.held == {"c1", "c2", "c3"}


def test_a_release_given_before_the_failure_does_not_exempt_it() -> None:
    requests = {"c1": req(REQUESTED, 3), "c2": req(REQUESTED, 2)}
    holds = {"c2": f"released:{NOW - 60}"}  # released in advance, failed a minute later
    verdict = evaluate(GuardConfig(max_hosts=1), requests, holds, 10, NOW)
    assert verdict.held == {"c1", "c2"}


def test_a_hold_from_an_earlier_failure_does_not_hold_a_new_one() -> None:
    requests = {"c1": req(REQUESTED, 2)}
    holds = {"c1": f"held:{NOW - 7200}"}  # the request of that failure was cleared by hand
    assert not evaluate(GuardConfig(max_hosts=1), requests, holds, 10, NOW).tripped


def test_failures_count_from_when_they_happened_not_from_claim_renewals() -> None:
    """A long evacuation's claim is renewed every pass: it still failed two hours ago."""
    requests = {"c1": req(IN_PROGRESS, 3, "ctl1"), "c2": req(REQUESTED, 2)}
    failed_at = {"c1": NOW - 7200, "c2": NOW - 2}
    verdict = evaluate(GuardConfig(max_hosts=1), requests, {}, 10, NOW, failed_at=failed_at)
    assert not verdict.tripped
    assert evaluate(GuardConfig(max_hosts=1), requests, {}, 10, NOW,
                    failed_at={"c2": NOW - 2}).held == {"c2"}  # unknown: the request's time


def test_the_failure_time_is_recorded_once_and_outlives_renewals_and_the_history() -> None:
    # first sight of a request: its time, or the fencing that caused it when earlier
    times, writes = failure_times({"c1": req(REQUESTED, 5), "c2": req(REQUESTED, 5)}, {},
                                  {"c2": [NOW - 40]}, lookback=3600)
    assert times == {"c1": NOW - 5, "c2": NOW - 40}
    assert writes == {"c1": str(NOW - 5), "c2": str(NOW - 40)}
    # renewed since, history lost (full cluster restart): the record holds
    times, writes = failure_times({"c2": req(IN_PROGRESS, 1, "ctl1")}, {"c2": str(NOW - 40)},
                                  {}, lookback=3600)
    assert (times, writes) == ({"c2": NOW - 40}, {})
    # done: the record is closed with the completion, and the done request keeps its time
    done = req(DONE, 30)
    times, writes = failure_times({"c2": done}, {"c2": str(NOW - 40)}, {}, lookback=3600)
    assert (times, writes) == ({"c2": NOW - 40}, {"c2": f"{NOW - 40}:done:{NOW - 30}"})
    closed = writes["c2"]
    assert failure_times({"c2": done}, {"c2": closed}, {}, lookback=3600) == (
        {"c2": NOW - 40}, {})
    # the next failure is a new one: fencings before the last completion are not it
    times, writes = failure_times({"c2": req(REQUESTED, 3)}, {"c2": closed},
                                  {"c2": [NOW - 40, NOW - 10]}, lookback=3600)
    assert (times, writes) == ({"c2": NOW - 10}, {"c2": str(NOW - 10)})
    # without a record, only fencings within the lookback are taken for this failure
    assert failure_times({"c3": req(REQUESTED, 3)}, {}, {"c3": [NOW - 7200]},
                         lookback=3600)[0] == {"c3": NOW - 3}
    # a request deleted by hand ends its incident: an open record goes with it
    assert failure_times({}, {"c4": str(NOW - 40), "c5": closed}, {}, lookback=3600) == (
        {}, {"c4": None})
