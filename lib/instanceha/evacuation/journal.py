"""What the engine must remember across a crash that Nova cannot tell it.

Whether a server was evacuated is always read back from Nova (its host and
its migration records); the journal only keeps the *intent*: the state each
server must end in (a SHUTOFF server is briefly ACTIVE after some
evacuations, so its original state is not recoverable from Nova) and how many
attempts were spent, so the retry cap survives restarts.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

__all__ = ["FileJournal", "Journal", "JournalEntry", "MemoryJournal"]


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


class FileJournal:
    """One JSON file per host in ``directory``, written atomically with mode 0600."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self._dir = Path(directory)
        self._lock = threading.Lock()

    def _path(self, host: str) -> Path:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in host)
        return self._dir / f"evacuation-{safe}.json"

    def load(self, host: str) -> dict[str, JournalEntry]:
        with self._lock:
            try:
                raw = json.loads(self._path(host).read_text(encoding="utf-8"))
            except FileNotFoundError:
                return {}
        return {
            sid: JournalEntry(sid, e.get("target_state"), int(e.get("attempts", 0)))
            for sid, e in raw.get("servers", {}).items()
        }

    def save(self, host: str, entries: Mapping[str, JournalEntry]) -> None:
        data = {
            "host": host,
            "servers": {
                sid: {"target_state": e.target_state, "attempts": e.attempts}
                for sid, e in entries.items()
            },
        }
        with self._lock:
            self._dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self._dir, prefix=".journal-")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as out:  # mkstemp: mode 0600
                    json.dump(data, out, sort_keys=True)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(tmp, self._path(host))
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise

    def clear(self, host: str) -> None:
        with self._lock:
            self._path(host).unlink(missing_ok=True)
