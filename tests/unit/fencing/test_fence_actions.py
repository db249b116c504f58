"""The action state machine against a fake device and a fake clock."""

from __future__ import annotations

import pytest

from instanceha.clock import FakeClock
from instanceha.fencing import ExitCode, FenceError, PlugInfo, PowerState
from instanceha.fencing.actions import ActionRunner, Timing
from unit.fencing.fence_fakes import OFF, ON, FakeDevice, timeout_error


def runner(device: FakeDevice, clock: FakeClock, lines: list[str], *, power_wait: float = 0.0,
           power_timeout: float = 20.0, retry_on: int = 1) -> ActionRunner:
    timing = Timing(power_wait=power_wait, power_timeout=power_timeout, status_sleep=1.0,
                    retry_on=retry_on)
    return ActionRunner(device, "node1", timing, clock, lines.append)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_off_when_already_off_changes_nothing(clock: FakeClock) -> None:
    device = FakeDevice(clock, OFF)
    lines: list[str] = []
    assert runner(device, clock, lines).run("off") == ExitCode.OK
    assert lines == ["Success: Already OFF"]
    assert not any(c.startswith("set") for c in device.calls)


def test_on_when_already_on_changes_nothing(clock: FakeClock) -> None:
    device = FakeDevice(clock, ON)
    lines: list[str] = []
    assert runner(device, clock, lines).run("on") == ExitCode.OK
    assert lines == ["Success: Already ON"]


def test_off_is_verified_by_polling(clock: FakeClock) -> None:
    device = FakeDevice(clock, ON, lag=2.5)
    lines: list[str] = []
    assert runner(device, clock, lines).run("off") == ExitCode.OK
    assert device.state is OFF and lines == ["Success: Powered OFF"]
    assert device.calls.count("set off") == 1
    assert device.calls.count("get") > 2


def test_off_never_verified_fails_with_waiting_off_after_power_timeout(clock: FakeClock) -> None:
    device = FakeDevice(clock, ON)
    lines: list[str] = []
    device.stuck = True
    start = clock.monotonic()
    with pytest.raises(FenceError) as raised:
        runner(device, clock, lines, power_timeout=7).run("off")
    assert raised.value.code == ExitCode.WAITING_OFF
    assert "power_timeout=7" in raised.value.message
    assert clock.monotonic() - start == pytest.approx(7, abs=0.01)
    assert lines == []


def test_power_wait_is_waited_after_the_command(clock: FakeClock) -> None:
    device = FakeDevice(clock, ON)
    lines: list[str] = []
    start = clock.monotonic()
    runner(device, clock, lines, power_wait=4).run("off")
    assert clock.monotonic() - start >= 4


def test_on_is_tried_one_plus_retry_on_times(clock: FakeClock) -> None:
    device = FakeDevice(clock, OFF)
    lines: list[str] = []
    device.stuck = True
    with pytest.raises(FenceError) as raised:
        runner(device, clock, lines, retry_on=2, power_timeout=1).run("on")
    assert raised.value.code == ExitCode.WAITING_ON
    assert device.calls.count("set on") == 3


def test_reboot_is_off_verified_then_on(clock: FakeClock) -> None:
    device = FakeDevice(clock, ON, lag=1)
    lines: list[str] = []
    assert runner(device, clock, lines).run("reboot") == ExitCode.OK
    sets = [c for c in device.calls if c.startswith("set")]
    assert sets == ["set off", "set on"]
    assert device.state is ON and lines == ["Success: Rebooted"]


def test_reboot_of_an_off_target_only_powers_on(clock: FakeClock) -> None:
    device = FakeDevice(clock, OFF)
    lines: list[str] = []
    runner(device, clock, lines).run("reboot")
    assert [c for c in device.calls if c.startswith("set")] == ["set on"]


def test_reboot_succeeds_when_power_on_fails_after_a_verified_off(clock: FakeClock) -> None:
    device = FakeDevice(clock, ON)
    lines: list[str] = []
    real_set = device.set_power

    def off_only(plug: str, state: PowerState) -> None:
        if state is ON:
            device.calls.append("set on")
            raise FenceError(ExitCode.GENERIC_ERROR, "chassis refused")
        real_set(plug, state)

    device.set_power = off_only  # type: ignore[method-assign]
    assert runner(device, clock, lines).run("reboot") == ExitCode.OK
    assert device.state is OFF and lines == ["Success: Rebooted"]


def test_reboot_fails_when_off_is_never_verified(clock: FakeClock) -> None:
    device = FakeDevice(clock, ON)
    lines: list[str] = []
    device.stuck = True
    with pytest.raises(FenceError) as raised:
        runner(device, clock, lines, power_timeout=3).run("reboot")
    assert raised.value.code == ExitCode.WAITING_OFF
    assert "set on" not in device.calls


def test_reboot_by_atomic_cycle(clock: FakeClock) -> None:
    device = FakeDevice(clock, OFF)
    lines: list[str] = []
    r = runner(device, clock, lines)
    r.cycle = True
    assert r.run("reboot") == ExitCode.OK
    assert "cycle" in device.calls and not any(c.startswith("set") for c in device.calls)


@pytest.mark.parametrize(("state", "code", "line"), [
    (ON, ExitCode.OK, "Status: ON"), (OFF, ExitCode.STATUS_OFF, "Status: OFF"),
])
def test_status_exit_code(clock: FakeClock, state: PowerState, code: ExitCode, line: str) -> None:
    device = FakeDevice(clock, state)
    lines: list[str] = []
    assert runner(device, clock, lines).run("status") == code
    assert lines == [line]
    assert code != ExitCode.STATUS_OFF or int(code) == 2


def test_status_retries_one_transient_error_then_fails_with_its_code(clock: FakeClock) -> None:
    device = FakeDevice(clock, ON)
    lines: list[str] = []
    device.fail_get = [timeout_error()]
    assert runner(device, clock, lines).run("status") == ExitCode.OK
    device.fail_get = [timeout_error(), timeout_error()]
    with pytest.raises(FenceError) as raised:
        runner(device, clock, lines).run("status")
    assert raised.value.code == ExitCode.TIMED_OUT


def test_transient_errors_while_verifying_are_polled_through(clock: FakeClock) -> None:
    device = FakeDevice(clock, ON)
    lines: list[str] = []
    device.fail_get = [timeout_error()] * 3  # the first status read and two polls
    assert runner(device, clock, lines).run("off") == ExitCode.OK
    assert device.state is OFF


def test_a_command_lost_in_transit_is_sent_again(clock: FakeClock) -> None:
    device = FakeDevice(clock, ON)
    lines: list[str] = []
    device.fail_set = [timeout_error(), timeout_error()]
    assert runner(device, clock, lines).run("off") == ExitCode.OK
    assert device.calls.count("set off") == 3 and device.state is OFF


def test_permanent_errors_end_the_action_at_once(clock: FakeClock) -> None:
    device = FakeDevice(clock, ON)
    lines: list[str] = []
    device.fail_set = [FenceError(ExitCode.INVALID_PRIVILEGES, "insufficient privilege")]
    start = clock.monotonic()
    with pytest.raises(FenceError) as raised:
        runner(device, clock, lines).run("off")
    assert raised.value.code == ExitCode.INVALID_PRIVILEGES
    assert clock.monotonic() == start


def test_list_of_a_single_host_device_checks_it_and_prints_na(clock: FakeClock) -> None:
    device = FakeDevice(clock, ON)
    lines: list[str] = []
    assert runner(device, clock, lines).run("list") == ExitCode.OK
    assert lines == ["N/A"] and "get" in device.calls


def test_list_and_list_status_of_a_multi_plug_device(clock: FakeClock) -> None:
    device = FakeDevice(clock, ON)
    lines: list[str] = []
    device.plugs = {"c1": PlugInfo("compute-1", ON), "c2": PlugInfo("compute-2", None)}
    r = runner(device, clock, lines)
    r.run("list")
    r.run("list-status")
    assert lines == ["c1,compute-1", "c2,compute-2", "c1,compute-1,ON", "c2,compute-2,UNKNOWN"]


def test_monitor_reads_status_or_lists(clock: FakeClock) -> None:
    device = FakeDevice(clock, OFF)
    lines: list[str] = []
    assert runner(device, clock, lines).run("monitor") == ExitCode.OK
    assert device.calls == ["list", "get"] and lines == []
