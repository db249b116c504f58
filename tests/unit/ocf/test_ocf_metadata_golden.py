"""OCF metadata and man pages of our agents, held against golden files.

Regenerate the goldens after an intended change with
``INSTANCEHA_REGEN_GOLDEN=1 /usr/bin/python3 -m pytest tests/unit/ocf -q``
and review the diff. Each agent's metadata must also be valid against
resource-agents' ``ra-api-1.dtd`` (what ``ocf-tester`` checks) and
``metadata.rng``; without resource-agents installed these tests fail.
"""

from __future__ import annotations

import importlib
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from instanceha.manpages.ocf import render_manpage
from instanceha.ocf import AgentSpec
from instanceha.ocf.metadata import render_metadata
from unit.golden_files import agent_specs, check_golden

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "ocf"
#: resource-agents' DTD of OCF metadata, and its RELAX NG schema (Debian's resource-agents).
RA_DTD = Path("/usr/share/resource-agents/ra-api-1.dtd")
RA_RNG = Path("/usr/share/resource-agents/metadata.rng")


SPECS = agent_specs("instanceha.agents", AgentSpec)


def _check_golden(name: str, text: str) -> None:
    check_golden(GOLDEN / name, text)


def _etree() -> Any:
    """lxml.etree, which the tests need (python3-lxml), never a reason to skip."""
    return importlib.import_module("lxml.etree")


def _required(path: Path) -> Path:
    assert path.exists(), f"{path} not installed (resource-agents; make test-deps installs it)"
    return path


def test_every_agent_is_held() -> None:
    assert {"NovaCompute", "NovaEvacuate", "libvirtd"} <= set(SPECS)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_metadata_matches_golden(name: str) -> None:
    _check_golden(f"{name}.xml", render_metadata(SPECS[name]))


@pytest.mark.parametrize("name", sorted(SPECS))
def test_manpage_matches_golden(name: str) -> None:
    _check_golden(f"{name}.7", render_manpage(SPECS[name]))


@pytest.mark.parametrize("name", sorted(SPECS))
def test_metadata_structure(name: str) -> None:
    spec = SPECS[name]
    root = ET.fromstring(render_metadata(spec))
    assert root.tag == "resource-agent" and root.get("name") == name
    assert root.findtext("shortdesc") == spec.shortdesc
    params = {p.get("name"): p for p in root.iter("parameter")}
    assert set(params) == {n for p in spec.params for n in (p.name, *p.aliases)}
    for param in spec.params:
        assert params[param.name].get("required") == ("1" if param.required else "0")
    actions = [(a.get("name"), a.get("timeout"), a.get("interval"), a.get("depth"))
               for a in root.iter("action")]
    assert actions == [
        (a.name, f"{a.timeout}s", None if a.interval is None else f"{a.interval}s",
         None if a.depth is None else str(a.depth))
        for a in spec.actions
    ]
    for required in ("start", "stop", "monitor", "meta-data", "validate-all"):
        assert required in spec.action_names(), required


@pytest.mark.parametrize("name", sorted(SPECS))
def test_metadata_is_valid_against_ra_api_dtd(name: str) -> None:
    """As a validating parser reads it: the DOCTYPE names ra-api-1.dtd (plus, for OCF 1.1
    extensions, its own internal subset); the plain DTD must pass when there is none."""
    etree = _etree()
    dtd_path = _required(RA_DTD)
    text = render_metadata(SPECS[name])

    class _Dtd(etree.Resolver):  # type: ignore[misc]
        def resolve(self, url: str, pubid: str, context: object) -> object:
            if Path(url).name == dtd_path.name:
                return self.resolve_filename(str(dtd_path), context)
            return None

    parser = etree.XMLParser(dtd_validation=True, load_dtd=True, no_network=True)
    parser.resolvers.add(_Dtd())
    etree.fromstring(text.encode(), parser)  # raises XMLSyntaxError naming the violation
    if "[\n" not in text.split("\n")[1]:
        dtd = etree.DTD(str(dtd_path))
        assert dtd.validate(etree.fromstring(text.encode())), dtd.error_log


@pytest.mark.parametrize("name", sorted(SPECS))
def test_metadata_is_valid_against_resource_agents_schema(name: str) -> None:
    etree = _etree()
    schema = etree.RelaxNG(file=str(_required(RA_RNG)))
    document = etree.fromstring(render_metadata(SPECS[name]).encode())
    assert schema.validate(document), schema.error_log


def test_dtd_validation_catches_what_the_dtd_forbids() -> None:
    """The check above has teeth: an element the DTD does not declare is refused."""
    etree = _etree()
    dtd = etree.DTD(str(_required(RA_DTD)))
    text = render_metadata(SPECS["libvirtd"]).replace("<parameters>", "<parameters><bogus/>", 1)
    assert not dtd.validate(etree.fromstring(text.encode()))
