"""IpmiClient against a fake pyghmi session layer: deadlines, errors, re-login, per-BMC turns.

A hung BMC is a fake call blocked on an event that only the test's end sets, so a test returns
only through our own deadline (kept short: a bounded wait on the call, never a sleep).
"""

from __future__ import annotations

import socket
import struct
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from instanceha.ipmi import (
    BmcTarget,
    ChassisControl,
    IpmiAuthError,
    IpmiClient,
    IpmiPrivilegeError,
    IpmiProtocolError,
    IpmiSessionLost,
    IpmiTimeout,
    IpmiUnavailable,
    IpmiUnreachable,
    Privilege,
)
from instanceha.ipmi import client as client_module


class FakeIpmiException(Exception):
    """Stands for pyghmi.exceptions.IpmiException."""


class FakeExceptions:
    IpmiException = FakeIpmiException


class FakeBmc:
    """What the fake session talks to; tests script its behaviour."""

    def __init__(self) -> None:
        self.on = True
        self.login_error: BaseException | None = None
        self.login_hangs = False
        self.command_hangs = False
        self.answers: list[dict[str, Any] | BaseException] = []
        self.logout_hangs = False
        #: set when the test ends: every hung call returns then
        self.unhung = threading.Event()
        self.logins: list[dict[str, Any]] = []
        self.commands: list[tuple[int, int, list[int]]] = []
        self.pins: list[tuple[str, int, int | None]] = []


def fake_session_module(bmc: FakeBmc) -> Any:
    class Session:
        def __init__(self, **kwargs: Any) -> None:
            bmc.logins.append(kwargs)
            if bmc.login_hangs:
                bmc.unhung.wait()
            if bmc.login_error is not None:
                raise bmc.login_error

        def logout(self) -> None:
            if bmc.logout_hangs:
                bmc.unhung.wait()

        def raw_command(self, netfn: int, command: int, data: list[int]) -> dict[str, Any]:
            bmc.commands.append((netfn, command, data))
            if bmc.command_hangs:
                bmc.unhung.wait()
            if bmc.answers:
                answer = bmc.answers.pop(0)
                if isinstance(answer, BaseException):
                    raise answer
                return answer
            if command == 2:
                bmc.on = data[0] == 1
                return {"netfn": 1, "command": 2, "data": b""}
            return {"netfn": 1, "command": 1, "data": bytes([0x01 if bmc.on else 0x00, 0, 0])}

    class Module:
        pass

    module = Module()
    module.Session = Session  # type: ignore[attr-defined]
    return module


@pytest.fixture
def bmc(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeBmc]:
    fake = FakeBmc()

    def load(_target: BmcTarget) -> Any:
        return client_module._Pyghmi(fake_session_module(fake), FakeExceptions,
                                     lambda h, p, c: fake.pins.append((h, p, c)))

    monkeypatch.setattr(client_module, "_load_pyghmi", load)
    yield fake
    fake.unhung.set()


TARGET = BmcTarget("10.0.0.9", 6230, "admin", "pässword", Privilege.OPERATOR, cipher=3)


def test_power_round_trip_and_login_arguments(bmc: FakeBmc) -> None:
    with IpmiClient(TARGET) as client:
        assert client.power_is_on()
        client.chassis_control(ChassisControl.POWER_OFF)
        assert not client.power_is_on()
    login = bmc.logins[0]
    assert login["userid"] == b"admin" and login["password"] == "pässword".encode()
    assert login["privlevel"] == 3 and login["port"] == 6230
    assert bmc.pins == [("10.0.0.9", 6230, 3)]
    assert (0, 2, [0]) in bmc.commands


def test_login_deadline_is_ours(bmc: FakeBmc) -> None:
    bmc.login_hangs = True  # pyghmi's own timeout would be seconds; this one never returns
    with pytest.raises(IpmiUnreachable) as raised:
        IpmiClient(TARGET, login_timeout=0.05).open()
    assert "within 0.05 s" in str(raised.value) and "10.0.0.9:6230" in str(raised.value)


@pytest.mark.parametrize(("error", "kind", "needle"), [
    (FakeIpmiException("Incorrect password provided"), IpmiAuthError, "incorrect password"),
    (FakeIpmiException("Unauthorized name in RAKP2"), IpmiAuthError, "unknown user 'admin'"),
    (FakeIpmiException(None), IpmiUnreachable, "no answer"),
    (FakeIpmiException("Invalid role in RAKP2"), IpmiPrivilegeError, "privlvl"),
    (socket.gaierror(-2, "Name or service not known"), IpmiUnreachable, "cannot resolve"),
    (OSError(101, "Network is unreachable"), IpmiUnreachable, "Network is unreachable"),
    (struct.error("pack expected 32 items"), IpmiProtocolError, "error: pack expected"),
])
def test_login_errors_become_typed_errors(bmc: FakeBmc, error: BaseException,
                                          kind: type[Exception], needle: str) -> None:
    bmc.login_error = error
    with pytest.raises(kind) as raised:
        IpmiClient(TARGET).open()
    assert needle in str(raised.value)
    assert "pässword" not in str(raised.value)


def test_insufficient_privilege_answer(bmc: FakeBmc) -> None:
    bmc.answers = [{"error": "Insufficient privilege level", "code": 0xD4}]
    with IpmiClient(TARGET) as client, pytest.raises(IpmiPrivilegeError):
        client.chassis_control(ChassisControl.POWER_OFF)


def test_other_completion_codes_are_protocol_errors(bmc: FakeBmc) -> None:
    bmc.answers = [{"error": "Invalid data field in request", "code": 0xCC}]
    with IpmiClient(TARGET) as client, pytest.raises(IpmiProtocolError) as raised:
        client.chassis_control(ChassisControl.POWER_CYCLE)
    assert "POWER_CYCLE" in str(raised.value)


def test_command_deadline(bmc: FakeBmc) -> None:
    with IpmiClient(TARGET, command_timeout=0.05) as client:
        bmc.command_hangs = True
        with pytest.raises(IpmiTimeout):
            client.power_is_on()


def test_a_lost_session_is_replaced_by_a_new_login(bmc: FakeBmc) -> None:
    with IpmiClient(TARGET) as client:
        bmc.answers = [FakeIpmiException("Session no longer connected")]
        with pytest.raises(IpmiSessionLost):
            client.power_is_on()
        assert client.power_is_on()
    assert len(bmc.logins) == 2


def test_close_is_bounded_when_logout_hangs(bmc: FakeBmc,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_module, "_LOGOUT_TIMEOUT", 0.05)
    client = IpmiClient(TARGET)
    client.open()
    bmc.logout_hangs = True
    client.close()  # returns although the logout never does
    bmc.logout_hangs = False
    with IpmiClient(TARGET, login_timeout=0.05) as after:  # and the BMC's turn is free again
        assert after.power_is_on()


def test_clients_of_one_bmc_take_turns_others_do_not_wait(bmc: FakeBmc) -> None:
    first = IpmiClient(TARGET, login_timeout=0.05)
    first.open()
    try:
        with pytest.raises(IpmiTimeout) as raised:
            IpmiClient(TARGET, login_timeout=0.05).open()
        assert "another operation" in str(raised.value)
        other = BmcTarget("10.0.0.10", 6230, "admin", "pw")
        with IpmiClient(other, login_timeout=0.05) as client:
            assert client.power_is_on()
    finally:
        first.close()
    released = threading.Event()

    def second() -> None:
        with IpmiClient(TARGET, login_timeout=2):
            released.set()

    worker = threading.Thread(target=second)
    worker.start()
    worker.join(5)
    assert released.is_set()


def test_missing_pyghmi_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyghmi", None)
    with pytest.raises(IpmiUnavailable) as raised:
        IpmiClient(TARGET).open()
    assert "pyghmi" in str(raised.value)


def test_target_limits_and_repr() -> None:
    assert "pässword" not in repr(TARGET)
    assert TARGET.label == "10.0.0.9:6230"
    assert BmcTarget("fe80::1", 623).label == "[fe80::1]:623"
    with pytest.raises(ValueError):
        BmcTarget("h", username="u" * 17)
    with pytest.raises(ValueError):
        BmcTarget("h", password="p" * 21)
    with pytest.raises(ValueError):
        BmcTarget("h", cipher=1)
