"""Per-agent inputs for the contract suite: valid parameters and test setups.

Every agent in agents/ must have an entry; the suite fails for one that has not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from labs.agents import cloud_params, libvirtd_sandbox


def compute_sandbox(tmp: Path) -> dict[str, str]:
    """NovaCompute parameters with its configuration file and pid file under ``tmp``."""
    config = tmp / "nova.conf"
    config.write_text("[DEFAULT]\n")
    return {"domain": "example.com", "binary": "/bin/true", "service_manager": "direct",
            "config_files": str(config), "pidfile": str(tmp / "nova-compute.pid")}


@dataclass(frozen=True)
class AgentCase:
    """How to exercise one agent."""

    #: Parameters a valid ``pcs resource create`` uses (no --force needed).
    pcs_params: dict[str, str]
    #: A required parameter to leave out to see pcs refuse, if the agent has one.
    required: str | None = None
    #: Whether ocf-tester can run the full start/stop cycle on this machine.
    ocf_tester: bool = True
    #: Parameters that work on this machine from a scratch directory, for ocf-tester and the
    #: import budget (default: pcs_params).
    sandbox: Callable[[Path], dict[str, str]] | None = None
    #: Extra environment for probes (import budget).
    probe_env: dict[str, str] = field(default_factory=dict)


CASES: dict[str, AgentCase] = {
    "libvirtd": AgentCase(pcs_params={"service_manager": "auto", "api_timeout": "5"},
                          sandbox=libvirtd_sandbox),
    # A clouds.yaml resolves without contacting Keystone; a real cloud is not needed for the
    # start/monitor/stop cycle: the worker only talks to Nova when there is work.
    "NovaEvacuate": AgentCase(
        pcs_params={"cloud": "contract", "clouds_yaml": "/etc/instanceha/clouds.yaml",
                    "evacuation_mode": "tagged", "max_parallel": "4", "poll_interval": "2"},
        sandbox=lambda tmp: {**cloud_params(tmp, "contract"), "evacuation_mode": "tagged",
                             "poll_interval": "2", "state_dir": str(tmp / "evacuator")},
    ),
    # Starting nova-compute needs the Nova lab: proven by the end-to-end tests instead.
    "NovaCompute": AgentCase(
        pcs_params={"cloud": "instanceha-lab", "domain": "example.com",
                    "service_manager": "direct", "binary": "/bin/true"},
        ocf_tester=False,
        sandbox=lambda tmp: {**cloud_params(tmp, "contract"), **compute_sandbox(tmp)},
    ),
}
