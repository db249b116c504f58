"""Every OCF agent against the real tools: xmllint, pcs, ocf-tester."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from contract.agent_cases import CASES
from contract.conftest import DTD_DIR, OCF_DIR, PROBE_PROVIDER, need, ocf_agents

PCS_RNG = Path("/usr/share/pcs/data/ocf-1.1.rng")
AGENTS = ocf_agents()


def _run(argv: list[str], cwd: Path | None = None, stdin: str | None = None,
         timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, input=stdin, capture_output=True, text=True,
                          timeout=timeout, check=False)


def _metadata(agent: str) -> str:
    done = _run([str(OCF_DIR / agent), "meta-data"])
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("agent", AGENTS)
def test_every_agent_has_a_contract_case(agent: str) -> None:
    assert agent in CASES, f"add {agent} to tests/contract/agent_cases.py"


@pytest.mark.parametrize("agent", AGENTS)
def test_metadata_valid_against_ra_api_dtd(installed: Path, agent: str) -> None:
    need("xmllint")
    xml = _metadata(agent)
    as_ocf_tester = _run(["xmllint", "--noout", "--valid", "-"], cwd=DTD_DIR, stdin=xml)
    assert as_ocf_tester.returncode == 0, as_ocf_tester.stderr
    if "[\n" not in xml.split("\n")[1]:  # no OCF 1.1 extension declared: plain DTD must pass
        strict = _run(["xmllint", "--noout", "--dtdvalid", str(DTD_DIR / "ra-api-1.dtd"), "-"],
                      stdin=xml)
        assert strict.returncode == 0, strict.stderr


@pytest.mark.parametrize("agent", AGENTS)
def test_metadata_valid_against_pcs_ocf_1_1_schema(installed: Path, agent: str) -> None:
    need("xmllint")
    if not PCS_RNG.exists():
        pytest.skip("pcs is not installed")
    done = _run(["xmllint", "--noout", "--relaxng", str(PCS_RNG), "-"], stdin=_metadata(agent))
    assert done.returncode == 0, done.stderr


@pytest.mark.integration
@pytest.mark.parametrize("agent", [a for a in AGENTS if CASES.get(a) and CASES[a].ocf_tester])
def test_ocf_tester_passes(installed: Path, agent: str, tmp_path: Path) -> None:
    need("ocf-tester")
    case = CASES[agent]
    params = case.sandbox(tmp_path) if case.sandbox else case.pcs_params
    argv = ["ocf-tester", "-n", f"contract-{agent}"]
    for key, value in params.items():
        argv += ["-o", f"{key}={value}"]
    done = _run([*argv, str(OCF_DIR / agent)], timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{OCF_DIR / agent} passed all tests" in done.stdout


def _pcs_create(cib: Path, agent: str, params: dict[str, str]) -> subprocess.CompletedProcess[str]:
    argv = ["pcs", "-f", str(cib), "resource", "create", f"r-{agent}",
            f"ocf:instanceha:{agent}", *[f"{k}={v}" for k, v in params.items()]]
    return _run(argv)


@pytest.mark.parametrize("agent", AGENTS)
def test_pcs_accepts_valid_parameters_without_force(
    installed: Path, agent: str, tmp_path: Path
) -> None:
    need("pcs")
    cib = tmp_path / "cib.xml"
    done = _pcs_create(cib, agent, CASES[agent].pcs_params)
    assert done.returncode == 0, done.stderr
    config = _run(["pcs", "-f", str(cib), "resource", "config", f"r-{agent}"])
    assert f"provider=instanceha type={agent}" in config.stdout
    for key, value in CASES[agent].pcs_params.items():
        assert f"{key}={value}" in config.stdout


@pytest.mark.parametrize("agent", AGENTS)
def test_pcs_refuses_an_unknown_parameter(installed: Path, agent: str, tmp_path: Path) -> None:
    need("pcs")
    done = _pcs_create(tmp_path / "cib.xml", agent, {**CASES[agent].pcs_params, "bogus": "1"})
    assert done.returncode != 0
    assert "invalid resource option 'bogus'" in done.stderr


#: (resource agent, parameters without the required one, the required one). None of our agents
#: has a required parameter (each has a working default), so the runtime's Probe agent, installed
#: under its own provider, shows what pcs makes of ``required="1"`` as the runtime renders it.
REQUIRED_CASES = [
    *[(f"ocf:instanceha:{a}", CASES[a].pcs_params, CASES[a].required) for a in AGENTS
      if CASES.get(a) and CASES[a].required],
    (f"ocf:{PROBE_PROVIDER}:Probe", {"tries": "3"}, "target"),
]


@pytest.mark.parametrize(("agent", "params", "missing"), REQUIRED_CASES)
@pytest.mark.usefixtures("installed", "probe_installed")
def test_pcs_refuses_a_missing_required_parameter(
    agent: str, params: dict[str, str], missing: str, tmp_path: Path
) -> None:
    need("pcs")
    cib = tmp_path / "cib.xml"
    argv = ["pcs", "-f", str(cib), "resource", "create", "r-required", agent]
    refused = _run([*argv, *[f"{k}={v}" for k, v in params.items() if k != missing]])
    assert refused.returncode != 0
    assert f"required resource option '{missing}' is missing" in refused.stderr
    accepted = _run([*argv, *[f"{k}={v}" for k, v in params.items()], f"{missing}=x"])
    assert accepted.returncode == 0, accepted.stderr


@pytest.mark.parametrize("agent", AGENTS)
def test_pcs_describe_shows_every_parameter(installed: Path, agent: str) -> None:
    need("pcs")
    done = _run(["pcs", "resource", "describe", f"ocf:instanceha:{agent}", "--full"])
    assert done.returncode == 0, done.stderr
    import xml.etree.ElementTree as ET

    root = ET.fromstring(_metadata(agent).split("\n", 2)[2])
    for param in root.iter("parameter"):
        assert param.get("name", "") in done.stdout
