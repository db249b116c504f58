"""Per-agent inputs for the contract suite: valid parameters and test setups.

Every agent in agents/ must have an entry; the suite fails for one that has not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


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


def libvirtd_sandbox(tmp: Path) -> dict[str, str]:
    """libvirtd parameters that keep a test daemon's sockets under ``tmp``."""
    sock_dir = tmp / "libvirt-run"
    sock_dir.mkdir(exist_ok=True)
    config = tmp / "libvirtd.conf"
    config.write_text(f'unix_sock_dir = "{sock_dir}"\n')
    return {
        "config": str(config),
        "pidfile": str(tmp / "libvirtd.pid"),
        "socket": str(sock_dir / "libvirt-sock"),
        "uri": f"qemu:///system?socket={sock_dir}/libvirt-sock-ro",
        "service_manager": "direct",
    }


CASES: dict[str, AgentCase] = {
    "libvirtd": AgentCase(pcs_params={"service_manager": "auto", "api_timeout": "5"}),
}
