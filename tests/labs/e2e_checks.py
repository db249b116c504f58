"""What the end-to-end scenarios share: booting the servers of a failing host, watching its
recovery, and the checks every scenario makes in Nova (each protected instance back in its
state on another host through exactly one evacuation, the unprotected one left alone, the
request done)."""

from __future__ import annotations

from collections import Counter

from labs.e2e_lab import E2ELab, nova_host
from labs.nova_lab import FLAVOR_PLAIN, IMAGE_PLAIN
from labs.timeline import ENABLED, STARTED, Observer, Timeline, Watched

__all__ = ["RECOVERY_TIMEOUT", "back_in_service", "boot", "check_recovered", "recover", "watch"]

RECOVERY_TIMEOUT = 240
#: Migration statuses of an evacuation that never left the scheduler (the instance stayed).
UNSCHEDULED = frozenset({"error", "failed"})


def boot(lab: E2ELab, index: int, active: int = 3) -> tuple[dict[str, str], str]:
    """Protected servers (ACTIVE + one SHUTOFF) and one unprotected server on compute<index>."""
    nova = lab.nova
    ids = nova.boot_servers(index, active, name=f"web{index}")
    stopped = nova.boot_servers(index, 1, name=f"batch{index}", state="SHUTOFF")
    plain = nova.boot_servers(index, 1, name=f"scratch{index}", flavor=FLAVOR_PLAIN,
                              image=IMAGE_PLAIN)  # fmt: skip
    return {sid: "ACTIVE" for sid in ids} | {sid: "SHUTOFF" for sid in stopped}, plain[0]


def back_in_service(t: Timeline, hosts: list[str]) -> bool:
    return all(t.first(ENABLED, h) and t.first(STARTED, h) for h in hosts)


def check_recovered(lab: E2ELab, index: int, servers: dict[str, str], plain: str) -> None:
    """Every protected server evacuated exactly once and in its state; the plain one stayed."""
    nova = lab.nova
    source = nova_host(index)
    # an evacuation Nova could not schedule (no valid host while the other computes were
    # themselves being restarted) leaves a record in "error": a retry is not a second one
    records = nova.evacuations(source=source)
    moves = Counter(m["instance_uuid"] for m in records if m["status"] not in UNSCHEDULED)
    for sid, expected in servers.items():
        server = nova.nova().servers.get(sid)
        assert getattr(server, "OS-EXT-SRV-ATTR:host") != source, sid
        assert server.status == expected, (sid, server.status)
        assert moves[sid] == 1, f"{sid} evacuated {moves[sid]} times"
    assert moves[plain] == 0
    assert getattr(nova.nova().servers.get(plain), "OS-EXT-SRV-ATTR:host") == source
    request = lab.request(index)
    assert request is not None and request.startswith("done:"), request


def watch(lab: E2ELab, failures: dict[int, tuple[dict[str, str], str]]) -> Observer:
    watched = [
        Watched(lab.cluster.host(lab.node(i)), nova_host(i), servers)
        for i, (servers, _) in failures.items()
    ]
    return Observer(lab.cluster, lab.nova, watched)


def recover(observer: Observer, hosts: list[str]) -> Timeline:
    try:
        observer.wait(lambda t: back_in_service(t, hosts), RECOVERY_TIMEOUT, "recovery")
    finally:
        timeline = observer.stop()
        print("\n" + timeline.render())
    return timeline
