"""Integration fixtures: long-running labs, each skipped with a reason when it cannot run."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from labs.cluster_lab import ClusterLab


@pytest.fixture(scope="session")
def cluster_lab() -> Iterator[ClusterLab]:
    """A live cluster: controller ctl1 + compute hosts comp1, comp2 (each with its own BMC).

    Remote connections and one fence_ipmilan device per host are configured;
    every host is online when the test starts. Skipped when not root or
    without CAP_NET_ADMIN/CAP_SYS_ADMIN. Stopped (processes, namespaces, links)
    at the end of the session.
    """
    from labs.cluster_lab import ClusterLab, unavailable_reason

    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    lab = ClusterLab(hosts=2)
    lab.start()
    try:
        lab.configure_remote_nodes(fencing="fence_ipmilan")
        lab.wait_hosts_online(timeout=60)
        yield lab
    finally:
        lab.stop()
