"""Metadata rendering: structure, escaping, OCF 1.1 extensions only when used."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from instanceha.manpages.ocf import render_manpage
from instanceha.ocf import ActionSpec, AgentSpec
from instanceha.ocf.metadata import render_metadata
from instanceha.spec import Param, ParamSet, ParamType
from unit.ocf.probe_agent import SPEC


def _parse(xml: str) -> ET.Element:
    return ET.fromstring(xml.split("\n", 2)[2])


def test_parameters_render_with_types_defaults_and_flags() -> None:
    root = _parse(render_metadata(SPEC))
    assert root.get("name") == "Probe"
    assert root.findtext("version") == "1.1"
    params = {p.get("name"): p for p in root.iter("parameter")}
    assert params["target"].get("required") == "1" and params["target"].get("unique") == "1"
    tries = params["tries"].find("content")
    assert tries is not None and tries.get("type") == "integer" and tries.get("default") == "2"
    behaviour = params["behaviour"]
    content = behaviour.find("content")
    assert content is not None and content.get("type") == "string"
    assert "Allowed values: ok, crash, missing, configured." in (
        behaviour.findtext("longdesc") or ""
    )


def test_special_characters_are_escaped() -> None:
    xml = render_metadata(SPEC)
    assert "&lt;tags&gt; &amp; ampersands" in xml


def test_actions_carry_second_suffixes() -> None:
    root = _parse(render_metadata(SPEC))
    monitor = next(a for a in root.iter("action") if a.get("name") == "monitor")
    assert monitor.get("timeout") == "20s" and monitor.get("interval") == "10s"


def test_secret_defaults_are_never_rendered() -> None:
    spec = AgentSpec("S", "1", "s", "l", ParamSet((Param("pw", "p", secret=True, default="x"),)))
    assert 'default="x"' not in render_metadata(spec)


def test_plain_agents_use_the_bare_dtd_and_reloadable_ones_declare_the_extension() -> None:
    assert "[\n" not in render_metadata(SPEC).split("\n")[1]
    spec = AgentSpec(
        "R", "1", "s", "l",
        ParamSet((Param("n", "n", type=ParamType.INTEGER, default=1, minimum=0, maximum=9,
                         reloadable=True),)),
        (ActionSpec("reload-agent", 10),),
    )
    xml = render_metadata(spec)
    assert '<!ATTLIST parameter reloadable (0|1) "0">' in xml
    assert 'reloadable="1"' in xml


def test_aliases_render_as_deprecated_parameters() -> None:
    spec = AgentSpec("A", "1", "s", "l", ParamSet((Param("password", "p", aliases=("passwd",)),)))
    root = _parse(render_metadata(spec))
    alias = next(p for p in root.iter("parameter") if p.get("name") == "passwd")
    assert alias.findtext("shortdesc") == "Deprecated: use password"


def test_manpage_lists_every_parameter_and_action() -> None:
    page = render_manpage(SPEC)
    assert page.startswith(".TH OCF_INSTANCEHA_PROBE 7")
    for name in ("target", "password", "tries", "behaviour"):
        assert f"\\fB{name}\\fR" in page
    assert "monitor: timeout 20s, interval 10s" in page
