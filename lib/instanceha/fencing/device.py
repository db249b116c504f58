"""What an agent supplies: device primitives, and the request it builds them from.

The runtime owns the semantics (idempotence, reboot as off + on, verification,
delays, exit codes); a device only answers "what is the power state of this
plug" and "set it", and optionally lists its plugs or power-cycles at once.
Primitives raise :class:`~instanceha.fencing.codes.FenceError` with the right
code; transient ones are retried by the runtime within ``power_timeout``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from instanceha.clock import Clock
from instanceha.fencing.codes import ExitCode, FenceError
from instanceha.spec import Params

__all__ = ["FenceDevice", "FenceRequest", "PlugInfo", "PowerState"]


class PowerState(enum.Enum):
    """A target's power (or fabric access) state."""

    ON = "on"
    OFF = "off"


@dataclass(frozen=True)
class PlugInfo:
    """One plug of a listing: a human alias and, when known, its state."""

    alias: str = ""
    state: PowerState | None = None


@dataclass(frozen=True)
class FenceRequest:
    """One validated invocation, handed to the agent's ``connect``.

    ``password`` is the resolved secret (from ``password`` or ``password_script``),
    or None for agents without one. ``environ`` is the environment the runtime was
    given (credentials may come from its ``OS_*`` variables). Neither appears in ``repr``.
    """

    action: str
    plug: str
    params: Params
    clock: Clock
    password: str | None = field(default=None, repr=False)
    environ: Mapping[str, str] = field(default_factory=dict, repr=False)


class FenceDevice:
    """Base class of an agent's device: override :meth:`get_power` and :meth:`set_power`."""

    def get_power(self, plug: str) -> PowerState:
        """The plug's current state.

        :raises FenceError: when the device cannot tell.
        """
        raise NotImplementedError

    def set_power(self, plug: str, state: PowerState) -> None:
        """Ask the device to change the plug's state (the runtime verifies it).

        :raises FenceError: when the device refused or did not answer.
        """
        raise NotImplementedError

    def list_plugs(self) -> Mapping[str, PlugInfo] | None:
        """Every plug the device controls, or None for a single-host device."""
        return None

    def cycle(self, plug: str) -> None:
        """One atomic power cycle (only called for agents declaring ``cycle``).

        :raises FenceError: when the device refused or did not answer.
        """
        raise FenceError(ExitCode.GENERIC_ERROR, "this device cannot power-cycle")

    def close(self) -> None:
        """Release the connection; must not raise and should not block for long."""
