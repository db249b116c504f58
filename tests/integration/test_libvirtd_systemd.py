"""ocf:instanceha:libvirtd's systemd path against a real systemd (lab/systemd's container).

The installed agent runs inside the container as pacemaker-execd would, and drives
Debian's own libvirtd.service there through systemctl.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from instanceha.ocf import OcfRc
from labs.agents import AgentResult, install_project, run_agent
from labs.systemd_lab import LabUnavailable, SystemdLab, unavailable_reason

pytestmark = pytest.mark.integration

UNIT = "libvirtd.service"
PARAMS = {"service_manager": "systemd", "systemd_unit": UNIT, "api_timeout": "3"}


@pytest.fixture(scope="module")
def lab() -> Iterator[SystemdLab]:
    """The booted container, shut down (nothing left behind) at the end of the module."""
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    lab = SystemdLab()
    with lab.exclusive():
        install_project()  # the container sees the host's /usr as it was at boot
        try:
            lab.start()
        except LabUnavailable as error:
            lab.stop()
            pytest.skip(f"cannot boot systemd in a container here: {error}")
        try:
            yield lab
        finally:
            lab.stop()


@pytest.fixture
def systemd(lab: SystemdLab) -> Iterator[SystemdLab]:
    """The lab with libvirtd stopped before and after the test (even if left frozen)."""
    lab.systemctl("stop", UNIT)
    try:
        yield lab
    finally:
        pid = lab.systemctl("show", "-p", "MainPID", "--value", UNIT)
        if pid not in ("", "0"):
            lab.run("kill", "-CONT", pid)
        lab.systemctl("stop", UNIT)
        lab.systemctl("reset-failed", UNIT)


def agent(lab: SystemdLab, action: str, params: dict[str, str] = PARAMS, *,
          interval_ms: int | None = None, check_level: int | None = None,
          timeout_ms: int = 20000) -> AgentResult:
    """The installed agent, run inside the container."""
    return run_agent("libvirtd", action, params, interval_ms=interval_ms,
                     check_level=check_level, timeout_ms=timeout_ms, via=lab.via)


def test_lifecycle_and_a_frozen_daemon_under_systemd(systemd: SystemdLab) -> None:
    assert agent(systemd, "monitor", interval_ms=0).rc == OcfRc.NOT_RUNNING

    started = agent(systemd, "start", timeout_ms=60000)
    assert started.rc == OcfRc.SUCCESS, started.stderr
    assert systemd.systemctl("is-active", UNIT) == "active"
    assert agent(systemd, "start").rc == OcfRc.SUCCESS  # idempotent
    for level in (0, 10):
        healthy = agent(systemd, "monitor", interval_ms=10000, check_level=level)
        assert healthy.rc == OcfRc.SUCCESS, healthy.stderr

    pid = systemd.systemctl("show", "-p", "MainPID", "--value", UNIT)
    assert pid not in ("", "0")
    # Debian's --timeout 120 idle exit is off: the cluster decides when libvirtd stops
    argv = systemd.run("cat", f"/proc/{pid}/cmdline").stdout.split("\0")
    assert argv[0] == "/usr/sbin/libvirtd" and "--timeout" not in argv
    assert systemd.run("kill", "-STOP", pid).returncode == 0
    deep = agent(systemd, "monitor", interval_ms=60000, check_level=10, timeout_ms=30000)
    assert deep.rc == OcfRc.ERR_GENERIC, deep.stderr  # a failure, not "not running"
    assert "did not answer an API call" in deep.reason and "within 3.0s" in deep.reason
    assert deep.seconds < 30  # answered by our deadline, before Pacemaker's timeout
    assert systemd.run("kill", "-CONT", pid).returncode == 0

    sockets = systemd.systemctl("show", "-p", "TriggeredBy", "--value", UNIT).split()
    assert "libvirtd.socket" in sockets
    stopped = agent(systemd, "stop", timeout_ms=60000)
    assert stopped.rc == OcfRc.SUCCESS, stopped.stderr
    assert systemd.systemctl("is-active", UNIT) == "inactive"
    # stopped means stopped: no socket left for a client to activate libvirtd again
    assert all(systemd.systemctl("is-active", s) == "inactive" for s in sockets)
    systemd.run("virsh", "-c", "qemu:///system", "version")
    assert systemd.systemctl("is-active", UNIT) == "inactive"
    assert agent(systemd, "monitor", interval_ms=0).rc == OcfRc.NOT_RUNNING
    assert agent(systemd, "stop").rc == OcfRc.SUCCESS  # idempotent

    restarted = agent(systemd, "start", timeout_ms=60000)  # and start brings the sockets back
    assert restarted.rc == OcfRc.SUCCESS, restarted.stderr
    assert systemd.systemctl("is-active", "libvirtd.socket") == "active"


def test_auto_picks_systemd_when_it_is_pid_1(systemd: SystemdLab) -> None:
    auto = {**PARAMS, "service_manager": "auto"}
    assert agent(systemd, "validate-all", auto).rc == OcfRc.SUCCESS
    assert agent(systemd, "monitor", auto, interval_ms=0).rc == OcfRc.NOT_RUNNING

    started = agent(systemd, "start", auto, timeout_ms=60000)
    assert started.rc == OcfRc.SUCCESS, started.stderr
    assert f"starting systemd unit {UNIT}" in started.stderr
    assert systemd.systemctl("is-active", UNIT) == "active"  # systemd runs it, not a pid file

    assert agent(systemd, "stop", auto, timeout_ms=60000).rc == OcfRc.SUCCESS
    assert systemd.systemctl("is-active", UNIT) == "inactive"
