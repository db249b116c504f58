"""The durable per-node evacuation request, kept as a permanent node attribute.

Protocol (attribute :data:`EVACUATE_ATTRIBUTE` on the failed compute node)::

    (absent) | done:<t> --request()--> requested:<t>
    requested:<t>       --claim(owner)--> in-progress:<owner>:<t>
    in-progress:<o>:<t> --renew(o)-----> in-progress:<o>:<now>     (heartbeat)
    in-progress:<o>:<t> --complete(o)--> done:<now>
    in-progress:<o>:<t> --release(o)---> requested:<now>           (give it back)
    in-progress:<o>:<t> --claim(p, stale_after=s), now - t >= s --> in-progress:<p>:<now>

``<t>`` is the UNIX time (integer seconds) of the transition; ``owner`` is a
node name (no ``:``). Every transition is a compare-and-set on the exact
previous value (:meth:`NodeAttributes.compare_and_set`), so two agents racing
for one request cannot both win. Being permanent, a request survives a full
cluster restart and the death of whoever was handling it; staleness of an
``in-progress`` claim is judged from ``<t>`` by the claimant's clock, so
``stale_after`` must exceed the heartbeat period plus the clock skew between
nodes.

:func:`record_fenced` is what happens after a compute node is fenced, shared by fence_nova
and the post-fence alert: it ends the node's fencing hold (:mod:`instanceha.fence.hold`) and
writes the request; the evacuator does the rest. A request already pending is left as it is,
so the two paths, or a repeated fencing, never start a second evacuation.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from instanceha.clock import Clock, SystemClock
from instanceha.cluster.attribute_names import EVACUATE_ATTRIBUTE, FENCING_HOLD_ATTRIBUTE
from instanceha.cluster.attributes import NodeAttributes, validate_name

__all__ = [
    "AttributeStore",
    "EvacuationRequest",
    "EvacuationRequests",
    "EvacuationState",
    "InvalidRequestValue",
    "is_pending",
    "record_fenced",
]

_LOG = logging.getLogger("instanceha")


_OWNER = re.compile(r"^[A-Za-z0-9_.@-]+$")
_EPOCH = re.compile(r"^[0-9]{1,12}$")


class AttributeStore(Protocol):
    """What the request store needs of :class:`NodeAttributes` (a seam for unit tests)."""

    def get(self, node: str, name: str) -> str | None: ...

    def get_all(self, name: str) -> dict[str, str]: ...

    def delete(self, node: str, name: str) -> None: ...

    def compare_and_set(
        self, node: str, name: str, expected: str | None, new: str | None
    ) -> bool: ...


class InvalidRequestValue(ValueError):
    """An attribute value that is not an encoded :class:`EvacuationRequest`."""


class EvacuationState(Enum):
    """Where a node's evacuation stands."""

    REQUESTED = "requested"
    IN_PROGRESS = "in-progress"
    DONE = "done"


@dataclass(frozen=True)
class EvacuationRequest:
    """One decoded request value: ``state``, transition time and owner."""

    state: EvacuationState
    since: int
    owner: str | None = None

    def __post_init__(self) -> None:
        if self.since < 0:
            raise InvalidRequestValue(f"negative time {self.since}")
        if (self.state is EvacuationState.IN_PROGRESS) != (self.owner is not None):
            raise InvalidRequestValue("an owner goes with in-progress, and only with it")
        if self.owner is not None and not _OWNER.match(self.owner):
            raise InvalidRequestValue(f"invalid owner {self.owner!r}")

    @classmethod
    def requested(cls, at: float) -> EvacuationRequest:
        """A request made at ``at``."""
        return cls(EvacuationState.REQUESTED, int(at))

    @classmethod
    def in_progress(cls, owner: str, at: float) -> EvacuationRequest:
        """A request claimed by ``owner`` at ``at``."""
        return cls(EvacuationState.IN_PROGRESS, int(at), owner)

    @classmethod
    def done(cls, at: float) -> EvacuationRequest:
        """A request completed at ``at``."""
        return cls(EvacuationState.DONE, int(at))

    def encode(self) -> str:
        """The attribute value: ``requested:<t>``, ``in-progress:<owner>:<t>``, ``done:<t>``."""
        if self.owner is not None:
            return f"{self.state.value}:{self.owner}:{self.since}"
        return f"{self.state.value}:{self.since}"

    @classmethod
    def decode(cls, value: str) -> EvacuationRequest:
        """Parse an attribute value; raises :class:`InvalidRequestValue`."""
        parts = value.split(":")
        try:
            state = EvacuationState(parts[0])
        except ValueError:
            raise InvalidRequestValue(f"unknown evacuation state in {value!r}") from None
        expected_parts = 3 if state is EvacuationState.IN_PROGRESS else 2
        if len(parts) != expected_parts or not _EPOCH.match(parts[-1]):
            raise InvalidRequestValue(f"malformed evacuation request {value!r}")
        owner = parts[1] if state is EvacuationState.IN_PROGRESS else None
        return cls(state, int(parts[-1]), owner)

    def age(self, now: float) -> float:
        """Seconds since the last transition (never negative)."""
        return max(0.0, now - self.since)


class EvacuationRequests:
    """Reads and moves evacuation requests with compare-and-set transitions.

    Every mutator returns whether *this* call made the transition; False means
    the request was not in the required state (possibly because another
    writer got there first).
    """

    def __init__(
        self,
        attributes: AttributeStore | None = None,
        *,
        clock: Clock | None = None,
        name: str = EVACUATE_ATTRIBUTE,
    ) -> None:
        self._attrs: AttributeStore = attributes or NodeAttributes()
        self._clock = clock or SystemClock()
        self._name = validate_name(name)

    @property
    def attribute(self) -> str:
        """The node attribute this store uses."""
        return self._name

    @property
    def attributes(self) -> AttributeStore:
        """The node attribute store the requests live in."""
        return self._attrs

    def get(self, node: str) -> EvacuationRequest | None:
        """The node's request; None when absent; raises :class:`InvalidRequestValue`."""
        raw = self._attrs.get(node, self._name)
        return None if raw is None else EvacuationRequest.decode(raw)

    def all(self) -> dict[str, EvacuationRequest]:
        """Every node's valid request (one CIB query; undecodable values are left out)."""
        out: dict[str, EvacuationRequest] = {}
        for node, raw in self._attrs.get_all(self._name).items():
            try:
                out[node] = EvacuationRequest.decode(raw)
            except InvalidRequestValue:
                continue
        return out

    def _transition(self, node: str, raw: str | None, new: EvacuationRequest | None) -> bool:
        return self._attrs.compare_and_set(
            node, self._name, raw, None if new is None else new.encode()
        )

    def _current(self, node: str) -> tuple[str | None, EvacuationRequest | None]:
        raw = self._attrs.get(node, self._name)
        if raw is None:
            return None, None
        try:
            return raw, EvacuationRequest.decode(raw)
        except InvalidRequestValue:
            return raw, None

    def request(self, node: str) -> bool:
        """Ask for ``node`` to be evacuated.

        Moves an absent, ``done`` or undecodable value to ``requested``; a
        request already ``requested`` or ``in-progress`` is left alone (False).
        """
        raw, cur = self._current(node)
        if cur is not None and cur.state is not EvacuationState.DONE:
            return False
        return self._transition(node, raw, EvacuationRequest.requested(self._clock.time()))

    def claim(
        self, node: str, owner: str, *, stale_after: float | None = None
    ) -> EvacuationRequest | None:
        """Take the request for ``owner``; returns the new value if this call won.

        ``requested`` is always claimable. Another owner's ``in-progress`` is
        taken over only when ``stale_after`` is given and its time is at least
        that old. Claiming one's own ``in-progress`` renews it.
        """
        raw, cur = self._current(node)
        if cur is None:
            return None
        now = self._clock.time()
        if (
            cur.state is EvacuationState.IN_PROGRESS
            and cur.owner != owner
            and (stale_after is None or cur.age(now) < stale_after)
        ):
            return None
        if cur.state is EvacuationState.DONE:
            return None
        new = EvacuationRequest.in_progress(owner, now)
        return new if self._transition(node, raw, new) else None

    def renew(self, node: str, owner: str) -> bool:
        """Refresh ``owner``'s claim time (a heartbeat against stale takeover)."""
        return self._from_owner(
            node, owner, EvacuationRequest.in_progress(owner, self._clock.time())
        )

    def complete(self, node: str, owner: str) -> bool:
        """``owner`` finished: ``in-progress:<owner>`` becomes ``done``."""
        return self._from_owner(node, owner, EvacuationRequest.done(self._clock.time()))

    def release(self, node: str, owner: str) -> bool:
        """``owner`` gives up: ``in-progress:<owner>`` becomes ``requested`` again."""
        return self._from_owner(node, owner, EvacuationRequest.requested(self._clock.time()))

    def _from_owner(self, node: str, owner: str, new: EvacuationRequest) -> bool:
        raw, cur = self._current(node)
        if cur is None or cur.state is not EvacuationState.IN_PROGRESS or cur.owner != owner:
            return False
        return self._transition(node, raw, new)

    def clear(self, node: str, *, only_if: EvacuationRequest | None = None) -> bool:
        """Delete the request; with ``only_if``, only when it still has that value."""
        if only_if is None:
            self._attrs.delete(node, self._name)
            return True
        return self._transition(node, only_if.encode(), None)


def record_fenced(node: str, requests: EvacuationRequests | None = None) -> bool:
    """Record that ``node`` was fenced and needs evacuation; True when it is now pending.

    :raises instanceha.cluster.runner.ClusterError: when the CIB cannot be written.
    """
    store = requests or EvacuationRequests()
    # fenced: a fencing hold on it (fence_hold, an admin's release) is over
    store.attributes.delete(node, FENCING_HOLD_ATTRIBUTE)
    if store.request(node):
        _LOG.info("evacuation of %s requested", node)
        return True
    pending = is_pending(node, store)
    if pending:
        _LOG.info("evacuation of %s already pending", node)
    return pending


def is_pending(node: str, requests: EvacuationRequests | None = None) -> bool:
    """True while the node's evacuation is requested or in progress."""
    current = (requests or EvacuationRequests()).get(node)
    return current is not None and current.state is not EvacuationState.DONE
