"""fence_ipmi against a BMC built on pyghmi's own server class (as virtualbmc is).

That server accepts the client's cipher suite 17 proposal but then runs suite
3; unpatched pyghmi clients die at RAKP 2 with ``struct.error``. fence_ipmi
follows the suite the BMC chose (or, pinned to 17, fails saying so).
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from labs.ipmi_lab import PYTHON, free_udp_port, rmcp_ping, run_fence

pytestmark = pytest.mark.integration

SERVER = '''
import sys
from pyghmi.ipmi import bmc
from pyghmi.ipmi.private import session

STATE = sys.argv[3]


class FileBmc(bmc.Bmc):
    """Power kept in a file, as the tests read it."""

    def get_power_state(self):
        with open(STATE) as handle:
            return handle.read().strip()

    def _set(self, value):
        with open(STATE, "w") as handle:
            handle.write(value)

    def power_off(self):
        self._set("off")

    def power_on(self):
        self._set("on")


FileBmc({"admin": sys.argv[2]}, port=int(sys.argv[1]), address="127.0.0.1")
while True:
    session.Session.wait_for_rsp(0.2)
'''

PASSWORD = "pyghmi-bmc-pw"


@pytest.fixture
def pyghmi_bmc(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    if subprocess.run([PYTHON, "-c", "import pyghmi.ipmi.bmc"], check=False).returncode:
        pytest.skip("pyghmi not installed for /usr/bin/python3")
    script, state = tmp_path / "pyghmi_bmc.py", tmp_path / "power"
    script.write_text(SERVER)
    state.write_text("on")
    port = free_udp_port()
    server = subprocess.Popen([PYTHON, str(script), str(port), PASSWORD, str(state)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not rmcp_ping("127.0.0.1", port):
            assert server.poll() is None and time.monotonic() < deadline, "BMC did not start"
            time.sleep(0.05)
        yield port, state
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(5)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(5)


def test_power_cycle_against_a_pyghmi_server(pyghmi_bmc: tuple[int, Path]) -> None:
    port, state = pyghmi_bmc
    base = ["-a", "127.0.0.1", "-u", str(port), "-l", "admin", "-p", PASSWORD]
    status = run_fence("fence_ipmi", [*base, "-o", "status"])
    assert (status.rc, status.stdout) == (0, "Status: ON\n"), status.stderr
    off = run_fence("fence_ipmi", [*base, "-o", "off"])
    assert off.rc == 0 and state.read_text() == "off", off.stderr
    reboot = run_fence("fence_ipmi", [*base, "-o", "reboot"])
    assert reboot.rc == 0 and state.read_text() == "on", reboot.stderr


def test_pinned_suite_17_fails_clearly(pyghmi_bmc: tuple[int, Path]) -> None:
    port, _ = pyghmi_bmc
    result = run_fence("fence_ipmi", ["-a", "127.0.0.1", "-u", str(port), "-l", "admin",
                                      "-p", PASSWORD, "-C", "17", "-o", "status"])
    assert result.rc == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "cipher suite" in lines[0]
