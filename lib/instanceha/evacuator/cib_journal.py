"""The engine's journal kept in the CIB, on the failed node, so any controller can resume.

A controller taking over an evacuation from a dead one must know which servers
were SHUTOFF before they were evacuated; a local file would die with the first
controller. The journal is a compact JSON permanent node attribute
(:data:`JOURNAL_ATTRIBUTE`) on the failed node, keyed by Nova host name.

Why permanent, and how often it is written: its target states must survive a
controller failover and a full cluster restart, and a transient attribute of the
failed node would be purged when the node comes back online, possibly in the
middle of the evacuation. A permanent attribute is a configuration change that
every cluster node writes to disk, so the engine writes it seldom (see
:mod:`instanceha.evacuation.engine`): once with every target state after
discovery, at most twice per poll cycle that makes evacuate calls (the attempt
counts, batched), and a delete when the evacuation is complete. Each save
replaces the whole value (one CIB update); a value equal to the stored one
changes nothing in the CIB.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping

from instanceha.cluster.attribute_names import JOURNAL_ATTRIBUTE
from instanceha.cluster.attributes import NodeAttributes
from instanceha.evacuation.journal import JournalEntry

__all__ = ["CibJournal"]


class CibJournal:
    """:class:`~instanceha.evacuation.journal.Journal` over a permanent node attribute."""

    def __init__(self, attributes: NodeAttributes, node_of: Callable[[str], str], *,
                 before_write: Callable[[], None] | None = None) -> None:
        self._attrs = attributes
        self._node_of = node_of  # Nova host -> Pacemaker node
        # raises to stop the engine before it records (and then makes) more calls
        self._before_write = before_write or (lambda: None)

    def load(self, host: str) -> dict[str, JournalEntry]:
        raw = self._attrs.get(self._node_of(host), JOURNAL_ATTRIBUTE)
        if not raw:
            return {}
        try:
            data = json.loads(raw)
        except ValueError:
            return {}
        return {
            sid: JournalEntry(sid, entry[0] or None, int(entry[1]))
            for sid, entry in data.items()
            if isinstance(entry, list) and len(entry) == 2
        }

    def save(self, host: str, entries: Mapping[str, JournalEntry]) -> None:
        self._before_write()
        data = {sid: [e.target_state or "", e.attempts] for sid, e in sorted(entries.items())}
        self._attrs.set(self._node_of(host), JOURNAL_ATTRIBUTE,
                        json.dumps(data, separators=(",", ":")))

    def clear(self, host: str) -> None:
        self._attrs.delete(self._node_of(host), JOURNAL_ATTRIBUTE)
