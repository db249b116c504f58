"""What the engine must remember across a crash that Nova cannot tell it.

Whether a server was evacuated is always read back from Nova (its host and
its migration records); the journal only keeps the *intent*: the state each
server must end in (a SHUTOFF server is briefly ACTIVE after some
evacuations, so its original state is not recoverable from Nova) and how many
attempts were spent, so the retry cap survives restarts.

The evacuator keeps it in the CIB (:class:`instanceha.evacuator.cib_journal.CibJournal`, a
permanent attribute of the failed node) so that any controller can resume; the engine alone
(tests, benches) uses :class:`MemoryJournal`.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

__all__ = ["Journal", "JournalEntry", "MemoryJournal"]


@dataclass(frozen=True)
class JournalEntry:
    """The remembered intent for one server."""

    server_id: str
    target_state: str | None
    attempts: int = 0


class Journal(Protocol):
    """Per-host storage of :class:`JournalEntry` values."""

    def load(self, host: str) -> dict[str, JournalEntry]:
        """Entries of ``host`` by server id (empty when none)."""
        ...

    def save(self, host: str, entries: Mapping[str, JournalEntry]) -> None:
        """Replace the entries of ``host``."""
        ...

    def clear(self, host: str) -> None:
        """Forget ``host`` (its evacuation is complete)."""
        ...


class MemoryJournal:
    """A journal in memory: survives an engine object, not the process."""

    def __init__(self) -> None:
        self._hosts: dict[str, dict[str, JournalEntry]] = {}
        self._lock = threading.Lock()

    def load(self, host: str) -> dict[str, JournalEntry]:
        with self._lock:
            return dict(self._hosts.get(host, {}))

    def save(self, host: str, entries: Mapping[str, JournalEntry]) -> None:
        with self._lock:
            self._hosts[host] = dict(entries)

    def clear(self, host: str) -> None:
        with self._lock:
            self._hosts.pop(host, None)
