"""IPMI lab for tests and benches: simulated BMCs (OpenIPMI ``ipmi_sim``) on loopback.

Each BMC runs from its own directory through ``lab/ipmi/start-bmc.sh
--foreground`` as a child of this process (so it is reaped), listens on
127.0.0.1 on its own UDP port, has a random password stored 0600, and keeps
the simulated host's power in a file (``1``/``0``) through
``lab/ipmi/chassis_control.sh``. Faults: :meth:`IpmiLab.stop_bmc` (nothing
listens any more), a wrong password (just use one), and :meth:`IpmiLab.lossy`
(a UDP proxy dropping a share of the datagrams). Stdlib only; no pytest here,
so benches can use it too.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["FenceResult", "IpmiLab", "SimBmc", "fence_agent", "free_udp_port", "missing_tools",
           "rmcp_ping", "run_fence"]

ROOT = Path(__file__).resolve().parents[2]
LAB_DIR = ROOT / "lab" / "ipmi"
PYTHON = "/usr/bin/python3"
_START_TIMEOUT = 5.0


def missing_tools() -> str | None:
    """Why the lab cannot run here, or None."""
    if shutil.which("ipmi_sim") is None:
        return "ipmi_sim not installed (lab/ipmi/install.sh installs openipmi)"
    done = subprocess.run([PYTHON, "-c", "import pyghmi"], capture_output=True, check=False)
    if done.returncode != 0:
        return "pyghmi not installed for /usr/bin/python3 (lab/ipmi/install.sh)"
    return None


def fence_agent(name: str) -> tuple[list[str], dict[str, str]]:
    """How to run a fence agent: the installed ``/usr/sbin/<name>`` (as pacemaker-fenced
    runs it) when present, else the repository shim with ``lib`` on PYTHONPATH."""
    installed = Path("/usr/sbin") / name
    if installed.exists():
        return [str(installed)], {}
    return [PYTHON, str(ROOT / "fence" / name)], {"PYTHONPATH": str(ROOT / "lib")}


@dataclass(frozen=True)
class FenceResult:
    """One fence agent run."""

    rc: int
    stdout: str
    stderr: str
    seconds: float


def run_fence(name: str, args: list[str], stdin: str | None = None,
              timeout: float = 120) -> FenceResult:
    """Run a fence agent with ``args`` (or ``stdin`` lines) in a clean environment."""
    argv, extra = fence_agent(name)
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C.UTF-8", **extra}
    started = time.monotonic()
    done = subprocess.run([*argv, *args], input=stdin, capture_output=True, text=True,
                          env=env, timeout=timeout, check=False)
    return FenceResult(done.returncode, done.stdout, done.stderr, time.monotonic() - started)


def free_udp_port(host: str = "127.0.0.1") -> int:
    """A UDP port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _checksum(data: bytes) -> int:
    return -sum(data) & 0xFF


def rmcp_ping(host: str, port: int, timeout: float = 0.2) -> bool:
    """Whether an IPMI BMC answers a Get Channel Authentication Capabilities request.

    Unauthenticated IPMI 1.5 message, so no credentials are involved.
    """
    header = bytes([0x20, 0x06 << 2])
    body = bytes([0x81, 0x00, 0x38, 0x8E, 0x04])
    message = header + bytes([_checksum(header)]) + body + bytes([_checksum(body)])
    packet = bytes([0x06, 0x00, 0xFF, 0x07, 0x00]) + bytes(8) + bytes([len(message)]) + message
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.sendto(packet, (host, port))
            answer = sock.recv(512)
        except OSError:
            return False
    return len(answer) > 20 and answer[3] == 0x07


@dataclass
class SimBmc:
    """One running simulated BMC and the host behind it."""

    name: str
    directory: Path
    port: int
    host: str = "127.0.0.1"
    username: str = "admin"
    viewer: str = "viewer"  # user privilege only: may read power, not change it
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def password_file(self) -> Path:
        """The 0600 file holding the password (one line)."""
        return self.directory / "password"

    def password(self) -> str:
        """The BMC password."""
        return self.password_file.read_text().strip()

    def power(self) -> str:
        """``on`` or ``off``: the simulated host's power, as the BMC would report it."""
        return "on" if (self.directory / "power").read_text().strip() == "1" else "off"

    def set_power(self, on: bool) -> None:
        """Switch the simulated host behind the BMC's back."""
        tmp = self.directory / "power.tmp"
        tmp.write_text("1\n" if on else "0\n")
        tmp.replace(self.directory / "power")

    def control_log(self) -> list[str]:
        """The power changes the BMC carried out, oldest first (``set power 0`` ...)."""
        log = self.directory / "power.log"
        if not log.exists():
            return []
        return [line.split(" ", 1)[1] for line in log.read_text().splitlines() if " " in line]

    def running(self) -> bool:
        """Whether ipmi_sim still runs."""
        return self.process is not None and self.process.poll() is None


class IpmiLab:
    """Starts and stops simulated BMCs under ``base``; a context manager stopping them all."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.bmcs: list[SimBmc] = []
        self._proxies: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> IpmiLab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start_bmc(self, name: str, port: int | None = None) -> SimBmc:
        """Start (or restart) the BMC ``name``; returns once it answers."""
        reason = missing_tools()
        if reason:
            raise RuntimeError(reason)
        directory = self.base / name
        for attempt in range(3):
            chosen = port or free_udp_port()
            self.base.mkdir(parents=True, exist_ok=True)
            log = open(self.base / f"{name}.ipmi_sim.log", "ab")  # noqa: SIM115
            process = subprocess.Popen(
                [str(LAB_DIR / "start-bmc.sh"), "--foreground", str(directory), str(chosen)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log)
            log.close()
            bmc = SimBmc(name, directory, chosen, process=process)
            if self._wait_ready(bmc):
                self.bmcs.append(bmc)
                return bmc
            self._terminate(process)
            if port is not None or attempt == 2:
                break
        raise RuntimeError(f"simulated BMC {name} did not come up (see {directory.parent})")

    @staticmethod
    def _wait_ready(bmc: SimBmc) -> bool:
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            if not bmc.running():
                return False
            if rmcp_ping(bmc.host, bmc.port, 0.1):
                return True
            time.sleep(0.02)
        return False

    @staticmethod
    def _terminate(process: subprocess.Popen[bytes], grace: float = 0.5) -> None:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(grace)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)

    def stop_bmc(self, bmc: SimBmc) -> None:
        """Stop the BMC (its port then answers nothing); the host's power file stays."""
        if bmc.process is not None:
            self._terminate(bmc.process)
        if bmc in self.bmcs:
            self.bmcs.remove(bmc)

    @contextmanager
    def lossy(self, bmc: SimBmc, drop: float, seed: int = 1) -> Iterator[int]:
        """A loopback UDP proxy to ``bmc`` dropping ``drop`` of the datagrams; yields its port."""
        ready = self.base / f"proxy-{bmc.name}-{os.getpid()}-{seed}.port"
        ready.unlink(missing_ok=True)
        proxy = subprocess.Popen(
            [PYTHON, str(LAB_DIR / "lossy_proxy.py"), "--to", f"{bmc.host}:{bmc.port}",
             "--drop", str(drop), "--seed", str(seed), "--ready-file", str(ready)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._proxies.append(proxy)
        try:
            deadline = time.monotonic() + _START_TIMEOUT
            while not ready.exists():
                if proxy.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("lossy proxy did not start")
                time.sleep(0.01)
            yield int(ready.read_text())
        finally:
            self._terminate(proxy)
            self._proxies.remove(proxy)
            ready.unlink(missing_ok=True)

    def close(self) -> None:
        """Stop every proxy and BMC this lab started."""
        for proxy in list(self._proxies):
            self._terminate(proxy)
        self._proxies.clear()
        for bmc in list(self.bmcs):
            self.stop_bmc(bmc)
