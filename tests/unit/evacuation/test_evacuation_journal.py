"""The journal (intent that survives a crash) and the engine's knobs."""

from __future__ import annotations

from typing import cast

import pytest

from fakes.memory_cib import MemoryAttributes
from instanceha.evacuation.config import EngineConfig
from instanceha.evacuation.engine import EvacuationEngine
from instanceha.evacuation.journal import Journal, JournalEntry, MemoryJournal
from instanceha.evacuator.cib_journal import CibJournal
from instanceha.nova.model import NovaPort
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
