"""Service control: the systemd path through a recording systemctl, the direct path for real.

The systemd path against a real systemd: tests/integration/test_libvirtd_systemd.py.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from instanceha.agents._service import (
    DirectDaemon,
    ServiceError,
    SystemdUnit,
    choose_manager,
    systemd_booted,
)

FAKE_SYSTEMCTL = """#!/bin/sh
echo "$@" >> "{log}"
case "$1" in
  is-active) test -e "{state}" ;;
  start) touch "{state}" ;;
  stop) rm -f "{state}" ;;
  show) echo "libvirtd.socket libvirtd-ro.socket" ;;
  daemon-reload) ;;
  *) exit 1 ;;
esac
"""


@pytest.fixture
def systemctl(tmp_path: Path) -> tuple[Path, Path]:
    log, state = tmp_path / "calls.log", tmp_path / "active"
    script = tmp_path / "systemctl"
    script.write_text(FAKE_SYSTEMCTL.format(log=log, state=state))
    script.chmod(0o755)
    return script, log


def test_systemd_unit_drives_systemctl(systemctl: tuple[Path, Path]) -> None:
    script, log = systemctl
    unit = SystemdUnit("libvirtd.service", str(script))
    assert not unit.is_running()
    unit.start(time.monotonic() + 5)
    assert unit.is_running()
    unit.stop(time.monotonic() + 5)
    assert not unit.is_running()
    assert log.read_text().split("\n")[:5] == [
        "is-active libvirtd.service",
        "start libvirtd.service",
        "is-active libvirtd.service",
        "show --property=TriggeredBy --value libvirtd.service",
        "stop libvirtd.service libvirtd.socket libvirtd-ro.socket",
    ]


def test_runtime_dropin_is_written_once_and_reloads_only_on_change(
    systemctl: tuple[Path, Path], tmp_path: Path
) -> None:
    script, log = systemctl
    unit = SystemdUnit("libvirtd.service", str(script), runtime_dir=str(tmp_path / "run"))
    for text in ("[Service]\nEnvironment=A=\n", "[Service]\nEnvironment=A=\n", "[Service]\n"):
        unit.runtime_dropin("50-x", text, time.monotonic() + 5)
    assert (tmp_path / "run/libvirtd.service.d/50-x.conf").read_text() == "[Service]\n"
    assert log.read_text().split() == ["daemon-reload", "daemon-reload"]


def test_systemd_failure_is_a_service_error(tmp_path: Path) -> None:
    failing = tmp_path / "systemctl"
    failing.write_text("#!/bin/sh\necho 'Unit nope.service not found.' >&2\nexit 5\n")
    failing.chmod(0o755)
    with pytest.raises(ServiceError, match="systemctl start nope.service failed: Unit nope"):
        SystemdUnit("nope.service", str(failing)).start(time.monotonic() + 5)


def test_auto_picks_systemd_only_when_booted_with_it(tmp_path: Path) -> None:
    daemon = DirectDaemon(["/bin/sleep", "30"], str(tmp_path / "p.pid"))
    assert not systemd_booted(str(tmp_path))
    assert choose_manager("auto", "x.service", daemon, root=str(tmp_path)) is daemon
    (tmp_path / "run/systemd/system").mkdir(parents=True)
    assert systemd_booted(str(tmp_path))
    if not Path("/bin/systemctl").exists() and not Path("/usr/bin/systemctl").exists():
        with pytest.raises(ServiceError, match="systemctl is not installed"):
            choose_manager("auto", "x.service", daemon, root=str(tmp_path))


def test_direct_daemon_start_stop_and_pid_reuse_guard(tmp_path: Path) -> None:
    pidfile = tmp_path / "sleep.pid"
    daemon = DirectDaemon(["/bin/sleep", "30"], str(pidfile))
    daemon.start(time.monotonic() + 5)
    assert daemon.is_running()
    daemon.stop(time.monotonic() + 5)
    assert not daemon.is_running() and not pidfile.exists()
    pidfile.write_text("1\n")  # pid 1 is alive but is not /bin/sleep
    assert not daemon.is_running()


def test_direct_daemon_that_dies_at_once_is_reported(tmp_path: Path) -> None:
    daemon = DirectDaemon([sys.executable, "-c", "raise SystemExit(3)"], str(tmp_path / "p.pid"))
    with pytest.raises(ServiceError, match="exited at once with status 3"):
        daemon.start(time.monotonic() + 5)


def test_direct_daemon_creates_its_log_directory_at_start(tmp_path: Path) -> None:
    log = tmp_path / "not-yet" / "sleep.out"
    daemon = DirectDaemon(["/bin/sleep", "30"], str(tmp_path / "p.pid"), log_path=str(log))
    daemon.start(time.monotonic() + 5)
    try:
        assert log.exists()
    finally:
        daemon.stop(time.monotonic() + 5)


def test_direct_daemon_tracks_a_script_run_by_its_interpreter(tmp_path: Path) -> None:
    # nova-compute is a Python script: /proc/PID/exe is the interpreter, argv[1] the script
    script = tmp_path / "fake-nova-compute"
    script.write_text(f"#!{sys.executable}\nimport time\ntime.sleep(30)\n")
    script.chmod(0o755)
    daemon = DirectDaemon([str(script)], str(tmp_path / "p.pid"))
    daemon.start(time.monotonic() + 5)
    try:
        assert daemon.is_running()
    finally:
        daemon.stop(time.monotonic() + 5)
    assert not daemon.is_running()
