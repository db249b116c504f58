"""Returning a compute host to service in Nova once nova-compute runs on it again.

Protocol (transient node attribute :data:`SERVICE_ATTRIBUTE` on the compute node)::

    (absent) --NovaCompute start--> started --evacuator: Nova no longer fences it--> in-service
    any ------NovaCompute stop, fencing (transient attributes are purged), a new claim--> (absent)

NovaCompute's start only starts nova-compute and says so; Pacemaker lets it start only
once the host's evacuation is done (the rendered gate rule). Undoing our fencing in Nova
takes time that no cluster action may spend, so the evacuator does it, one step per pass
and never waiting:

1. clear ``forced_down`` (Nova refuses while ``done`` evacuations of the host remain; the
   starting nova-compute moves them to ``completed``: retried on the next pass);
2. once Nova reports the service ``up`` with a heartbeat recorded after this evacuator first
   looked (``updated_at`` moved: the restarted nova-compute reports, not the dead one's last
   heartbeat, which Nova counts as up for ``service_down_time``), enable it if *we* disabled
   it (reason marker): Nova tells only a compute it sees up to drop its
   ``COMPUTE_STATUS_DISABLED`` trait, so an earlier enable left the host unschedulable
   until nova-compute's next periodic sync; an admin's disable is kept;
3. mark the node ``in-service``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Protocol

from instanceha.cluster.attribute_names import (
    SERVICE_ATTRIBUTE,
    SERVICE_IN_SERVICE,
    SERVICE_STARTED,
)
from instanceha.cluster.evacuation import EvacuationRequest, EvacuationState
from instanceha.nova.hostmap import HostMap, HostMapError
from instanceha.nova.model import NovaError, NovaPort

__all__ = ["MarkerStore", "ServiceReturn"]

_LOG = logging.getLogger("instanceha.evacuator")



class MarkerStore(Protocol):
    """What this needs of :class:`~instanceha.cluster.TransientAttributes` (a test seam)."""

    def get_all(self, name: str) -> dict[str, str]: ...

    def set(self, node: str, name: str, value: str) -> None: ...

    def delete(self, node: str, name: str) -> None: ...


class ServiceReturn:
    """One step per pass for every node whose nova-compute NovaCompute has started."""

    def __init__(self, transient: MarkerStore, nova: Callable[[], NovaPort]) -> None:
        self._transient = transient
        self._nova = nova
        self._first_seen: dict[str, str | None] = {}  # host -> updated_at at our first look

    def withdraw(self, node: str) -> None:
        """Forget ``node``'s marker (its evacuation starts: nova-compute is not running)."""
        self._transient.delete(node, SERVICE_ATTRIBUTE)

    def run(self, requests: Mapping[str, EvacuationRequest], host_map: HostMap) -> None:
        """Advance every ``started`` node whose evacuation, if any, is done."""
        for node, value in sorted(self._transient.get_all(SERVICE_ATTRIBUTE).items()):
            request = requests.get(node)
            if value != SERVICE_STARTED or (request is not None
                                    and request.state is not EvacuationState.DONE):
                continue
            try:
                host = host_map.nova_host(node)
                if self.step(host):
                    self._transient.set(node, SERVICE_ATTRIBUTE, SERVICE_IN_SERVICE)
                    self._first_seen.pop(host, None)
            except (HostMapError, NovaError) as error:
                _LOG.info("%s not yet back in service: %s", node, error)

    def step(self, host: str) -> bool:
        """One step for Nova host ``host``; True when nothing of our fencing is left.

        :raises NovaError: Nova refused (done evacuations not yet completed) or is down.
        """
        nova = self._nova()
        services = nova.list_compute_services(host)
        if not services:
            raise NovaError(f"Nova has no nova-compute on host {host}")
        service = services[0]
        first = self._first_seen.setdefault(host, service.updated_at)
        if service.forced_down:
            service = nova.unforce_down(host)
            _LOG.info("cleared forced_down of %s", host)
        if service.disabled_by_us:
            if service.state != "up" or service.updated_at == first:
                return False  # no heartbeat of the restarted nova-compute yet: a later pass
            nova.enable(host)
            _LOG.info("re-enabled %s (was: %s)", host, service.disabled_reason)
        return True
