"""What Pacemaker tells an agent invocation through its environment.

The runtime (:mod:`instanceha.ocf.run`) reads the process environment once and
builds the :class:`Context` from it; handlers take what they need from the
context (its clock, its environment mapping), never from ``os.environ`` or
``time``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from instanceha.clock import Clock, SystemClock

__all__ = ["DEFAULT_TIMEOUT_S", "Context", "raw_params"]

#: Used when Pacemaker did not pass a timeout (manual runs, ocf-tester without one).
DEFAULT_TIMEOUT_S = 20.0
_RESKEY = "OCF_RESKEY_"
_META = "OCF_RESKEY_CRM_meta_"
#: Keys pacemaker-execd adds to every action that are not instance parameters.
_PACEMAKER_KEYS = frozenset({"OCF_RESKEY_crm_feature_set"})


def raw_params(environ: Mapping[str, str]) -> dict[str, str]:
    """Instance parameters from ``OCF_RESKEY_<name>`` (meta attributes excluded)."""
    return {
        key[len(_RESKEY):]: value
        for key, value in environ.items()
        if key.startswith(_RESKEY)
        and not key.startswith(_META)
        and key not in _PACEMAKER_KEYS
    }


def _ms(environ: Mapping[str, str], name: str) -> int | None:
    raw = environ.get(_META + name, "").strip()
    try:
        return int(raw) if raw else None
    except ValueError:
        return None


@dataclass(frozen=True)
class Context:
    """One invocation: action, resource instance, interval, deadline, depth.

    ``clock`` is the time the handlers use (deadlines are its monotonic time);
    ``started`` defaults to the clock's time of construction. ``environ`` is the
    environment the runtime was given (empty when built by hand): credentials
    may come from its ``OS_*`` variables. Neither shows in ``repr``.
    """

    action: str
    instance: str = ""
    interval_ms: int | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S
    check_level: int = 0
    on_node: str = ""
    rsctmp: str = "/run/resource-agents"
    started: float = math.nan  # NaN: the clock's time when the context is built
    clock: Clock = field(default_factory=SystemClock, repr=False, compare=False)
    environ: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if math.isnan(self.started):
            object.__setattr__(self, "started", self.clock.monotonic())

    @classmethod
    def from_environ(cls, action: str, environ: Mapping[str, str],
                     clock: Clock | None = None) -> Context:
        """Build the context from the environment pacemaker-execd sets (kept as ``environ``)."""
        timeout_ms = _ms(environ, "timeout")
        level = environ.get("OCF_CHECK_LEVEL", "0").strip() or "0"
        return cls(
            action=action,
            instance=environ.get("OCF_RESOURCE_INSTANCE", ""),
            interval_ms=_ms(environ, "interval"),
            timeout_s=timeout_ms / 1000.0 if timeout_ms else DEFAULT_TIMEOUT_S,
            check_level=int(level) if level.isdigit() else 0,
            on_node=environ.get("OCF_RESKEY_CRM_meta_on_node", ""),
            rsctmp=environ.get("HA_RSCTMP", "/run/resource-agents"),
            clock=clock or SystemClock(),
            environ=environ,
        )

    @property
    def is_probe(self) -> bool:
        """A one-shot monitor (interval 0 or unset): Pacemaker's state discovery."""
        return self.action == "monitor" and not self.interval_ms

    @property
    def margin_s(self) -> float:
        """Time kept back to report a clean answer before Pacemaker's own timeout."""
        return min(2.0, self.timeout_s * 0.1)

    @property
    def deadline(self) -> float:
        """Monotonic time by which the action must have answered."""
        return self.started + self.timeout_s - self.margin_s

    def remaining(self) -> float:
        """Seconds left before :attr:`deadline` (never negative)."""
        return max(0.0, self.deadline - self.clock.monotonic())
