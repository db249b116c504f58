"""Per-agent inputs for the contract suite: valid parameters and test setups.

Every agent in agents/ must have an entry; the suite fails for one that has not.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class AgentCase:
    """How to exercise one agent."""

    #: Parameters a valid ``pcs resource create`` uses (no --force needed).
    pcs_params: dict[str, str]
    #: A required parameter to leave out to see pcs refuse, if the agent has one.
    required: str | None = None
    #: Whether ocf-tester can run the full start/stop cycle on this machine.
    ocf_tester: bool = True
    #: Extra environment for probes (import budget).
    probe_env: dict[str, str] = field(default_factory=dict)


CASES: dict[str, AgentCase] = {
    "libvirtd": AgentCase(pcs_params={"service_manager": "auto", "api_timeout": "5"}),
}
