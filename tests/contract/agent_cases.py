"""Per-agent inputs for the contract suite: valid parameters and test setups.

Every agent in agents/ must have an entry; the suite fails for one that has not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from labs.agents import libvirtd_sandbox


@dataclass(frozen=True)
class AgentCase:
    """How to exercise one agent."""

    #: Parameters a valid ``pcs resource create`` uses (no --force needed).
    pcs_params: dict[str, str]
    #: A required parameter to leave out to see pcs refuse, if the agent has one.
    required: str | None = None
    #: Whether ocf-tester can run the full start/stop cycle on this machine.
    ocf_tester: bool = True
    #: Parameters for ocf-tester from a scratch directory (default: pcs_params).
    sandbox: Callable[[Path], dict[str, str]] | None = None
    #: Extra environment for probes (import budget).
    probe_env: dict[str, str] = field(default_factory=dict)


CASES: dict[str, AgentCase] = {
    "libvirtd": AgentCase(pcs_params={"service_manager": "auto", "api_timeout": "5"},
                          sandbox=libvirtd_sandbox),
    # Explicit credentials resolve without contacting Keystone; a real cloud is not needed
    # for the start/monitor/stop cycle: the worker only talks to Nova when there is work.
    "NovaEvacuate": AgentCase(
        pcs_params={"auth_url": "http://127.0.0.1:5000/v3", "username": "admin",
                    "password": "contract-pw", "project_name": "admin",
                    "user_domain_name": "Default", "project_domain_name": "Default",
                    "evacuation_mode": "tagged", "max_parallel": "4", "poll_interval": "2"},
    ),
    # Starting nova-compute needs the Nova lab: proven by the end-to-end tests instead.
    "NovaCompute": AgentCase(
        pcs_params={"cloud": "instanceha-lab", "domain": "example.com",
                    "service_manager": "direct", "binary": "/bin/true"},
        ocf_tester=False,
    ),
}
