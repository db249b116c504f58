"""A scriptable fake fence device and agents built on it, for the fence runtime's unit tests."""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from instanceha.clock import FakeClock
from instanceha.fencing import (
    ExitCode,
    FenceAgent,
    FenceAgentSpec,
    FenceDevice,
    FenceError,
    FenceRequest,
    PlugInfo,
    PlugUse,
    PowerState,
    run,
    stdparams,
)
from instanceha.spec import ParamSet

ON, OFF = PowerState.ON, PowerState.OFF


class FakeDevice(FenceDevice):
    """Power that follows commands after ``lag`` seconds of fake time.

    ``fail_get``/``fail_set`` hold errors raised by the next calls (consumed in
    order); ``stuck`` makes commands accepted but never carried out.
    """

    def __init__(self, clock: FakeClock, state: PowerState = ON, lag: float = 0.0) -> None:
        self.clock = clock
        self.state = state
        self.lag = lag
        self.pending: tuple[float, PowerState] | None = None
        self.stuck = False
        self.fail_get: list[FenceError] = []
        self.fail_set: list[FenceError] = []
        self.calls: list[str] = []
        self.plugs: Mapping[str, PlugInfo] | None = None
        self.closed = False

    def _settle(self) -> None:
        if self.pending and self.clock.monotonic() >= self.pending[0]:
            self.state = self.pending[1]
            self.pending = None

    def get_power(self, plug: str) -> PowerState:
        self.calls.append("get")
        if self.fail_get:
            raise self.fail_get.pop(0)
        self._settle()
        return self.state

    def set_power(self, plug: str, state: PowerState) -> None:
        self.calls.append(f"set {state.value}")
        if self.fail_set:
            raise self.fail_set.pop(0)
        if not self.stuck:
            self.pending = (self.clock.monotonic() + self.lag, state)
            self._settle()

    def list_plugs(self) -> Mapping[str, PlugInfo] | None:
        self.calls.append("list")
        return self.plugs

    def cycle(self, plug: str) -> None:
        self.calls.append("cycle")
        self.state = ON

    def close(self) -> None:
        self.closed = True


def timeout_error() -> FenceError:
    """A transient failure, as a device reports a command without answer."""
    return FenceError(ExitCode.TIMED_OUT, "no answer within 3 s")


POWER_SPEC = FenceAgentSpec(
    name="fence_fake",
    shortdesc="Fake power fencing <test> & co",
    longdesc="Fences nothing; the runtime's test double.",
    vendor_url="https://example.invalid/fake",
    params=ParamSet((stdparams.IP, stdparams.ipport(4242), stdparams.USERNAME)),
    cycle=True,
)

FABRIC_SPEC = FenceAgentSpec(
    name="fence_fabric",
    shortdesc="Fake fabric fencing",
    longdesc="Cuts a named host off; on unfences it.",
    params=ParamSet((stdparams.IP,)),
    fabric_fencing=True,
    plug=PlugUse.REQUIRED,
    password=False,
    defaults={"power_timeout": 60, "shell_timeout": 30},
)


@dataclass
class Harness:
    """Runs an agent built on a :class:`FakeDevice` and keeps what happened."""

    spec: FenceAgentSpec = POWER_SPEC
    clock: FakeClock = field(default_factory=FakeClock)
    device: FakeDevice | None = None
    requests: list[FenceRequest] = field(default_factory=list)
    connect_error: BaseException | None = None
    validate: Callable[..., None] | None = None

    def __post_init__(self) -> None:
        if self.device is None:
            self.device = FakeDevice(self.clock)

    def _connect(self, request: FenceRequest) -> FenceDevice:
        self.requests.append(request)
        if self.connect_error is not None:
            raise self.connect_error
        assert self.device is not None
        return self.device

    def run(self, *args: str, stdin: str | None = None,
            environ: Mapping[str, str] | None = None) -> Result:
        """Run with ``args`` on the command line, or ``stdin`` lines when no args."""
        out, err = io.StringIO(), io.StringIO()
        agent = FenceAgent(self.spec, self._connect, self.validate)
        started = self.clock.monotonic()
        code = run(agent, [self.spec.name, *args],
                   io.StringIO(stdin) if stdin is not None else None,
                   environ or {}, stdout=out, stderr=err, clock=self.clock)
        return Result(code, out.getvalue(), err.getvalue(), self.clock.monotonic() - started)


@dataclass(frozen=True)
class Result:
    """Exit code, output and the fake time an invocation took."""

    code: int
    stdout: str
    stderr: str
    elapsed: float

    @property
    def error_lines(self) -> list[str]:
        """stderr lines logged at ERROR."""
        return [line for line in self.stderr.splitlines() if " ERROR: " in line]


BASE = ("-a", "bmc.example", "-l", "admin", "-p", "s3cret")
