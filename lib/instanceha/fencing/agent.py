"""A fence agent's declaration: one table that drives options, metadata, man page and checks."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

from instanceha.fencing import stdparams
from instanceha.spec import Param, ParamSet, Value

__all__ = ["FenceAgentSpec", "PlugUse"]

class PlugUse(enum.Enum):
    """What the ``plug``/``port`` parameter means to an agent."""

    #: The device controls one host (a BMC): the plug is accepted and ignored.
    IGNORED = "ignored"
    #: The plug names the target (a switch port, a Nova compute host): power actions need it.
    REQUIRED = "required"


@dataclass(frozen=True)
class FenceAgentSpec:
    """Everything the fence runtime needs to know about one agent, declared once.

    ``params`` holds the agent's own parameters; ``action``, ``plug``/``port``,
    ``password``/``password_script`` (when ``password`` is true), ``method``
    (when ``cycle`` is true) and the logging and timing parameters
    (:mod:`instanceha.fencing.stdparams`) are added by :attr:`all_params`.
    ``defaults`` overrides the defaults of those standard parameters, for
    example ``{"power_wait": 2}``. ``fabric_fencing`` agents cut a host off
    rather than power it down: no ``reboot``, default action ``off``, and
    ``on`` is automatic (Pacemaker unfences the host when it rejoins).
    ``seconds`` names agent parameters rendered with the ``second`` type.
    """

    name: str
    shortdesc: str
    longdesc: str
    params: ParamSet
    vendor_url: str = ""
    fabric_fencing: bool = False
    plug: PlugUse = PlugUse.IGNORED
    password: bool = True
    cycle: bool = False
    defaults: Mapping[str, Value] = field(default_factory=dict)
    seconds: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if not self.name.startswith("fence_"):
            raise TypeError(f"fence agent name {self.name!r} must start with fence_")
        overridable = {p.name for p in stdparams.runtime_params({})}
        unknown = sorted(set(self.defaults) - overridable)
        if unknown:
            raise TypeError(f"{self.name}: no standard parameter(s) {', '.join(unknown)}")
        _ = self.all_params  # duplicate names fail at declaration time

    @property
    def default_action(self) -> str:
        """``off`` for fabric fencing, ``reboot`` for power fencing."""
        return "off" if self.fabric_fencing else "reboot"

    @property
    def power_actions(self) -> tuple[str, ...]:
        """The actions that change the target's state."""
        return ("on", "off") if self.fabric_fencing else ("on", "off", "reboot")

    @property
    def actions(self) -> tuple[str, ...]:
        """Every action, in metadata order."""
        return (*self.power_actions, "status", "list", "list-status", "monitor",
                "metadata", "manpage", "validate-all")

    def is_seconds(self, name: str) -> bool:
        """Whether a parameter is a duration rendered with the ``second`` type."""
        return name in stdparams.SECONDS or name in self.seconds

    @cached_property
    def all_params(self) -> ParamSet:
        """The agent's parameters plus the standard ones, in metadata order."""
        standard: list[Param] = [stdparams.action_param(self.default_action)]
        standard += list(self.params)
        if self.password:
            standard += [stdparams.PASSWORD, stdparams.PASSWORD_SCRIPT]
        standard.append(stdparams.plug_param(ignored=self.plug is PlugUse.IGNORED))
        if self.cycle:
            standard.append(stdparams.method_param())
        standard += stdparams.runtime_params(self.defaults)
        return ParamSet(tuple(standard))
