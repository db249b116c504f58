"""Agents are exec'd every monitor interval on every node: keep their fast paths light.

``meta-data``, ``validate-all`` and probes of every OCF agent must not import the
heavy client libraries (the fence agents' fast paths: tests/contract/test_fence_agents.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from contract.agent_cases import CASES
from contract.conftest import HEAVY, OCF_DIR, imported_modules, ocf_agents


def _ocf_actions(agent: str, tmp: Path) -> list[tuple[str, dict[str, str], int]]:
    """(action, environment, expected exit code): meta-data, validate-all, a probe."""
    case = CASES[agent]
    values = case.sandbox(tmp) if case.sandbox else case.pcs_params
    # pacemaker-execd names the node in every action it runs
    params = {"OCF_RESKEY_CRM_meta_on_node": "contract-node",
              **{f"OCF_RESKEY_{k}": v for k, v in values.items()}}
    probe = {**params, **case.probe_env, "OCF_RESKEY_CRM_meta_interval": "0"}
    return [("meta-data", {}, 0), ("validate-all", params, 0), ("monitor", probe, 7)]


@pytest.mark.parametrize("agent", ocf_agents())
def test_ocf_fast_paths_import_no_heavy_client(installed: Path, agent: str, tmp_path: Path) -> None:
    for action, env, rc in _ocf_actions(agent, tmp_path):
        heavy = HEAVY & imported_modules([str(OCF_DIR / agent), action], env, rc=rc)
        assert not heavy, f"{agent} {action} imported {sorted(heavy)}"
