"""Agents are exec'd every monitor interval on every node: keep their fast paths light.

``meta-data``, ``validate-all`` and probes of every OCF agent, and
``metadata``/``validate-all`` of every fence agent, must not import the heavy
client libraries.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from contract.agent_cases import CASES
from contract.conftest import OCF_DIR, ROOT, ocf_agents

HEAVY = ("novaclient", "keystoneauth1", "pyghmi", "requests", "openstack", "oslo_utils")
FENCE_AGENTS = sorted(p.name for p in (ROOT / "fence").glob("fence_*"))


def _imported(argv: list[str], env: dict[str, str], stdin: str | None = None) -> set[str]:
    full_env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", **env}
    done = subprocess.run(["/usr/bin/python3", "-X", "importtime", *argv], env=full_env,
                          input=stdin, capture_output=True, text=True, timeout=60, check=False)
    modules = set()
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            modules.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    assert modules, f"no import trace from {argv}: {done.stderr[-500:]}"
    return modules


def _ocf_actions(agent: str) -> list[tuple[str, dict[str, str]]]:
    params = {f"OCF_RESKEY_{k}": v for k, v in CASES[agent].pcs_params.items()}
    probe = {**params, **CASES[agent].probe_env, "OCF_RESKEY_CRM_meta_interval": "0"}
    return [("meta-data", {}), ("validate-all", params), ("monitor", probe)]


@pytest.mark.parametrize("agent", ocf_agents())
def test_ocf_fast_paths_import_no_heavy_client(installed: Path, agent: str) -> None:
    for action, env in _ocf_actions(agent):
        heavy = set(HEAVY) & _imported([str(OCF_DIR / agent), action], env)
        assert not heavy, f"{agent} {action} imported {sorted(heavy)}"


@pytest.mark.parametrize("agent", FENCE_AGENTS)
def test_fence_fast_paths_import_no_heavy_client(installed: Path, agent: str) -> None:
    path = f"/usr/sbin/{agent}"
    if not os.path.exists(path):
        pytest.skip(f"{agent} not installed")
    for action in ("metadata", "validate-all"):
        heavy = set(HEAVY) & _imported([path, "-o", action], {})
        assert not heavy, f"{agent} -o {action} imported {sorted(heavy)}"
