"""Fence metadata in fence-agents' format, held against golden files.

Regenerate the goldens after an intended change with
``INSTANCEHA_REGEN_GOLDEN=1 /usr/bin/python3 -m pytest tests/unit/fencing -q``
and review the diff.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from instanceha.fencing import FenceAgentSpec
from instanceha.fencing.metadata import render_metadata
from instanceha.manpages.fence import render_manpage
from unit.fencing.fence_fakes import FABRIC_SPEC, POWER_SPEC
from unit.golden_files import agent_specs, check_golden

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "fence"
PCS_RNG = Path("/usr/share/pcs/data/ocf-1.0.rng")
#: fence-agents' own schema of its metadata (Debian's fence-agents package).
FENCE_RNG = Path("/usr/share/cluster/relaxng/metadata.rng")


SPECS = {**agent_specs("instanceha.fence", FenceAgentSpec), POWER_SPEC.name: POWER_SPEC,
         FABRIC_SPEC.name: FABRIC_SPEC}


def _check_golden(name: str, text: str) -> None:
    check_golden(GOLDEN / name, text)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_metadata_matches_golden(name: str) -> None:
    _check_golden(f"{name}.xml", render_metadata(SPECS[name]))


@pytest.mark.parametrize("name", sorted(agent_specs("instanceha.fence", FenceAgentSpec)))
def test_manpage_matches_golden(name: str) -> None:
    _check_golden(f"{name}.8", render_manpage(SPECS[name]))


@pytest.mark.parametrize("name", sorted(SPECS))
def test_metadata_structure(name: str) -> None:
    spec = SPECS[name]
    root = ET.fromstring(render_metadata(spec))
    assert root.tag == "resource-agent" and root.get("name") == name
    assert root.get("shortdesc") == spec.shortdesc
    params = {p.get("name"): p for p in root.iter("parameter")}
    for required in ("action", "plug", "port", "delay", "power_timeout", "power_wait",
                     "login_timeout", "retry_on", "verbose", "debug_file"):
        assert required in params, required
    for param in spec.all_params:
        for alias in param.aliases:
            assert params[param.name].get("obsoletes") == param.aliases[0]
            assert params[alias].get("deprecated") == "1"
            assert params[alias].get("required") == "0"
    for timing in ("delay", "power_timeout", "power_wait", "login_timeout"):
        assert params[timing].find("content").get("type") == "second"  # type: ignore[union-attr]
    assert params["action"].find("content").get("default") == spec.default_action  # type: ignore[union-attr]
    actions = {a.get("name"): a for a in root.iter("action")}
    assert set(actions) == set(spec.actions)
    assert actions["on"].get("automatic") == ("1" if spec.fabric_fencing else "0")
    assert ("reboot" in actions) is not spec.fabric_fencing
    if spec.password:
        assert "password_script" in params and "passwd" in params
        assert params["password"].find("content").get("default") is None  # type: ignore[union-attr]


def test_text_is_escaped() -> None:
    root = ET.fromstring(render_metadata(POWER_SPEC))
    assert root.get("shortdesc") == "Fake power fencing <test> & co"


@pytest.mark.parametrize("name", sorted(SPECS))
def test_metadata_is_valid_for_pcs(name: str) -> None:
    etree = pytest.importorskip("lxml.etree")
    if not PCS_RNG.exists():
        pytest.skip(f"{PCS_RNG} not installed (pcs)")
    schema = etree.RelaxNG(file=str(PCS_RNG))
    document = etree.fromstring(render_metadata(SPECS[name]).encode())
    assert schema.validate(document), schema.error_log


@pytest.mark.parametrize("name", sorted(SPECS))
def test_metadata_is_valid_for_fence_agents(name: str) -> None:
    etree = pytest.importorskip("lxml.etree")
    if not FENCE_RNG.exists():
        pytest.skip(f"{FENCE_RNG} not installed (fence-agents); tests/contract requires it")
    schema = etree.RelaxNG(file=str(FENCE_RNG))
    document = etree.fromstring(render_metadata(SPECS[name]).encode())
    assert schema.validate(document), schema.error_log


@pytest.mark.parametrize("name", sorted(agent_specs("instanceha.fence", FenceAgentSpec)))
def test_long_texts_stay_in_the_man_page(name: str) -> None:
    spec = SPECS[name]
    page = render_manpage(spec)
    for param in spec.all_params:
        if param.longdesc:
            first_words = " ".join(param.longdesc.split()[:4])
            assert first_words in " ".join(page.replace("\\", "").split()), param.name
