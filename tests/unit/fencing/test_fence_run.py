"""The fence runtime end to end: options, local actions, validation, delays, secrets, errors."""

from __future__ import annotations

import os
import stat
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from instanceha.fencing import ExitCode, FenceError, UsageError
from unit.fencing.fence_fakes import BASE, FABRIC_SPEC, OFF, ON, FakeDevice, Harness

SECRET = "s3cret"


def test_metadata_and_manpage_need_no_parameters_and_no_device() -> None:
    h = Harness()
    meta = h.run("-o", "metadata")
    assert meta.code == 0 and ET.fromstring(meta.stdout).get("name") == "fence_fake"
    assert h.run("-o", "meta-data").stdout == meta.stdout
    assert h.run(stdin="action=metadata\n").stdout == meta.stdout
    man = h.run("--action=manpage")
    assert man.code == 0 and man.stdout.startswith(".TH FENCE_FAKE 8")
    assert h.requests == []


def test_help_and_version() -> None:
    h = Harness()
    usage = h.run("--help")
    assert usage.code == 0 and "--password-script" in usage.stdout and "-n, --plug" in usage.stdout
    version = h.run("-V")
    assert version.code == 0 and version.stdout.startswith("fence_fake ")


def test_validate_all_checks_without_touching_the_device() -> None:
    h = Harness()
    assert h.run(*BASE, "-o", "validate-all").code == 0
    missing = h.run("-a", "h", "-l", "u", "-o", "validate-all")
    assert missing.code == 1
    assert missing.error_lines == [missing.stderr.strip()]
    assert "password" in missing.stderr
    assert h.requests == []


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("--bogus",), "--bogus"),
        (("-a", "h", "-l", "u", "-p", "pw-42", "--ipport=seven"), "ipport"),
        (("-a", "h", "-l", "u", "-p", "pw-42", "--power-timeout=-3"), "power_timeout"),
        (("-l", "u", "-p", "pw-42", "-o", "status"), "'ip'"),
        (("-a", "h", "-l", "u", "-p", "pw-42", "-o", "explode"), "explode"),
        (("-a", "h", "-l", "u", "-p", "pw-42", "--method=twice"), "method"),
        (("-D", "/nonexistent/dir/debug.log", "-o", "status"), "debug"),
    ],
)
def test_bad_input_gives_one_line_and_exit_1(args: tuple[str, ...], needle: str) -> None:
    result = Harness().run(*args)
    assert result.code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert needle in lines[0] and "Traceback" not in result.stderr


def test_no_options_and_no_stdin_is_a_usage_error() -> None:
    result = Harness().run()
    assert result.code == 1 and "no options" in result.stderr


def test_stdin_protocol_with_unknown_keys_logged_and_ignored() -> None:
    h = Harness()
    text = ("action=off\nip=bmc\nusername=admin\npassword=s3cret\nport=node1\nnodename=ctl1\n"
            "pcmk_whatever=1\nbogus_key=topsecretvalue\n")
    result = h.run(stdin=text)
    assert result.code == 0 and result.stdout == "Success: Powered OFF\n"
    assert "bogus_key" in result.stderr and "pcmk_whatever" in result.stderr
    assert "nodename" not in result.stderr and "topsecretvalue" not in result.stderr
    assert h.requests[0].plug == "node1" and h.requests[0].password == SECRET


def test_device_errors_exit_with_their_code_in_one_line() -> None:
    h = Harness(connect_error=FenceError(ExitCode.LOGIN_DENIED, "login denied: bad password"))
    result = h.run(*BASE, "-o", "status")
    assert result.code == ExitCode.LOGIN_DENIED
    assert result.error_lines == result.stderr.strip().splitlines()
    assert "login denied" in result.stderr


def test_unexpected_exceptions_never_print_a_traceback(tmp_path: Path) -> None:
    debug = tmp_path / "debug.log"
    h = Harness(connect_error=RuntimeError(f"boom with {SECRET}"))
    result = h.run(*BASE, "-o", "off", "-D", str(debug))
    assert result.code == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr and "RuntimeError" in result.stderr
    assert SECRET not in result.stderr
    logged = debug.read_text()
    assert "Traceback" in logged and SECRET not in logged


def test_status_exit_codes_through_the_runtime() -> None:
    h = Harness()
    assert h.run(*BASE, "-o", "status").code == 0
    h.device = FakeDevice(h.clock, OFF)
    off = h.run(*BASE, "-o", "status")
    assert off.code == 2 and off.stdout == "Status: OFF\n"


@pytest.mark.parametrize(("action", "delayed"), [
    ("off", True), ("reboot", True), ("on", False), ("status", False), ("monitor", False),
    ("list", False), ("validate-all", False),
])
def test_delay_applies_to_off_and_reboot_only(action: str, delayed: bool) -> None:
    h = Harness()
    result = h.run(*BASE, "--delay=15", "-o", action)
    assert result.code in (0, 2)
    assert (result.elapsed >= 15) is delayed


def test_delay_counts_from_the_start() -> None:
    h = Harness()
    h.validate = lambda _params: h.clock.advance(10)
    result = h.run(*BASE, "--delay=15", "-o", "off")
    assert 15 <= result.elapsed < 16


def test_device_is_closed_even_when_the_action_fails() -> None:
    h = Harness()
    assert h.device is not None
    h.device.stuck = True
    result = h.run(*BASE, "-o", "off", "--power-timeout=2")
    assert result.code == ExitCode.WAITING_OFF and h.device.closed


def test_password_script_supplies_the_password_and_it_is_masked(tmp_path: Path) -> None:
    script = tmp_path / "get pw.sh"
    script.write_text(f"#!/bin/sh\necho '{SECRET}'\necho second-line\n")
    script.chmod(0o700)
    debug = tmp_path / "debug.log"
    h = Harness()
    result = h.run("-a", "bmc", "-l", "u", "-S", f"'{script}' --flag", "-o", "status", "-v",
                   "-D", str(debug))
    assert result.code == 0
    assert h.requests[0].password == SECRET
    assert SECRET not in repr(h.requests[0])
    assert stat.S_IMODE(os.stat(debug).st_mode) == 0o600
    assert SECRET not in debug.read_text() + result.stderr


@pytest.mark.parametrize(("body", "code"), [
    ("exit 3", ExitCode.PASSWORD_MISSING),
    ("true", ExitCode.PASSWORD_MISSING),
])
def test_failing_password_script(tmp_path: Path, body: str, code: ExitCode) -> None:
    script = tmp_path / "pw"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o700)
    result = Harness().run("-a", "bmc", "-l", "u", "-S", str(script), "-o", "status")
    assert result.code == code and "password_script" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_password_script_that_cannot_run() -> None:
    result = Harness().run("-a", "bmc", "-l", "u", "-S", "/nonexistent/pw", "-o", "status")
    assert result.code == 1 and "password_script" in result.stderr


def test_password_given_on_the_command_line_is_masked_in_logs(tmp_path: Path) -> None:
    debug = tmp_path / "d.log"
    h = Harness(validate=lambda params: __import__("logging").getLogger(
        "instanceha.test").warning("password is %s", params.text("password")))
    h.run(*BASE, "-o", "status", "-D", str(debug))
    assert SECRET not in debug.read_text() and "****" in debug.read_text()


def test_an_existing_debug_file_is_made_private(tmp_path: Path) -> None:
    debug = tmp_path / "open.log"
    debug.write_text("")
    debug.chmod(0o644)
    Harness().run(*BASE, "-o", "status", "-D", str(debug))
    assert stat.S_IMODE(debug.stat().st_mode) == 0o600


def test_quiet_silences_stderr() -> None:
    h = Harness(connect_error=FenceError(ExitCode.TIMED_OUT, "no answer"))
    result = h.run(*BASE, "-o", "status", "-q")
    assert result.code == ExitCode.TIMED_OUT and result.stderr == ""


def test_plug_is_ignored_by_single_host_devices_and_required_by_fabric_ones() -> None:
    power = Harness()
    assert power.run(*BASE, "-o", "off").code == 0
    fabric = Harness(spec=FABRIC_SPEC)
    missing = fabric.run("-a", "nova", "-o", "off")
    assert missing.code == 1 and "plug" in missing.stderr
    assert fabric.run("-a", "nova", "-o", "monitor").code == 0
    assert fabric.run("-a", "nova", "-o", "validate-all").code == 0


def test_fabric_defaults_reboot_mapping_and_enable_disable() -> None:
    h = Harness(spec=FABRIC_SPEC)
    assert h.device is not None
    default = h.run("-a", "nova", "-n", "compute-1")
    assert default.code == 0 and h.device.state is OFF and h.requests[-1].action == "off"
    assert h.run("-a", "nova", "-n", "compute-1", "-o", "enable").code == 0
    assert h.device.state is ON
    rebooted = h.run("-a", "nova", "-n", "compute-1", "-o", "reboot")
    assert rebooted.code == 0 and h.device.state is OFF and "Powered OFF" in rebooted.stdout
    assert h.requests[-1].params.integer("power_timeout") == 60


def test_validate_hook_errors_are_reported_like_parameter_errors() -> None:
    def reject(_params: object) -> None:
        raise UsageError("ip must be a BMC, not a toaster")

    result = Harness(validate=reject).run(*BASE, "-o", "validate-all")
    assert result.code == 1 and "toaster" in result.stderr


def test_run_under_pacemaker_fenced_keeps_its_own_timeouts() -> None:
    h = Harness()
    assert h.device is not None
    h.device.stuck = True
    result = h.run(stdin="action=off\nip=b\nusername=u\npassword=p\npower_timeout=4\n",
                   environ={"PCMK_service": "pacemaker-fenced"})
    assert result.code == ExitCode.WAITING_OFF
    assert 4 <= result.elapsed < 5
