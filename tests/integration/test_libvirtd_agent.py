"""ocf:instanceha:libvirtd against a real libvirtd from Debian's packages."""

from __future__ import annotations

import os
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from instanceha.ocf import OcfRc
from labs.agents import libvirtd_sandbox, pid_from, process_gone, run_agent

pytestmark = pytest.mark.integration


@pytest.fixture
def params(tmp_path: Path) -> Iterator[dict[str, str]]:
    if os.geteuid() != 0 or shutil.which("libvirtd") is None:
        pytest.skip("needs root and libvirtd (make test-deps)")
    values = {**libvirtd_sandbox(tmp_path), "api_timeout": "3"}
    yield values
    if Path(values["pidfile"]).exists():  # never leave a daemon behind, even frozen
        pid = pid_from(values["pidfile"])
        for sig in (signal.SIGCONT, signal.SIGKILL):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                break


def test_full_lifecycle_and_a_frozen_daemon(params: dict[str, str]) -> None:
    assert run_agent("libvirtd", "monitor", params, interval_ms=0).rc == OcfRc.NOT_RUNNING

    started = run_agent("libvirtd", "start", params, timeout_ms=60000)
    assert started.rc == OcfRc.SUCCESS, started.stderr
    assert run_agent("libvirtd", "start", params).rc == OcfRc.SUCCESS  # idempotent
    pid = pid_from(params["pidfile"])
    for level in (0, 10):
        healthy = run_agent("libvirtd", "monitor", params, interval_ms=10000, check_level=level)
        assert healthy.rc == OcfRc.SUCCESS, healthy.stderr

    os.kill(pid, signal.SIGSTOP)
    # A frozen daemon still completes handshakes from its listen backlog: depth 0 cannot
    # see it, which is why the depth-10 monitor exists.
    shallow = run_agent("libvirtd", "monitor", params, interval_ms=10000, check_level=0)
    assert shallow.rc == OcfRc.SUCCESS
    deep = run_agent("libvirtd", "monitor", params, interval_ms=60000, check_level=10,
                     timeout_ms=30000)
    assert deep.rc == OcfRc.ERR_GENERIC
    assert "did not answer an API call" in deep.reason and "within 3.0s" in deep.reason
    assert deep.seconds < 30  # answered by our deadline, before Pacemaker's timeout

    stopped = run_agent("libvirtd", "stop", params, timeout_ms=20000)
    assert stopped.rc == OcfRc.SUCCESS, stopped.stderr
    assert process_gone(pid)
    assert run_agent("libvirtd", "monitor", params, interval_ms=10000).rc == OcfRc.NOT_RUNNING
    assert run_agent("libvirtd", "stop", params).rc == OcfRc.SUCCESS  # idempotent


def test_a_crashed_daemon_is_not_running(params: dict[str, str]) -> None:
    assert run_agent("libvirtd", "start", params, timeout_ms=60000).rc == OcfRc.SUCCESS
    pid = pid_from(params["pidfile"])
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while not process_gone(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert run_agent("libvirtd", "monitor", params, interval_ms=10000).rc == OcfRc.NOT_RUNNING


def test_a_socket_nobody_serves_is_a_failure(params: dict[str, str], tmp_path: Path) -> None:
    assert run_agent("libvirtd", "start", params, timeout_ms=60000).rc == OcfRc.SUCCESS
    wrong = {**params, "socket": str(tmp_path / "nobody-here.sock")}
    failed = run_agent("libvirtd", "monitor", wrong, interval_ms=10000)
    assert failed.rc == OcfRc.ERR_GENERIC
    assert "nobody-here.sock refuses" in failed.reason
    assert run_agent("libvirtd", "stop", params).rc == OcfRc.SUCCESS


def test_missing_binary_is_not_installed_and_a_probe_says_not_running(
    params: dict[str, str], tmp_path: Path
) -> None:
    broken = {**params, "binary": str(tmp_path / "no-libvirtd")}
    assert run_agent("libvirtd", "monitor", broken, interval_ms=0).rc == OcfRc.NOT_RUNNING
    start = run_agent("libvirtd", "start", broken)
    assert start.rc == OcfRc.ERR_INSTALLED
    assert "no-libvirtd not found" in start.reason


def test_bad_configuration_is_err_configured_with_reason(params: dict[str, str]) -> None:
    bad = {**params, "service_manager": "upstart"}
    result = run_agent("libvirtd", "validate-all", bad)
    assert result.rc == OcfRc.ERR_CONFIGURED
    assert result.reason == (
        "parameter 'service_manager' must be one of auto, systemd, direct, not 'upstart'"
    )
