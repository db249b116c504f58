"""fence_ipmi's own code: parameters to a BMC target, IPMI errors to fence exit codes."""

from __future__ import annotations

import io
from typing import Any

import pytest

from instanceha.clock import FakeClock
from instanceha.fence import ipmi as fence_ipmi
from instanceha.fencing import ExitCode, FenceError, PowerState, run
from instanceha.ipmi import (
    BmcTarget,
    ChassisControl,
    IpmiAuthError,
    IpmiError,
    IpmiPrivilegeError,
    IpmiProtocolError,
    IpmiSessionLost,
    IpmiTimeout,
    IpmiUnavailable,
    IpmiUnreachable,
    Privilege,
)


class FakeClient:
    """Stands for IpmiClient; records what fence_ipmi asks of it."""

    instances: list[FakeClient] = []

    def __init__(self, target: BmcTarget, *, login_timeout: float, command_timeout: float) -> None:
        self.target = target
        self.login_timeout = login_timeout
        self.command_timeout = command_timeout
        self.on = True
        self.controls: list[ChassisControl] = []
        self.open_error: IpmiError | None = None
        self.closed = False
        FakeClient.instances.append(self)

    def open(self) -> None:
        if self.open_error is not None:
            raise self.open_error

    def power_is_on(self) -> bool:
        return self.on

    def chassis_control(self, operation: ChassisControl) -> None:
        self.controls.append(operation)
        self.on = operation in (ChassisControl.POWER_ON, ChassisControl.POWER_CYCLE)

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def clients(monkeypatch: pytest.MonkeyPatch) -> list[FakeClient]:
    FakeClient.instances = []
    monkeypatch.setattr(fence_ipmi, "IpmiClient", FakeClient)
    return FakeClient.instances


def invoke(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run(fence_ipmi.AGENT, ["fence_ipmi", *args],
               io.StringIO(stdin) if stdin is not None else None, {},
               stdout=out, stderr=err, clock=FakeClock())
    return code, out.getvalue(), err.getvalue()


def test_parameters_become_the_bmc_target(clients: list[FakeClient]) -> None:
    code, out, _ = invoke(stdin="action=reboot\nipaddr=10.0.0.5\nipport=6230\nlogin=admin\n"
                                "passwd=pw\nprivlvl=operator\ncipher=3\nport=compute-1\n"
                                "login_timeout=7\nshell_timeout=2\n")
    assert code == 0 and out == "Success: Rebooted\n"
    client = clients[0]
    assert client.target == BmcTarget("10.0.0.5", 6230, "admin", "pw", Privilege.OPERATOR, 3)
    assert (client.login_timeout, client.command_timeout) == (7, 2)
    assert client.controls == [ChassisControl.POWER_OFF, ChassisControl.POWER_ON]
    assert client.closed


def test_cycle_method(clients: list[FakeClient]) -> None:
    code, _, _ = invoke("-a", "h", "-l", "u", "-p", "pw", "-o", "reboot", "-m", "cycle")
    assert code == 0 and clients[0].controls == [ChassisControl.POWER_CYCLE]


@pytest.mark.parametrize(("error", "code"), [
    (IpmiAuthError("h:623", "login denied: incorrect password"), ExitCode.LOGIN_DENIED),
    (IpmiUnreachable("h:623", "no answer"), ExitCode.TIMED_OUT),
    (IpmiTimeout("h:623", "no answer within 3 s"), ExitCode.TIMED_OUT),
    (IpmiPrivilegeError("h:623", "insufficient privilege"), ExitCode.INVALID_PRIVILEGES),
    (IpmiSessionLost("h:623", "session lost"), ExitCode.CONNECTION_LOST),
    (IpmiUnavailable("h:623", "pyghmi is not installed"), ExitCode.GENERIC_ERROR),
    (IpmiProtocolError("h:623", "struct.error"), ExitCode.GENERIC_ERROR),
])
def test_login_failures_exit_with_fence_agents_codes(
        clients: list[FakeClient], monkeypatch: pytest.MonkeyPatch, error: IpmiError,
        code: ExitCode) -> None:
    real_open = FakeClient.open

    def failing_open(self: FakeClient) -> None:
        self.open_error = error
        real_open(self)

    monkeypatch.setattr(FakeClient, "open", failing_open)
    result, out, err = invoke("-a", "h", "-l", "u", "-p", "pw", "-o", "status")
    assert result == code and out == ""
    assert len(err.strip().splitlines()) == 1 and error.message in err


def test_status_errors_map_to_status_code() -> None:
    class Broken:
        def power_is_on(self) -> bool:
            raise IpmiProtocolError("h:623", "garbled answer")

    device = fence_ipmi.IpmiDevice(Broken())  # type: ignore[arg-type]
    with pytest.raises(FenceError) as raised:
        device.get_power("")
    assert raised.value.code == ExitCode.STATUS and not raised.value.transient


def test_timeouts_are_transient() -> None:
    class Slow:
        def chassis_control(self, _op: Any) -> None:
            raise IpmiTimeout("h:623", "no answer within 3 s")

    device = fence_ipmi.IpmiDevice(Slow())  # type: ignore[arg-type]
    with pytest.raises(FenceError) as raised:
        device.set_power("", PowerState.OFF)
    assert raised.value.transient


@pytest.mark.parametrize(("args", "needle"), [
    (("-a", " ", "-l", "u", "-p", "pw"), "'ip' is empty"),
    (("-a", "h", "-l", "u" * 17, "-p", "pw"), "username"),
    (("-a", "h", "-l", "u", "-p", "p" * 21), "password"),
    (("-a", "h", "-l", "u", "-p", "pw", "-L", "root"), "privlvl"),
    (("-a", "h", "-l", "u", "-p", "pw", "-C", "1"), "cipher"),
])
def test_validate_all_rejects_what_ipmi_cannot_do(clients: list[FakeClient], args: tuple[str, ...],
                                                  needle: str) -> None:
    code, _, err = invoke(*args, "-o", "validate-all")
    assert code == 1 and needle in err and clients == []


def test_validate_all_accepts_a_good_configuration(clients: list[FakeClient]) -> None:
    assert invoke("-a", "h", "-l", "u", "-S", "cat /dev/null", "-o", "validate-all")[0] == 0
    assert clients == []


def test_manpage_and_agent_name() -> None:
    assert fence_ipmi.AGENT_NAME == "fence_ipmi"
    assert fence_ipmi.manpage().startswith(".TH FENCE_IPMI 8")
