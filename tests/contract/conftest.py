"""Contract fixtures: the project installed into the real paths, agents listed."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from labs.agents import OCF_DIR, ROOT, install_project

__all__ = ["DTD_DIR", "HEAVY", "OCF_DIR", "PROBE_PROVIDER", "ROOT", "imported_modules", "installed",
           "need", "ocf_agents", "probe_installed"]
DTD_DIR = Path("/usr/share/resource-agents")
#: Client libraries an agent's fast paths (metadata, validate-all, probes) must not import.
HEAVY = frozenset({"novaclient", "keystoneauth1", "pyghmi", "requests", "openstack", "oslo_utils"})
#: Provider the runtime's test agent (tests/unit/ocf/probe_agent.py) is installed under.
PROBE_PROVIDER = "instanceha-contract"


def ocf_agents() -> list[str]:
    """Every OCF agent shipped in agents/ (new agents join the suite by existing)."""
    return sorted(p.name for p in (ROOT / "agents").iterdir() if p.is_file())


def imported_modules(argv: list[str], env: dict[str, str], stdin: str | None = None,
                     rc: int = 0) -> set[str]:
    """Top-level modules ``argv`` imported under ``/usr/bin/python3``; it must answer ``rc``."""
    full_env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", **env}
    done = subprocess.run(["/usr/bin/python3", "-X", "importtime", *argv], env=full_env,
                          input=stdin, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == rc, f"{argv} answered {done.returncode}: {done.stderr[-500:]}"
    modules = {line.rsplit("|", 1)[1].strip().split(".")[0]
               for line in done.stderr.splitlines()
               if line.startswith("import time:") and "|" in line}
    assert modules, f"no import trace from {argv}: {done.stderr[-500:]}"
    return modules


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


@pytest.fixture(scope="session")
def probe_installed(installed: Path) -> Iterator[Path]:
    """The runtime's Probe agent as ``ocf:instanceha-contract:Probe``, removed afterwards."""
    provider = installed.parent / PROBE_PROVIDER
    provider.mkdir(exist_ok=True)
    shim = provider / "Probe"
    source = ROOT / "tests" / "unit" / "ocf" / "probe_agent.py"
    shim.write_text(f'#!/bin/sh\nexec /usr/bin/python3 {shlex.quote(str(source))} "$@"\n')
    shim.chmod(0o755)
    try:
        yield shim
    finally:
        shutil.rmtree(provider, ignore_errors=True)
