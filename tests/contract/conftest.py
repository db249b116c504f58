"""Contract fixtures: the project installed into the real paths, agents listed."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from labs.agents import OCF_DIR, ROOT, install_project

__all__ = ["DTD_DIR", "OCF_DIR", "ROOT", "installed", "need", "ocf_agents"]
DTD_DIR = Path("/usr/share/resource-agents")


def ocf_agents() -> list[str]:
    """Every OCF agent shipped in agents/ (new agents join the suite by existing)."""
    return sorted(p.name for p in (ROOT / "agents").iterdir() if p.is_file())


def need(*tools: str) -> None:
    """Skip unless every tool is on PATH."""
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)} (make test-deps installs them)")


@pytest.fixture(scope="session")
def installed() -> Path:
    """Install the working tree into the real OCF/fence paths once per run (root only)."""
    if os.geteuid() != 0:
        pytest.skip("installing agents into /usr/lib/ocf needs root")
    install_project()
    return OCF_DIR
