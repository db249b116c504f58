"""An OCF agent's declaration: name, descriptions, parameters and actions."""

from __future__ import annotations

from dataclasses import dataclass, field

from instanceha.spec import ParamSet

__all__ = ["ActionSpec", "AgentSpec", "PROVIDER"]

#: The OCF provider our agents are installed under (``ocf:instanceha:<Agent>``).
PROVIDER = "instanceha"


@dataclass(frozen=True)
class ActionSpec:
    """One action as advertised in metadata (times in seconds)."""

    name: str
    timeout: int
    interval: int | None = None
    depth: int | None = None
    role: str | None = None
    start_delay: int | None = None


@dataclass(frozen=True)
class AgentSpec:
    """Everything the runtime needs to describe and parse an agent."""

    name: str
    version: str
    shortdesc: str
    longdesc: str
    params: ParamSet = field(default_factory=ParamSet)
    actions: tuple[ActionSpec, ...] = ()

    @property
    def has_reloadable(self) -> bool:
        """True when some parameter may change without a restart (reload-agent)."""
        return any(p.reloadable for p in self.params)

    def action_names(self) -> list[str]:
        """Distinct advertised action names, in declaration order."""
        names: list[str] = []
        for action in self.actions:
            if action.name not in names:
                names.append(action.name)
        return names
