"""The evacuation engine against FakeNova and a fake clock."""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from typing import cast

import pytest

from instanceha.evacuation.engine import EvacuationEngine
from instanceha.evacuation.journal import MemoryJournal
from instanceha.evacuation.outcome import HostProgress, HostReport, OutcomeKind
from instanceha.evacuation.policy import PolicyConfig
from instanceha.nova.model import (
    OUR_DISABLED_REASON_PREFIX,
    Migration,
    NovaAuthError,
    NovaPort,
    NovaTimeout,
    NovaUnavailable,
)
from unit.evacuation.evac_support import (
    FAST,
    PROTECTED,
    SOURCE,
    Cloud,
    Crash,
    Proxy,
    build_cloud,
    in_flight,
)


@pytest.fixture
def cloud() -> Cloud:
    return build_cloud()


def run(cloud: Cloud, nova: NovaPort | Proxy | None = None, **kw: object) -> HostReport:
    engine = EvacuationEngine(
        cast(NovaPort, nova or cloud.nova),
        clock=cloud.clock,
        config=kw.pop("config", FAST),  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )
    return engine.run(SOURCE)


def kinds(report: HostReport) -> dict[str, OutcomeKind]:
    return {o.server_id: o.kind for o in report.outcomes}


# ---------------------------------------------------------------- happy path


def test_happy_path_every_protected_server_recovered_once(cloud: Cloud) -> None:
    progress: list[HostProgress] = []
    report = run(cloud, on_progress=progress.append)

    cloud.assert_recovered()
    assert report.complete and report.succeeded
    assert set(cloud.evacuate_calls().values()) == {1}
    by_id = {o.server_id: o for o in report.outcomes}
    for sid, status in cloud.expected.items():
        outcome = by_id[sid]
        assert outcome.kind is OutcomeKind.EVACUATED
        assert outcome.destination == cloud.nova.get_server(sid).host
        assert outcome.final_state == status
        assert outcome.duration is not None and outcome.duration > 0
    for sid in cloud.unprotected:
        assert by_id[sid].kind is OutcomeKind.SKIPPED
        assert "not protected" in by_id[sid].reason
    assert progress[-1] == HostProgress(SOURCE, 8, 6, 0, 2, 0, 0)
    assert [p.evacuated for p in progress] == sorted(p.evacuated for p in progress)


def test_host_forced_down_and_disabled_with_our_reason(cloud: Cloud) -> None:
    run(cloud)
    (svc,) = cloud.nova.list_compute_services(SOURCE)
    assert svc.forced_down and svc.status == "disabled" and svc.disabled_by_us
    assert svc.disabled_reason is not None
    assert svc.disabled_reason.startswith(OUR_DISABLED_REASON_PREFIX)


def test_operator_disable_is_kept(cloud: Cloud) -> None:
    cloud.nova.disable(SOURCE, "maintenance: disk swap")
    run(cloud)
    (svc,) = cloud.nova.list_compute_services(SOURCE)
    assert svc.disabled_reason == "maintenance: disk swap"
    cloud.assert_recovered()


def test_shutoff_stays_shutoff_and_error_is_recovered(cloud: Cloud) -> None:
    report = run(cloud)
    finals = {o.name: o.final_state for o in report.outcomes if o.kind is OutcomeKind.EVACUATED}
    assert finals["shutoff-0"] == finals["shutoff-1"] == "SHUTOFF"
    assert finals["error-0"] == finals["active-0"] == "ACTIVE"


def test_power_fixup_when_nova_leaves_servers_stopped() -> None:
    cloud = build_cloud(stop_evacuated=True)  # Nova 2.95+: every evacuated server SHUTOFF
    report = run(cloud)
    cloud.assert_recovered()
    assert report.succeeded
    started = [
        cloud.nova.get_server(str(a[0])).name for n, a in cloud.nova.calls if n == "start_server"
    ]
    assert sorted(started) == ["active-0", "active-1", "active-2"]  # ERROR ones come back running


def test_report_text_and_json(cloud: Cloud) -> None:
    report = run(cloud)
    assert report.summary().startswith(f"{SOURCE}: 6 evacuated, 2 skipped, 0 failed, 0 pending")
    data = json.loads(report.to_json())
    assert data["complete"] is True
    assert data["counts"] == {"evacuated": 6, "skipped": 2, "failed": 0, "pending": 0}
    assert {o["server_id"] for o in data["outcomes"]} == set(cloud.expected) | set(
        cloud.unprotected
    )


# ------------------------------------------------------------- concurrency


def test_concurrency_bound_respected_and_used() -> None:
    cloud = build_cloud(active=20, shutoff=10, error=0, untagged=0)
    peak = 0

    def observe(name: str) -> None:
        nonlocal peak
        if name == "evacuate":
            peak = max(peak, in_flight(cloud.nova.list_evacuations(SOURCE)))

    report = run(cloud, Proxy(cloud.nova, observe=observe), config=replace(FAST, max_parallel=3))
    cloud.assert_recovered()
    assert report.succeeded
    assert peak == 3


@pytest.mark.parametrize("submit_parallel", [1, 3])
def test_evacuate_calls_outstanding_at_once_are_bounded(submit_parallel: int) -> None:
    cloud = build_cloud(active=12, shutoff=0, error=0, untagged=0)
    changed = threading.Condition()
    active = peak = calls = 0

    class Overlapping:
        """The first ``submit_parallel`` calls (each chain's first) hold until all of them are
        in flight: a bounded wait on the others, never a sleep."""

        def __getattr__(self, name: str) -> object:
            return getattr(cloud.nova, name)

        def evacuate(self, server_id: str, target_host: str | None = None) -> None:
            nonlocal active, peak, calls
            with changed:
                active, calls = active + 1, calls + 1
                peak = max(peak, active)
                changed.notify_all()
                if calls <= submit_parallel:
                    changed.wait_for(lambda: calls >= submit_parallel, timeout=10)
            try:
                cloud.nova.evacuate(server_id, target_host)
            finally:
                with changed:
                    active -= 1

    config = replace(FAST, max_parallel=12, submit_parallel=submit_parallel)
    report = run(cloud, cast(NovaPort, Overlapping()), config=config)
    assert report.succeeded
    assert peak == submit_parallel  # reached (the calls overlap) and never exceeded


def test_stagger_spaces_evacuate_calls() -> None:
    cloud = build_cloud(active=4, shutoff=0, error=0, untagged=0)
    stamps: list[float] = []

    def observe(name: str) -> None:
        if name == "evacuate":
            stamps.append(cloud.clock.monotonic())

    run(cloud, Proxy(cloud.nova, observe=observe), config=replace(FAST, stagger=3.0))
    cloud.assert_recovered()
    assert all(b - a >= 3.0 for a, b in zip(stamps, stamps[1:], strict=False))


def test_priority_order_of_submission() -> None:
    cloud = build_cloud(active=0, shutoff=0, error=0, untagged=0)
    ids = {
        name: cloud.nova.add_server(
            SOURCE, name=name, metadata={**PROTECTED, "instanceha:priority": prio}
        ).id
        for name, prio in (("low", "1"), ("high", "9"), ("mid", "5"))
    }
    run(cloud, config=replace(FAST, max_parallel=1))
    order = [args[0] for name, args in cloud.nova.calls if name == "evacuate"]
    assert order == [ids["high"], ids["mid"], ids["low"]]


def test_reserved_hosts_are_targets() -> None:
    cloud = build_cloud()
    report = run(cloud, policy=PolicyConfig(reserved_hosts=("compute3",)))
    assert report.succeeded
    assert {cloud.nova.get_server(sid).host for sid in cloud.expected} == {"compute3"}


# ----------------------------------------------------------------- retries


def test_failed_evacuation_is_retried_after_backoff(cloud: Cloud) -> None:
    victim = next(iter(cloud.expected))
    cloud.nova.fail_evacuation(victim, "error")
    stamps: list[float] = []

    def observe(name: str) -> None:
        if name == "evacuate":
            stamps.append(cloud.clock.monotonic())

    report = run(cloud, Proxy(cloud.nova, observe=observe))
    assert report.succeeded
    assert cloud.evacuate_calls()[victim] == 2
    outcome = next(o for o in report.outcomes if o.server_id == victim)
    assert outcome.attempts == 2 and outcome.final_state == cloud.expected[victim]
    calls = [a[0] for n, a in cloud.nova.calls if n == "evacuate"]
    first, second = (i for i, sid in enumerate(calls) if sid == victim)
    assert stamps[second] - stamps[first] >= FAST.retry_backoff


def test_retried_shutoff_server_still_ends_shutoff() -> None:
    cloud = build_cloud(active=0, shutoff=1, error=0, untagged=0)
    (victim,) = cloud.expected
    cloud.nova.fail_evacuation(victim, "failed")  # leaves it ERROR on the source
    report = run(cloud)
    assert report.succeeded
    assert cloud.nova.get_server(victim).status == "SHUTOFF"


def test_gives_up_after_the_attempt_cap(cloud: Cloud) -> None:
    victim = next(iter(cloud.expected))
    for _ in range(5):
        cloud.nova.fail_evacuation(victim, "error")
    report = run(cloud, config=replace(FAST, max_attempts=3))
    outcome = next(o for o in report.outcomes if o.server_id == victim)
    assert outcome.kind is OutcomeKind.FAILED
    assert "gave up after 3 attempts" in outcome.reason
    assert cloud.evacuate_calls()[victim] == 3
    assert report.complete and not report.succeeded
    others = {k: v for k, v in kinds(report).items() if k in cloud.expected and k != victim}
    assert set(others.values()) == {OutcomeKind.EVACUATED}


def test_no_valid_host_fails_with_reason() -> None:
    cloud = build_cloud(active=1, shutoff=0, error=0, untagged=0)
    for host in ("compute2", "compute3"):
        cloud.nova.disable(host, "full")
    report = run(cloud, config=replace(FAST, max_attempts=2))
    (outcome,) = report.outcomes
    assert outcome.kind is OutcomeKind.FAILED and "ended error" in outcome.reason


def test_deleted_server_is_skipped(cloud: Cloud) -> None:
    victim = next(iter(cloud.expected))
    fake = cloud.nova

    def observe(name: str) -> None:
        if name == "evacuate" and fake.get_server(victim).task_state == "rebuilding":
            fake.delete_server(victim)

    report = run(cloud, Proxy(fake, observe=observe), config=replace(FAST, max_parallel=1))
    outcome = next(o for o in report.outcomes if o.server_id == victim)
    assert outcome.kind is OutcomeKind.SKIPPED and "deleted" in outcome.reason
    assert report.complete


# ------------------------------------------------------------------ outages


@pytest.mark.parametrize("error", [NovaUnavailable, NovaTimeout])
@pytest.mark.parametrize("after_calls", [3, 12, 25])
def test_outage_in_the_middle_delays_but_recovers_all(
    error: type[NovaUnavailable], after_calls: int
) -> None:
    cloud = build_cloud()
    fake = cloud.nova
    seen = 0

    def observe(name: str) -> None:
        nonlocal seen
        seen += 1
        if seen == after_calls:
            fake.fail_next(40, error)  # every call fails for a while

    report = run(cloud, Proxy(fake, observe=observe))
    cloud.assert_recovered()
    assert report.succeeded
    assert all(o.attempts <= 1 for o in report.outcomes)


def test_evacuate_calls_lost_in_an_outage_are_resent_once(cloud: Cloud) -> None:
    cloud.nova.fail_next(2, NovaTimeout, methods=["evacuate"])
    report = run(cloud)
    cloud.assert_recovered()
    assert report.succeeded


def test_outage_past_the_deadline_leaves_work_pending_then_resumes(cloud: Cloud) -> None:
    journal = MemoryJournal()
    proxy = Proxy(cloud.nova)
    seen = 0

    def observe(name: str) -> None:
        nonlocal seen
        seen += 1
        if seen == 15:
            proxy.outage(cloud.clock, 10_000.0)

    proxy = Proxy(cloud.nova, observe=observe)
    report = run(cloud, proxy, config=replace(FAST, deadline=60.0), journal=journal)
    assert not report.complete and report.error is None
    assert report.count(OutcomeKind.FAILED) == 0
    pending = [o for o in report.outcomes if o.kind is OutcomeKind.PENDING]
    assert pending and all("Nova unavailable" in o.reason for o in pending)

    second = run(cloud, journal=journal)  # the outage is over
    cloud.assert_recovered()
    assert second.succeeded
    assert {o.server_id for o in second.outcomes} == set(cloud.expected) | set(cloud.unprotected)


def test_long_timed_outage_only_delays(cloud: Cloud) -> None:
    seen = 0

    def observe(name: str) -> None:
        nonlocal seen
        seen += 1
        if seen == 20:
            proxy.outage(cloud.clock, 300.0, NovaTimeout)

    proxy = Proxy(cloud.nova, observe=observe)
    report = run(cloud, proxy)
    cloud.assert_recovered()
    assert report.succeeded and proxy.failed > 0


def test_auth_error_stops_the_run_loudly(cloud: Cloud) -> None:
    seen = 0

    def observe(name: str) -> None:
        nonlocal seen
        seen += 1
        if seen == 10:
            cloud.nova.fail_next(1, NovaAuthError)

    report = run(cloud, Proxy(cloud.nova, observe=observe))
    assert report.error is not None and "credentials" in report.error
    assert not report.complete
    assert report.count(OutcomeKind.FAILED) == 0
    assert run(cloud).succeeded  # credentials fixed: the next run finishes the job
    cloud.assert_recovered()


def test_unknown_host_is_a_host_error() -> None:
    cloud = build_cloud()
    report = EvacuationEngine(cloud.nova, clock=cloud.clock, config=FAST).run("nohost")
    assert report.error is not None and not report.complete


# ---------------------------------------------------- exactly once, resume


def _clean_call_count() -> int:
    cloud = build_cloud()
    proxy = Proxy(cloud.nova)
    run(cloud, proxy)
    return proxy.count


@pytest.mark.parametrize("after", [False, True], ids=["before-call", "after-call"])
@pytest.mark.parametrize("stop_evacuated", [False, True], ids=["pre-2.95", "2.95"])
def test_crash_at_any_point_then_restart_no_duplicates(after: bool, stop_evacuated: bool) -> None:
    total = _clean_call_count()
    for crash_at in range(1, total + 1):
        cloud = build_cloud(stop_evacuated=stop_evacuated)
        journal = MemoryJournal()
        with pytest.raises(Crash):
            run(cloud, Proxy(cloud.nova, crash_at, after=after), journal=journal)
        cloud.clock.advance(3.0)  # the agent restarts a little later
        report = run(cloud, journal=journal)
        assert report.succeeded, (crash_at, report.summary())
        cloud.assert_recovered()


def test_restart_without_journal_still_never_duplicates() -> None:
    total = _clean_call_count()
    for crash_at in range(1, total + 1, 3):
        cloud = build_cloud()
        with pytest.raises(Crash):
            run(cloud, Proxy(cloud.nova, crash_at, after=True))
        report = run(cloud)  # fresh memory: everything is read back from Nova
        assert report.complete
        assert set(cloud.evacuations().values()) == {1}
        cloud.assert_recovered()


def test_already_evacuated_servers_are_not_evacuated_again(cloud: Cloud) -> None:
    done = list(cloud.expected)[:2]
    cloud.nova.force_down(SOURCE)
    for sid in done:
        cloud.nova.evacuate(sid)
    cloud.nova.settle()
    report = run(cloud)
    cloud.assert_recovered()
    assert all(cloud.evacuate_calls()[sid] == 1 for sid in done)
    assert {kinds(report)[sid] for sid in done} == {OutcomeKind.EVACUATED}


def test_evacuation_in_flight_is_adopted_not_repeated(cloud: Cloud) -> None:
    running = list(cloud.expected)[:3]
    cloud.nova.force_down(SOURCE)
    for sid in running:
        cloud.nova.evacuate(sid)
    cloud.nova.advance()  # accepted -> pre-migrating, still on the source
    report = run(cloud)
    cloud.assert_recovered()
    assert report.succeeded
    assert set(cloud.evacuate_calls().values()) == {1}


def test_second_run_after_success_does_nothing(cloud: Cloud) -> None:
    run(cloud)
    before = len(cloud.nova.calls)
    report = run(cloud)
    assert report.complete
    evacuates = [n for n, _ in cloud.nova.calls[before:] if n in ("evacuate", "stop_server")]
    assert evacuates == []
    cloud.assert_recovered()


def test_server_evacuated_by_someone_else_after_discovery_is_not_touched(cloud: Cloud) -> None:
    other = next(iter(cloud.expected))
    fake = cloud.nova

    def observe(name: str) -> None:
        if name == "list_servers_on_host" and not fake.list_evacuations(SOURCE):
            fake.evacuate(other)  # an operator, right after our listing
            fake.settle()

    report = run(cloud, Proxy(fake, observe=observe))
    cloud.assert_recovered()
    assert report.succeeded
    assert cloud.evacuate_calls()[other] == 1  # the operator's call only


def test_migration_stuck_in_flight_fails_after_the_timeout_without_a_retry(cloud: Cloud) -> None:
    stuck = next(iter(cloud.expected))
    fake = cloud.nova

    class Stuck:
        def __getattr__(self, name: str) -> object:
            return getattr(fake, name)

        def list_evacuations(self, source_host: str) -> list[Migration]:
            return [
                replace(m, status="accepted") if m.instance_uuid == stuck else m
                for m in fake.list_evacuations(source_host)
            ]

    report = run(cloud, cast(NovaPort, Stuck()), config=replace(FAST, instance_timeout=30.0))
    outcome = next(o for o in report.outcomes if o.server_id == stuck)
    assert outcome.kind is OutcomeKind.FAILED
    assert "still accepted" in outcome.reason and "not retried" in outcome.reason
    assert cloud.evacuate_calls()[stuck] == 1
    assert report.complete and not report.succeeded
