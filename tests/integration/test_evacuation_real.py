"""The evacuation engine against the real Nova lab, through NovaClient.

compute1 holds servers protected by flavor, by image, opted out per server, and
unprotected ones, ACTIVE and SHUTOFF. Its nova-compute is killed (a host
crash), the engine runs, and Nova must show every protected server on another
host in its original power state, each with exactly one evacuation migration,
and the others untouched on compute1.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

import pytest

from instanceha.evacuation.config import EngineConfig
from instanceha.evacuation.engine import EvacuationEngine
from instanceha.evacuation.outcome import HostProgress, OutcomeKind
from instanceha.nova.client import NovaClient
from instanceha.nova.credentials import resolve_credentials
from instanceha.nova.model import OUR_DISABLED_REASON_PREFIX

if TYPE_CHECKING:
    from labs.nova_lab import NovaLab

pytestmark = [pytest.mark.integration, pytest.mark.lab]

SOURCE = "compute1"


@pytest.fixture
def lab(clean_nova_lab: NovaLab) -> NovaLab:
    """The session's lab, reset after the test (see conftest.clean_nova_lab)."""
    return clean_nova_lab


def test_host_crash_protected_servers_recovered_exactly_once(lab: NovaLab) -> None:
    from labs.nova_lab import FLAVOR_EVACUABLE, FLAVOR_PLAIN, IMAGE_EVACUABLE, IMAGE_PLAIN

    boot = lab.boot_servers
    expected: dict[str, str] = {}  # protected server id -> status it must end in
    for state in ("ACTIVE", "SHUTOFF"):
        for sid in boot(SOURCE, 2, flavor=FLAVOR_EVACUABLE, image=IMAGE_PLAIN, state=state):
            expected[sid] = state
        for sid in boot(SOURCE, 1, flavor=FLAVOR_PLAIN, image=IMAGE_EVACUABLE, state=state):
            expected[sid] = state
    untouched = {sid: "ACTIVE" for sid in boot(SOURCE, 2, flavor=FLAVOR_PLAIN, image=IMAGE_PLAIN)}
    untouched |= {
        sid: "SHUTOFF"
        for sid in boot(SOURCE, 1, flavor=FLAVOR_PLAIN, image=IMAGE_PLAIN, state="SHUTOFF")
    }
    opted_out = boot(SOURCE, 1, flavor=FLAVOR_EVACUABLE, metadata={"evacuable": "false"})
    untouched |= dict.fromkeys(opted_out, "ACTIVE")

    lab.kill_compute(SOURCE)
    config = resolve_credentials(
        cloud="instanceha-lab", env={"OS_CLIENT_CONFIG_FILE": str(lab.clouds_yaml)}
    )
    progress: list[HostProgress] = []
    engine = EvacuationEngine(
        NovaClient(config),
        config=EngineConfig(max_parallel=4, poll_interval=0.5, deadline=300.0),
        on_progress=progress.append,
    )
    report = engine.run(SOURCE)

    assert report.succeeded, report.summary()
    outcomes = {o.server_id: o for o in report.outcomes}
    nova = lab.nova()
    for sid, state in expected.items():
        server = nova.servers.get(sid)
        host = getattr(server, "OS-EXT-SRV-ATTR:host")
        assert host != SOURCE and server.status == state, (sid, host, server.status)
        assert getattr(server, "OS-EXT-STS:task_state") is None
        assert outcomes[sid].kind is OutcomeKind.EVACUATED
        assert outcomes[sid].destination == host
    for sid, state in untouched.items():
        server = nova.servers.get(sid)
        assert getattr(server, "OS-EXT-SRV-ATTR:host") == SOURCE
        assert server.status == state
        assert outcomes[sid].kind is OutcomeKind.SKIPPED
    assert "server metadata: evacuable=false" in outcomes[opted_out[0]].reason

    per_server = Counter(m["instance_uuid"] for m in lab.evacuations(source=SOURCE))
    assert per_server == Counter(dict.fromkeys(expected, 1))

    (service,) = nova.services.list(host=SOURCE, binary="nova-compute")
    assert service.forced_down and service.status == "disabled"
    assert service.disabled_reason.startswith(OUR_DISABLED_REASON_PREFIX)
    assert progress[-1].evacuated == len(expected)
