"""What happens after a compute node is fenced, shared by fence_nova and the post-fence alert.

:func:`record_fenced` ends the node's fencing hold (:mod:`instanceha.fence.hold`) and
writes the durable evacuation request (a permanent node
attribute, see :mod:`instanceha.cluster.evacuation`); the evacuator does the
rest. A request already pending is left as it is, so the two paths, or a
repeated fencing, never start a second evacuation.
"""

from __future__ import annotations

import logging

from instanceha.cluster import EvacuationRequests, EvacuationState
from instanceha.cluster.attribute_names import FENCING_HOLD_ATTRIBUTE

__all__ = ["is_pending", "record_fenced"]

_LOG = logging.getLogger("instanceha")


def record_fenced(node: str, requests: EvacuationRequests | None = None) -> bool:
    """Record that ``node`` was fenced and needs evacuation; True when it is now pending.

    :raises instanceha.cluster.ClusterError: when the CIB cannot be written.
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
