"""The journal (intent that survives a crash) and the engine's knobs."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import replace
from typing import cast

import pytest

from fakes.fake_nova import FakeNova
from fakes.memory_cib import MemoryAttributes
from instanceha.evacuation.config import EngineConfig
from instanceha.evacuation.engine import EvacuationEngine
from instanceha.evacuation.journal import Journal, JournalEntry, MemoryJournal
from instanceha.evacuator.cib_journal import CibJournal
from instanceha.nova.model import NovaConflict, NovaPort, NovaUnavailable
from unit.evacuation.evac_support import FAST, SOURCE, Crash, Proxy, build_cloud


def _cib_journal(attributes: MemoryAttributes) -> CibJournal:
    """The evacuator's journal: a permanent attribute of each failed host's node."""
    return CibJournal(attributes, lambda host: f"node-of-{host}")


@pytest.mark.parametrize("kind", ["memory", "cib"])
def test_round_trip_and_clear(kind: str) -> None:
    journal: Journal = MemoryJournal() if kind == "memory" else _cib_journal(MemoryAttributes())
    entries = {"a": JournalEntry("a", "SHUTOFF", 2), "b": JournalEntry("b", None, 0)}
    journal.save("compute1", entries)
    assert journal.load("compute1") == entries
    assert journal.load("compute2") == {}
    journal.clear("compute1")
    assert journal.load("compute1") == {}


def test_the_cib_journal_carries_target_states_across_crashes() -> None:
    """Nova 2.95+ leaves servers SHUTOFF: only the journal knows which ones to start. The
    evacuator's journal (in the CIB) outlives the crashed engine, as on a controller."""
    crashes = 0
    for crash_at in range(1, 500):
        cloud = build_cloud(stop_evacuated=True)
        attributes = MemoryAttributes()  # the CIB: survives the engine
        journal = _cib_journal(attributes)
        try:
            EvacuationEngine(
                cast(NovaPort, Proxy(cloud.nova, crash_at, after=True)),
                clock=cloud.clock,
                config=FAST,
                journal=journal,
            ).run(SOURCE)
        except Crash:
            crashes += 1
        else:
            break  # crash_at is past the last call
        engine = EvacuationEngine(
            cloud.nova, clock=cloud.clock, config=FAST, journal=_cib_journal(attributes)
        )
        assert engine.run(SOURCE).succeeded
        cloud.assert_recovered()
        assert journal.load(SOURCE) == {}  # cleared once complete
    assert crashes > 20


@pytest.mark.parametrize(
    "bad", [{"max_parallel": 0}, {"max_attempts": 0}, {"stagger": -1.0}, {"poll_interval": 0.0}]
)
def test_config_rejects_nonsense(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        EngineConfig(**bad)  # type: ignore[arg-type]


def test_backoff_doubles_up_to_the_cap() -> None:
    cfg = EngineConfig(retry_backoff=5.0, retry_backoff_max=30.0)
    assert [cfg.retry_delay(n) for n in (1, 2, 3, 4, 500)] == [5.0, 10.0, 20.0, 30.0, 30.0]
    assert cfg.outage_delay(1) == cfg.outage_backoff
    assert cfg.workers == max(4, cfg.max_parallel)


# ------------------------------------------- how often the journal is written


class CountingJournal(MemoryJournal):
    """A MemoryJournal that keeps every save (the evacuator's is a CIB write each)."""

    def __init__(self) -> None:
        super().__init__()
        self.saves: list[dict[str, JournalEntry]] = []

    def save(self, host: str, entries: Mapping[str, JournalEntry]) -> None:
        self.saves.append(dict(entries))
        super().save(host, entries)


class CallChecker:
    """Nova in front of which every evacuate call checks that the journal already counts it
    (a call that dies in an outage is not an attempt, as for the tracker)."""

    def __init__(self, nova: FakeNova, journal: CountingJournal) -> None:
        self._nova = nova
        self._journal = journal
        self.calls: Counter[str] = Counter()  # that reached Nova (accepted or refused)
        self.uncounted: list[str] = []

    def __getattr__(self, name: str) -> object:
        return getattr(self._nova, name)

    def evacuate(self, server_id: str, host: str | None = None) -> None:
        entry = self._journal.load(SOURCE).get(server_id)
        if entry is None or entry.attempts < self.calls[server_id] + 1:
            self.uncounted.append(server_id)
        try:
            self._nova.evacuate(server_id, host)
        except NovaUnavailable:
            raise
        except NovaConflict:
            self.calls[server_id] += 1
            raise
        self.calls[server_id] += 1


def test_the_journal_is_written_per_cycle_not_per_evacuate_call() -> None:
    """One cycle sends every evacuation: the journal is written after discovery, once before
    that cycle's calls and cleared at the end, however many servers there are."""
    cloud = build_cloud(active=12, shutoff=4, error=0)
    journal = CountingJournal()
    nova = CallChecker(cloud.nova, journal)
    report = EvacuationEngine(cast(NovaPort, nova), clock=cloud.clock,
                              config=replace(FAST, max_parallel=16), journal=journal).run(SOURCE)
    assert report.succeeded
    cloud.assert_recovered()
    assert sum(nova.calls.values()) == 16
    assert len(journal.saves) <= 3 < sum(nova.calls.values())
    assert {e.target_state for e in journal.saves[0].values()} == {"ACTIVE", "SHUTOFF"}
    assert nova.uncounted == []
    assert journal.load(SOURCE) == {}


def test_every_evacuate_call_is_counted_before_it_is_made_retries_and_outages_too() -> None:
    cloud = build_cloud(active=4, shutoff=2, error=0)
    sids = list(cloud.expected)
    cloud.nova.fail_evacuation(sids[0])  # a failed migration: a second attempt
    cloud.nova.fail_next(1, NovaConflict, methods=["evacuate"])  # a refused call: one more
    cloud.nova.fail_next(1, NovaUnavailable, methods=["evacuate"])  # maybe sent: not counted
    journal = CountingJournal()
    nova = CallChecker(cloud.nova, journal)
    report = EvacuationEngine(cast(NovaPort, nova), clock=cloud.clock,
                              config=replace(FAST, max_parallel=2), journal=journal).run(SOURCE)
    assert report.succeeded
    assert nova.uncounted == []
    assert sum(nova.calls.values()) > len(sids)  # retries happened


def test_an_unfinished_run_leaves_the_attempts_it_spent() -> None:
    """Stopped at the deadline: the journal holds exactly each server's attempts, so the
    retry cap holds for the run that resumes."""
    cloud = build_cloud(active=3, shutoff=1, error=0)
    sids = list(cloud.expected)
    for _ in range(2):
        cloud.nova.fail_evacuation(sids[0])
    journal = CountingJournal()
    report = EvacuationEngine(cloud.nova, clock=cloud.clock,
                              config=replace(FAST, max_parallel=1, deadline=12.0),
                              journal=journal).run(SOURCE)
    assert not report.complete
    spent = {o.server_id: o.attempts for o in report.outcomes if o.server_id in cloud.expected}
    kept = journal.load(SOURCE)
    assert {sid: kept[sid].attempts for sid in spent} == spent
    assert kept[sids[0]].attempts > 1
