"""Integration fixtures: long-running labs, each skipped with a reason when it cannot run."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, NoReturn

import pytest

if TYPE_CHECKING:
    from labs.cluster_lab import ClusterLab
    from labs.e2e_lab import E2ELab
    from labs.nova_lab import NovaLab


@pytest.fixture(scope="module")
def cluster_lab(request: pytest.FixtureRequest) -> Iterator[ClusterLab]:
    """A live cluster: controller ctl1 + compute hosts comp1, comp2 (each with its own BMC).

    Remote connections and one fence_ipmilan device per host are configured;
    every host is online when the test starts. Indirect parametrization gives the
    number of controllers (``@pytest.mark.parametrize("cluster_lab", [3], indirect=True)``):
    with several, each controller gets a fence_ipmilan device too. Skipped when not root or
    without CAP_NET_ADMIN/CAP_SYS_ADMIN. Stopped (processes, namespaces, links)
    at the end of the module, or before a test that wants another number of controllers:
    one machine has one cluster lab, and the end-to-end lab (``e2e_lab``) starts its own.
    Concurrent sessions take turns (see ``ClusterLab.exclusive``).
    """
    from labs.cluster_lab import ClusterLab, unavailable_reason

    controllers = int(getattr(request, "param", 1))
    lab = ClusterLab(hosts=2, controllers=controllers)
    with lab.exclusive():
        reason = unavailable_reason()
        if reason:
            pytest.skip(reason)
        lab.start()
        try:
            lab.configure_remote_nodes(
                fencing="fence_ipmilan",
                controller_fencing="fence_ipmilan" if controllers > 1 else None,
            )
            lab.wait_hosts_online(timeout=60)
            yield lab
        finally:
            lab.stop()


# Tests using these fixtures get these marks at collection (so ``-m "not lab"`` works).
LAB_FIXTURE_MARKS: dict[str, tuple[str, ...]] = {
    "nova_lab": ("integration", "lab"),
    "e2e_lab": ("integration", "lab"),
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        names = getattr(item, "fixturenames", ())
        for fixture, marks in LAB_FIXTURE_MARKS.items():
            if fixture in names:
                for mark in marks:
                    item.add_marker(getattr(pytest.mark, mark))


@pytest.fixture(scope="session")
def nova_lab() -> Iterator[NovaLab]:
    """The real Nova lab of ``lab/nova``: Keystone, Glance, Placement, RabbitMQ, MariaDB,
    nova-api/conductor/scheduler and computes compute1..N (fake virt driver, N = $NCOMPUTE or 3),
    all on 127.0.0.1.

    A running lab is reused (~2 s); otherwise it is installed, set up and started
    (~2 min cold, ~25 s warm). Held for this session only (a concurrent session
    waits for it). At the start every host runs, is up, not forced down and
    enabled, and no server exists; a test that leaves servers or hosts behind
    calls ``nova_lab.reset()``. Skipped when not root or when the lab cannot be
    installed (``NOVALAB_REQUIRED=1`` turns the skip into a failure). Stopped at
    the end only if this session started it and ``NOVALAB_KEEP`` is not set.
    """
    import os

    from labs.nova_lab import LabUnavailable, NovaLab, unavailable_reason

    def unavailable(reason: object) -> NoReturn:
        if os.environ.get("NOVALAB_REQUIRED") == "1":
            pytest.fail(f"Nova lab required but unavailable: {reason}")
        pytest.skip(f"Nova lab unavailable: {reason}")

    reason = unavailable_reason()
    if reason:
        unavailable(reason)
    lab = NovaLab(ncompute=int(os.environ.get("NCOMPUTE", "3")))
    with lab.exclusive():
        try:
            lab.ensure_running()
        except LabUnavailable as exc:
            unavailable(exc)
        try:
            lab.reset()
            yield lab
        finally:
            if lab.started_here and not os.environ.get("NOVALAB_KEEP"):
                lab.stop()


@pytest.fixture
def clean_nova_lab(nova_lab: NovaLab) -> Iterator[NovaLab]:
    """The session's Nova lab, put back (hosts restored, servers deleted) after the test."""
    try:
        yield nova_lab
    finally:
        nova_lab.reset()


@pytest.fixture(scope="module")
def e2e_lab(nova_lab: NovaLab, request: pytest.FixtureRequest) -> Iterator[E2ELab]:
    """The end-to-end lab: the cluster lab's comp1..comp3 run the Nova lab's compute1..3
    under NovaCompute, with fence_ipmi + fence_nova, the alert and NovaEvacuate configured
    from an inventory by ``instanceha cib render --pcs`` (see ``tests/labs/e2e_lab.py``).

    Every host is online, nova-compute runs everywhere and Nova has every compute up and
    enabled when a test starts. Stopped at the end of the module; the Nova lab gets its
    computes back. Indirect parametrization gives the number of controllers (default 1).
    """
    from labs.cluster_lab import unavailable_reason
    from labs.e2e_lab import E2ELab

    lab = E2ELab(nova_lab, hosts=3, controllers=int(getattr(request, "param", 1)))
    with lab.cluster.exclusive():
        reason = unavailable_reason()
        if reason:
            pytest.skip(reason)
        lab.start()
        try:
            yield lab
        finally:
            lab.stop()
