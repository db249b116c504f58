"""Every fence agent in fence/ against the real Pacemaker and pcs tools.

Agents are discovered from ``fence/``: a new agent joins by existing. What is
checked, each through the installed ``/usr/sbin/<agent>`` as pacemaker-fenced
runs it:

* ``-o metadata`` (argv and stdin) is well-formed fence-agents metadata that
  fence-agents' own schema (``metadata.rng``: a failure, never a skip, when it
  is missing) and pcs's schema accept, and ``stonith_admin --metadata`` and ``pcs stonith
  describe`` read it;
* ``pcs -f <cib> stonith create`` accepts valid parameters (and deprecated
  aliases) without ``--force`` and rejects an unknown one naming it;
* ``validate-all`` (directly and through ``stonith_admin --validate``) exits 0
  for valid parameters and 1 with one error line otherwise;
* ``-o metadata`` and ``validate-all`` import no heavy client library.
"""

from __future__ import annotations

import subprocess
import xml.etree.ElementTree as ET
from functools import cache
from pathlib import Path

import pytest

from contract.conftest import HEAVY, ROOT, imported_modules, need

FENCE_AGENTS = sorted(p.name for p in (ROOT / "fence").glob("fence_*"))
PCS_RNG = Path("/usr/share/pcs/data/ocf-1.0.rng")
#: fence-agents' own schema of fence metadata (Debian's fence-agents package).
FENCE_RNG = Path("/usr/share/cluster/relaxng/metadata.rng")
ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C.UTF-8"}

#: Valid parameter sets for agents whose checks go beyond their required parameters.
CASES: dict[str, dict[str, str]] = {
    "fence_ipmi": {"ip": "192.0.2.10", "ipport": "623", "username": "admin",
                   "password": "s3cret-pw", "privlvl": "operator", "cipher": "3",
                   "pcmk_host_list": "compute-1"},
    # debug_file has a deprecated alias (debug): the pcs alias test needs one
    "fence_hold": {"max_unreachable_percent": "50", "max_unreachable_hosts": "0",
                   "probe_timeout": "1", "debug_file": "/dev/null"},
    "fence_nova": {"auth_url": "http://192.0.2.1:5000/v3", "username": "admin",
                   "password": "s3cret-pw", "project_name": "admin",
                   "user_domain_name": "Default", "project_domain_name": "Default"},
}


def sh(argv: list[str], stdin: str | None = None,
       timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, input=stdin, capture_output=True, text=True, env=ENV,
                          timeout=timeout, check=False)


@cache
def metadata(agent: str) -> str:
    done = sh([f"/usr/sbin/{agent}", "-o", "metadata"])
    assert done.returncode == 0, done.stderr
    return done.stdout


def parameters(agent: str) -> dict[str, ET.Element]:
    return {p.get("name", ""): p for p in ET.fromstring(metadata(agent)).iter("parameter")}


def valid_params(agent: str) -> dict[str, str]:
    """The agent's case, else a value for every required parameter (and a password)."""
    if agent in CASES:
        return dict(CASES[agent])
    values = {}
    for name, param in parameters(agent).items():
        content = param.find("content")
        if param.get("required") != "1" or content is None:
            continue
        kind = content.get("type")
        option = content.find("option")
        values[name] = ("1" if kind in ("integer", "second") else "0" if kind == "boolean"
                        else option.get("value", "") if option is not None else "dummy")
    if "password" in parameters(agent):
        values["password"] = "s3cret-pw"
    return values


def agent_params(agent: str) -> dict[str, str]:
    """The valid set without pacemaker's own pcmk_* options."""
    return {k: v for k, v in valid_params(agent).items() if not k.startswith("pcmk_")}


@pytest.fixture
def agent_installed(installed: Path, request: pytest.FixtureRequest) -> str:
    agent = str(request.param)
    if not Path(f"/usr/sbin/{agent}").exists():
        pytest.skip(f"{agent} not installed by make install")
    return agent


pytestmark = pytest.mark.parametrize("agent_installed", FENCE_AGENTS, indirect=True)


def test_metadata_is_fence_agents_format(agent_installed: str) -> None:
    agent = agent_installed
    root = ET.fromstring(metadata(agent))
    assert root.tag == "resource-agent" and root.get("name") == agent and root.get("shortdesc")
    params = parameters(agent)
    assert {"action", "plug", "port", "delay", "power_timeout", "verbose"} <= set(params)
    assert {a.get("name") for a in root.iter("action")} >= {"on", "off", "status", "monitor",
                                                           "metadata", "validate-all"}
    assert sh([f"/usr/sbin/{agent}"], stdin="action=metadata\n").stdout == metadata(agent)
    etree = pytest.importorskip("lxml.etree")
    if PCS_RNG.exists():
        schema = etree.RelaxNG(file=str(PCS_RNG))
        assert schema.validate(etree.fromstring(metadata(agent).encode())), schema.error_log


def test_metadata_is_valid_for_fence_agents_schema(agent_installed: str) -> None:
    assert FENCE_RNG.exists(), f"{FENCE_RNG} missing: apt-get install fence-agents"
    from lxml import etree  # python3-lxml: a test dependency, never skipped here

    schema = etree.RelaxNG(file=str(FENCE_RNG))
    document = etree.fromstring(metadata(agent_installed).encode())
    assert schema.validate(document), schema.error_log


def test_stonith_admin_reads_the_metadata(agent_installed: str) -> None:
    need("stonith_admin")
    done = sh(["stonith_admin", "--metadata", "-a", agent_installed])
    assert done.returncode == 0, done.stderr
    assert ET.fromstring(done.stdout).get("name") == agent_installed


def test_pcs_describes_the_agent(agent_installed: str) -> None:
    need("pcs")
    done = sh(["pcs", "stonith", "describe", agent_installed])
    assert done.returncode == 0, done.stderr
    assert "Stonith options:" in done.stdout


def test_pcs_creates_a_device_without_force(agent_installed: str, tmp_path: Path) -> None:
    need("pcs")
    cib = str(tmp_path / "cib.xml")
    options = [f"{k}={v}" for k, v in valid_params(agent_installed).items()]
    done = sh(["pcs", "-f", cib, "stonith", "create", "dev1", agent_installed, *options])
    assert done.returncode == 0, done.stderr
    created = ET.parse(cib).getroot().find(".//primitive[@id='dev1']")
    assert created is not None and created.get("type") == agent_installed

    bogus = sh(["pcs", "-f", cib, "stonith", "create", "dev2", agent_installed, *options,
                "bogus_option=1"])
    assert bogus.returncode != 0
    assert "bogus_option" in bogus.stderr and "Traceback" not in bogus.stderr


def test_pcs_accepts_deprecated_aliases_with_a_warning(agent_installed: str,
                                                       tmp_path: Path) -> None:
    need("pcs")
    old_name = {name: str(p.get("obsoletes"))
                for name, p in parameters(agent_installed).items() if p.get("obsoletes")}
    options = valid_params(agent_installed)
    aliased = {old_name.get(k, k): v for k, v in options.items()}
    if aliased == options:
        pytest.skip("no deprecated alias among the valid parameters")
    done = sh(["pcs", "-f", str(tmp_path / "cib.xml"), "stonith", "create", "dev1",
               agent_installed, *(f"{k}={v}" for k, v in aliased.items())])
    assert done.returncode == 0, done.stderr
    assert "deprecated" in done.stderr


def test_validate_all_exit_codes(agent_installed: str) -> None:
    agent = agent_installed
    good = "".join(f"{k}={v}\n" for k, v in agent_params(agent).items())
    ok = sh([f"/usr/sbin/{agent}"], stdin=f"action=validate-all\n{good}")
    assert ok.returncode == 0, ok.stderr
    bad = sh([f"/usr/sbin/{agent}"], stdin=f"action=validate-all\n{good}delay=soon\n")
    assert bad.returncode == 1
    assert len(bad.stderr.strip().splitlines()) == 1 and "delay" in bad.stderr
    assert "Traceback" not in bad.stderr
    empty = sh([f"/usr/sbin/{agent}", "-o", "validate-all"])
    assert empty.returncode in (0, 1) and "Traceback" not in empty.stderr


def test_stonith_admin_validate(agent_installed: str) -> None:
    need("stonith_admin")
    options = [arg for k, v in agent_params(agent_installed).items()
               for arg in ("--option", f"{k}={v}")]
    ok = sh(["stonith_admin", "--validate", "--agent", agent_installed, *options])
    assert ok.returncode == 0, ok.stdout + ok.stderr
    bad = sh(["stonith_admin", "--validate", "--agent", agent_installed, *options,
              "--option", "power_timeout=-5"])
    assert bad.returncode != 0 and "power_timeout" in bad.stdout + bad.stderr


def test_fast_paths_import_no_heavy_client(agent_installed: str) -> None:
    agent = f"/usr/sbin/{agent_installed}"
    good = "".join(f"{k}={v}\n" for k, v in agent_params(agent_installed).items())
    for argv, stdin in (([agent, "-o", "metadata"], None),
                        ([agent], "action=metadata\n"),
                        ([agent], f"action=validate-all\n{good}")):
        heavy = HEAVY & imported_modules(argv, ENV, stdin)
        assert not heavy, f"{argv} {stdin!r} imported {sorted(heavy)}"
