"""The fence action state machine, on top of an agent's device primitives.

Semantics of ClusterLabs fence-agents' ``fence_action``:

* ``off``/``on`` read the state first; a target already there is a success
  ("Success: Already OFF"). Otherwise the command is sent, ``power_wait``
  waited, and the state polled until it matches or ``power_timeout`` runs out
  (exit 7/6). ``on`` is tried ``1 + retry_on`` times.
* ``reboot`` is off, verified, then on (``retry_on`` tries, at least one). Once
  the target was verified off the host *is* fenced, so a failed power-on is
  only a warning and the reboot still succeeds. With ``method=cycle`` the
  device's atomic power cycle is used instead (then ON is awaited, but the
  off phase cannot be verified).
* ``status`` prints ``Status: ON|OFF`` and exits 0 or 2; ``monitor`` checks
  that the device answers; ``list``/``list-status`` print ``plug,alias`` and
  ``plug,alias,STATE`` lines (``N/A`` for single-host devices).

Transient device errors (lost connection, timeout) while verifying do not end
the action: the command is re-sent if it never went through, and polling goes
on until ``power_timeout``. Time goes through the injected clock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from instanceha.clock import Clock
from instanceha.fencing.codes import ExitCode, FenceError
from instanceha.fencing.device import FenceDevice, PowerState
from instanceha.spec import Params

__all__ = ["ActionRunner", "Timing"]

_LOG = logging.getLogger("instanceha.fencing")
_FIRST_POLL_INTERVAL = 0.1


@dataclass(frozen=True)
class Timing:
    """The timing parameters of one invocation, in seconds."""

    power_wait: float = 0.0
    power_timeout: float = 20.0
    status_sleep: float = 1.0
    retry_on: int = 1

    @classmethod
    def from_params(cls, params: Params) -> Timing:
        """Read ``power_wait``, ``power_timeout``, ``stonith_status_sleep``, ``retry_on``."""
        return cls(
            power_wait=float(params.integer("power_wait")),
            power_timeout=float(params.integer("power_timeout")),
            status_sleep=float(params.integer("stonith_status_sleep")),
            retry_on=params.integer("retry_on"),
        )


@dataclass
class ActionRunner:
    """Runs one action against one device and plug; ``out`` receives stdout lines."""

    device: FenceDevice
    plug: str
    timing: Timing
    clock: Clock
    out: Callable[[str], None]
    separator: str = ","
    cycle: bool = False

    def run(self, action: str) -> ExitCode:
        """Perform ``action`` and return the exit code.

        :raises FenceError: on a failure, with the code to exit with.
        """
        handlers: dict[str, Callable[[], ExitCode]] = {
            "on": self._on,
            "off": self._off,
            "reboot": self._reboot,
            "status": self._status,
            "monitor": self._monitor,
            "list": lambda: self._list(with_status=False),
            "list-status": lambda: self._list(with_status=True),
        }
        handler = handlers.get(action)
        if handler is None:
            raise FenceError(ExitCode.GENERIC_ERROR, f"Unrecognised action '{action}'")
        return handler()

    # -- actions -----------------------------------------------------------

    def _read(self) -> PowerState:
        """The current state; one more try after a transient error."""
        try:
            return self.device.get_power(self.plug)
        except FenceError as failed:
            if not failed.transient:
                raise
            _LOG.warning("status: %s; trying once more", failed.message)
        return self.device.get_power(self.plug)

    def _probe(self) -> PowerState | None:
        """The state before a power change; None when the device did not answer in time."""
        try:
            return self.device.get_power(self.plug)
        except FenceError as failed:
            if not failed.transient:
                raise
            _LOG.warning("status before the power change: %s; going ahead", failed.message)
            return None

    def _status(self) -> ExitCode:
        state = self._read()
        self.out(f"Status: {state.value.upper()}")
        return ExitCode.OK if state is PowerState.ON else ExitCode.STATUS_OFF

    def _monitor(self) -> ExitCode:
        if self.device.list_plugs() is None:
            self._read()
        return ExitCode.OK

    def _list(self, with_status: bool) -> ExitCode:
        plugs = self.device.list_plugs()
        if plugs is None:
            self._read()  # the device answers; a single-host device has nothing to list
            self.out("N/A")
            return ExitCode.OK
        for name, info in plugs.items():
            fields = [name, info.alias]
            if with_status:
                fields.append(info.state.value.upper() if info.state else "UNKNOWN")
            self.out(self.separator.join(fields))
        return ExitCode.OK

    def _off(self) -> ExitCode:
        if self._probe() is PowerState.OFF:
            self.out("Success: Already OFF")
            return ExitCode.OK
        self._switch(PowerState.OFF, attempts=1)
        self.out("Success: Powered OFF")
        return ExitCode.OK

    def _on(self) -> ExitCode:
        if self._probe() is PowerState.ON:
            self.out("Success: Already ON")
            return ExitCode.OK
        self._switch(PowerState.ON, attempts=1 + self.timing.retry_on)
        self.out("Success: Powered ON")
        return ExitCode.OK

    def _reboot(self) -> ExitCode:
        if self.cycle:
            _LOG.info("power-cycling %s", self.plug or "the target")
            self.device.cycle(self.plug)
            try:
                verified, _ = self._set_and_verify(PowerState.ON, send=False)
            except FenceError as failed:
                verified = False
                _LOG.warning("reboot: status after the power cycle: %s", failed.message)
            if not verified:
                _LOG.warning("reboot: power cycle accepted, but the target did not report ON "
                             "within power_timeout")
            self.out("Success: Rebooted")
            return ExitCode.OK
        if self._probe() is not PowerState.OFF:
            self._switch(PowerState.OFF, attempts=1)
        try:
            self._switch(PowerState.ON, attempts=max(1, self.timing.retry_on))
        except FenceError as failed:
            # the target was verified off: it is fenced, whatever happens next
            _LOG.warning("reboot: the target is fenced (verified off) but did not power "
                         "on again: %s", failed.message)
        self.out("Success: Rebooted")
        return ExitCode.OK

    # -- power change with verification ------------------------------------

    def _switch(self, target: PowerState, attempts: int) -> None:
        """Set ``target`` and verify it, up to ``attempts`` times.

        :raises FenceError: WAITING_ON/WAITING_OFF when never verified, or the
            device's own error when it is not transient.
        """
        last: FenceError | None = None
        for attempt in range(1, attempts + 1):
            _LOG.info("powering %s %s (attempt %d of %d)", self.plug or "the target",
                      target.value.upper(), attempt, attempts)
            verified, last = self._set_and_verify(target)
            if verified:
                return
        code = ExitCode.WAITING_OFF if target is PowerState.OFF else ExitCode.WAITING_ON
        why = f": {last.message}" if last else ""
        raise FenceError(code, f"Timed out waiting to power {target.value.upper()} "
                               f"(not verified within power_timeout="
                               f"{self.timing.power_timeout:g}s){why}")

    def _set_and_verify(self, target: PowerState,
                        send: bool = True) -> tuple[bool, FenceError | None]:
        deadline = self.clock.monotonic() + self.timing.power_wait + self.timing.power_timeout
        interval = min(_FIRST_POLL_INTERVAL, self.timing.status_sleep)
        must_send = send
        last: FenceError | None = None
        while True:
            if must_send:
                try:
                    self.device.set_power(self.plug, target)
                    must_send = False
                    self.clock.sleep(self.timing.power_wait)
                except FenceError as failed:
                    if not failed.transient:
                        raise
                    last = failed
                    _LOG.warning("power %s command: %s; verifying and retrying",
                                 target.value, failed.message)
            try:
                state = self.device.get_power(self.plug)
                if state is target:
                    return True, None
                _LOG.debug("still %s, waiting for %s", state.value, target.value)
            except FenceError as failed:
                if not failed.transient:
                    raise
                last = failed
                _LOG.warning("status while verifying: %s", failed.message)
            left = deadline - self.clock.monotonic()
            if left <= 0:
                return False, last
            self.clock.sleep(min(interval, left))
            interval = min(interval * 2, self.timing.status_sleep)
