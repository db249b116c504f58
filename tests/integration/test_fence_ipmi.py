"""fence_ipmi against real simulated BMCs (OpenIPMI ipmi_sim) on loopback.

Covers verified power changes, the stdin protocol, wrong credentials, a stopped
BMC, packet loss, several hosts fenced at once (processes and threads), and
that no password ever shows on a command line.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from instanceha.ipmi import BmcTarget, ChassisControl, IpmiClient
from labs.ipmi_lab import IpmiLab, SimBmc, fence_agent, missing_tools, run_fence

pytestmark = pytest.mark.integration

AGENT = "fence_ipmi"


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[IpmiLab]:
    reason = missing_tools()
    if reason:
        pytest.skip(reason)
    with IpmiLab(tmp_path / "ipmi") as ipmi_lab:
        yield ipmi_lab


@pytest.fixture
def bmc(lab: IpmiLab) -> SimBmc:
    return lab.start_bmc("bmc1")


def cli(bmc: SimBmc, *extra: str, port: int | None = None) -> list[str]:
    """Options for ``bmc``, the password read by a password script from its 0600 file."""
    return ["--ip=127.0.0.1", f"--ipport={port or bmc.port}", "--username=admin",
            f"--password-script=cat {bmc.password_file}", *extra]


def test_status_off_on_reboot_are_verified(bmc: SimBmc) -> None:
    status = run_fence(AGENT, cli(bmc, "-o", "status"))
    assert (status.rc, status.stdout) == (0, "Status: ON\n"), status.stderr

    off = run_fence(AGENT, cli(bmc, "-o", "off"))
    assert (off.rc, off.stdout) == (0, "Success: Powered OFF\n"), off.stderr
    assert bmc.power() == "off" and bmc.control_log() == ["set power 0"]
    assert run_fence(AGENT, cli(bmc, "-o", "status")).rc == 2

    again = run_fence(AGENT, cli(bmc, "-o", "off"))
    assert again.stdout == "Success: Already OFF\n" and bmc.control_log() == ["set power 0"]

    on = run_fence(AGENT, cli(bmc, "-o", "on"))
    assert (on.rc, bmc.power()) == (0, "on"), on.stderr

    reboot = run_fence(AGENT, cli(bmc, "-o", "reboot"))
    assert (reboot.rc, reboot.stdout) == (0, "Success: Rebooted\n"), reboot.stderr
    assert bmc.control_log()[-2:] == ["set power 0", "set power 1"] and bmc.power() == "on"
    assert run_fence(AGENT, cli(bmc, "-o", "monitor")).rc == 0


def test_cycle_method_uses_the_bmc_power_cycle(bmc: SimBmc) -> None:
    result = run_fence(AGENT, cli(bmc, "-o", "reboot", "--method=cycle"))
    assert result.rc == 0, result.stderr
    # ipmi_sim carries out a cycle as off, then on about a second later; the agent
    # sent one command and waited for ON
    assert bmc.control_log() == ["set power 0", "set power 1"] and bmc.power() == "on"


def test_stdin_protocol_as_pacemaker_fenced_speaks_it(bmc: SimBmc) -> None:
    text = (f"action=off\nipaddr=127.0.0.1\nipport={bmc.port}\nlogin=admin\n"
            f"passwd={bmc.password()}\nport=compute-1\nnodename=ctl-1\n"
            "pcmk_host_list=compute-1\ncipher=3\n")
    result = run_fence(AGENT, [], stdin=text)
    assert result.rc == 0 and bmc.power() == "off", result.stderr
    assert "pcmk_host_list" in result.stderr and bmc.password() not in result.stderr


def test_wrong_password_is_a_clear_login_failure(bmc: SimBmc) -> None:
    result = run_fence(AGENT, ["-a", "127.0.0.1", "-u", str(bmc.port), "-l", "admin",
                               "-p", "not-the-password", "-o", "off"])
    assert result.rc == 3
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "login denied: incorrect password" in lines[0]
    assert "not-the-password" not in result.stderr
    assert bmc.power() == "on" and bmc.control_log() == []


def test_unknown_user_and_missing_privilege(bmc: SimBmc) -> None:
    nobody = run_fence(AGENT, ["-a", "127.0.0.1", "-u", str(bmc.port), "-l", "nobody",
                               "-S", f"cat {bmc.password_file}", "-o", "status"])
    assert nobody.rc == 3 and "unknown user 'nobody'" in nobody.stderr
    viewer = run_fence(AGENT, ["-a", "127.0.0.1", "-u", str(bmc.port), "-l", bmc.viewer,
                               "-L", "user", "-S", f"cat {bmc.password_file}", "-o", "off"])
    assert viewer.rc == 11 and "privilege" in viewer.stderr
    assert bmc.power() == "on"


def test_stopped_bmc_fails_within_our_deadline(lab: IpmiLab, bmc: SimBmc) -> None:
    lab.stop_bmc(bmc)
    result = run_fence(AGENT, cli(bmc, "-o", "status", "--login-timeout=2"))
    assert result.rc == 5
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "no answer to the login within 2 s" in lines[0]
    assert result.seconds < 4  # pyghmi alone gives up after ~5 s with the message "None"
    default = run_fence(AGENT, cli(bmc, "-o", "off"))
    assert default.rc == 5 and "None" not in default.stderr
    assert default.seconds < 12


def test_lossy_link_succeeds_or_fails_clearly_within_power_timeout(lab: IpmiLab,
                                                                   bmc: SimBmc) -> None:
    for seed in (1, 2, 3):
        with lab.lossy(bmc, drop=0.1, seed=seed) as port:
            result = run_fence(AGENT, cli(bmc, "-o", "reboot", "--power-timeout=15",
                                          port=port))
        assert result.seconds < 10 + 15 + 15 + 5
        if result.rc == 0:
            assert "set power 0" in bmc.control_log() and bmc.power() == "on"
        else:
            lines = result.stderr.strip().splitlines()
            assert result.rc in (5, 6, 7) and " ERROR: " in lines[-1], result.stderr
            assert "Traceback" not in result.stderr


def test_several_hosts_fenced_at_once_by_separate_processes(lab: IpmiLab) -> None:
    bmcs = [lab.start_bmc(f"host{i}") for i in range(4)]
    argv, extra = fence_agent(AGENT)
    env = {"PATH": "/usr/sbin:/usr/bin:/bin", **extra}
    for action, power in (("off", "off"), ("on", "on"), ("reboot", "on")):
        procs = [subprocess.Popen([*argv, *cli(b, "-o", action)], env=env, text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                 for b in bmcs]
        outcomes = [p.communicate(timeout=60) for p in procs]
        assert [p.returncode for p in procs] == [0] * len(bmcs), outcomes
        assert [b.power() for b in bmcs] == [power] * len(bmcs)
    assert all(b.control_log()[-2:] == ["set power 0", "set power 1"] for b in bmcs)


def test_several_hosts_fenced_at_once_by_threads_of_one_process(lab: IpmiLab) -> None:
    bmcs = [lab.start_bmc(f"host{i}") for i in range(4)]
    errors: list[str] = []
    slowest: list[float] = []

    def fence(bmc: SimBmc) -> None:
        target = BmcTarget("127.0.0.1", bmc.port, "admin", bmc.password())
        try:
            for _ in range(5):
                for want in (False, True):
                    with IpmiClient(target) as client:
                        started = time.monotonic()
                        client.chassis_control(ChassisControl.POWER_ON if want
                                               else ChassisControl.POWER_OFF)
                        if client.power_is_on() != want or (bmc.power() == "on") != want:
                            errors.append(f"{bmc.name}: not {want}")
                        slowest.append(time.monotonic() - started)
        except Exception as error:  # collected for the assertion below
            errors.append(f"{bmc.name}: {error!r}")

    # two threads per BMC: clients of one BMC take turns, others run in parallel
    threads = [threading.Thread(target=fence, args=(b,)) for b in bmcs for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert max(slowest) < 3  # no multi-second lost wake-ups in pyghmi's shared IO loop


def _cmdlines() -> dict[int, bytes]:
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                found[int(entry)] = Path(f"/proc/{entry}/cmdline").read_bytes()
    return found


def test_password_is_never_on_a_command_line(bmc: SimBmc, tmp_path: Path) -> None:
    password = bmc.password().encode()
    script = tmp_path / "slow-password"
    script.write_text(f"#!/bin/sh\nsleep 0.5\nexec cat {bmc.password_file}\n")
    script.chmod(0o700)
    argv, extra = fence_agent(AGENT)
    env = {"PATH": "/usr/sbin:/usr/bin:/bin", **extra}
    runs = [
        ([*cli(bmc), f"--password-script={script}", "-o", "off", "--delay=2"], None),
        ([], f"action=on\nip=127.0.0.1\nipport={bmc.port}\nusername=admin\n"
             f"password={bmc.password()}\ndelay=2\n"),
    ]
    for args, stdin in runs:
        proc = subprocess.Popen([*argv, *args], env=env, text=True, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdin is not None
        proc.stdin.write(stdin or "")
        proc.stdin.close()
        seen: set[int] = set()
        while proc.poll() is None:
            lines = _cmdlines()
            seen.update(lines)
            leaks = [pid for pid, line in lines.items() if password in line]
            assert leaks == [], f"password on the command line of {leaks}"
            time.sleep(0.05)
        assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
        assert proc.pid in seen
    assert bmc.power() == "on"
