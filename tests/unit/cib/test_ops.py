"""Our OCF resources' operations are their agents' action declarations (issue 11 item 17).

The templates take every timeout and interval from the agent's ``SPEC`` (what its
``meta-data`` advertises), so the rendered CIB and the agents can never disagree;
only the inventory's ``nova_compute.start_timeout`` overrides one value.
"""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from instanceha.cib.durations import to_ms
from instanceha.cib.inventory import AGENT_NAMES, InventoryError, load_inventory, parse_inventory
from instanceha.cib.render import (
    OCF_AGENTS,
    RenderError,
    action_key,
    action_values,
    agent_spec,
    render_cib,
)
from instanceha.cib.templates import TemplateError, Templates
from instanceha.ocf import PROVIDER, ActionSpec

#: Actions Pacemaker runs from the configuration's <op> elements (the rest are tools').
_SCHEDULED = ("start", "stop", "monitor")

Op = tuple[str, int, int, int]  # name, interval ms, timeout ms, OCF_CHECK_LEVEL


def _primitive(root: ET.Element, agent: str) -> ET.Element:
    agent_type = AGENT_NAMES[agent]
    found = [p for p in root.iter("primitive")
             if (p.get("class"), p.get("provider"), p.get("type")) == ("ocf", PROVIDER, agent_type)]
    assert len(found) == 1, agent
    return found[0]


def _ops(primitive: ET.Element) -> list[Op]:
    ops = []
    for op in primitive.iterfind("operations/op"):
        level = {p.get("name"): p.get("value")
                 for p in op.iterfind("instance_attributes/nvpair")}.get("OCF_CHECK_LEVEL", "0")
        ops.append((op.get("name", ""), to_ms(op.get("interval", "0")),
                    to_ms(op.get("timeout", "")), int(level or "0")))
    return ops


def _declared(agent: str) -> list[Op]:
    return [(a.name, (a.interval or 0) * 1000, a.timeout * 1000, a.depth or 0)
            for a in agent_spec(agent).actions if a.name in _SCHEDULED]


def _inventories(golden: Path, doc: dict[str, Any]) -> list[ET.Element]:
    return [ET.fromstring(render_cib(load_inventory(golden / "inventory-small.yaml"))),
            ET.fromstring(render_cib(parse_inventory(doc)))]


@pytest.mark.parametrize("agent", sorted(OCF_AGENTS))
def test_every_op_is_the_agents_declaration(golden: Path, doc: dict[str, Any],
                                            agent: str) -> None:
    for root in _inventories(golden, doc):
        assert _ops(_primitive(root, agent)) == _declared(agent)


@pytest.mark.parametrize("agent", sorted(OCF_AGENTS))
def test_op_ids_follow_their_interval_like_pcs(golden: Path, doc: dict[str, Any],
                                               agent: str) -> None:
    primitive = _primitive(_inventories(golden, doc)[0], agent)
    rid = primitive.get("id")
    for op in primitive.iterfind("operations/op"):
        assert op.get("id") == f"{rid}-{op.get('name')}-interval-{op.get('interval')}"
        for nvset in op.iterfind("instance_attributes"):
            assert nvset.get("id") == f"{op.get('id')}-instance_attributes"


def test_every_ocf_agent_of_the_inventory_has_its_ops_from_its_spec() -> None:
    assert set(OCF_AGENTS) == {a for a in AGENT_NAMES if not a.startswith("fence_")}


def test_start_timeout_overrides_only_nova_computes_start(doc: dict[str, Any]) -> None:
    doc["agents"] = {"nova_compute": {"start_timeout": "1h"}}
    root = ET.fromstring(render_cib(parse_inventory(doc)))
    expected = [("start", 0, 3_600_000, 0) if name == "start" else (name, i, t, d)
                for name, i, t, d in _declared("nova_compute")]
    assert _ops(_primitive(root, "nova_compute")) == expected
    for agent in ("libvirtd", "nova_evacuate"):
        assert _ops(_primitive(root, agent)) == _declared(agent)


def test_without_start_timeout_the_agents_own_is_rendered(doc: dict[str, Any]) -> None:
    doc["agents"] = {"nova_compute": {"params": {}}}
    assert parse_inventory(doc).agents.nova_compute_start_timeout is None
    root = ET.fromstring(render_cib(parse_inventory(doc)))
    start = _primitive(root, "nova_compute").find("operations/op[@name='start']")
    assert start is not None
    assert start.get("timeout") == action_values(agent_spec("nova_compute").actions)[
        "start_timeout"]


def test_a_start_timeout_that_is_no_duration_is_refused(doc: dict[str, Any]) -> None:
    doc["agents"] = {"nova_compute": {"start_timeout": "soon"}}
    with pytest.raises(InventoryError, match=r"^agents\.nova_compute\.start_timeout: "):
        parse_inventory(doc)


@pytest.mark.parametrize("agent", sorted(OCF_AGENTS))
def test_failures_add_up_before_failure_timeout_forgets_them(golden: Path, agent: str) -> None:
    """The templates' comments: failure-timeout exceeds a failed start plus the stop after it
    (with the declared start timeout), so migration-threshold is reached."""
    root = ET.fromstring(render_cib(load_inventory(golden / "inventory-small.yaml")))
    primitive = _primitive(root, agent)
    holder = next((c for c in root.iter("clone") if primitive in list(c)), primitive)
    meta = {p.get("name"): p.get("value", "") for p in holder.iterfind("meta_attributes/nvpair")}
    ops = {name: timeout for name, _, timeout, _ in _declared(agent) if name != "monitor"}
    assert to_ms(meta["failure-timeout"]) > ops["start"] + ops["stop"], agent


def test_action_placeholders_are_named_by_action_and_depth() -> None:
    actions = (ActionSpec("start", 60), ActionSpec("monitor", 30, interval=10, depth=0),
               ActionSpec("monitor", 45, interval=60, depth=10), ActionSpec("meta-data", 5))
    assert [action_key(a) for a in actions] == ["start", "monitor", "monitor_depth10",
                                                "meta_data"]
    assert action_values(actions) == {
        "start_timeout": "60s", "start_interval": "0s",
        "monitor_timeout": "30s", "monitor_interval": "10s",
        "monitor_depth10_timeout": "45s", "monitor_depth10_interval": "60s",
        "meta_data_timeout": "5s", "meta_data_interval": "0s",
    }


def test_two_actions_for_one_placeholder_are_refused() -> None:
    with pytest.raises(RenderError, match="two monitor actions at depth 0"):
        action_values((ActionSpec("monitor", 30, interval=10), ActionSpec("monitor", 20, 5)))


def test_a_template_op_the_agent_does_not_declare_is_an_error(
        doc: dict[str, Any], tmp_path: Path) -> None:
    shutil.copytree(Templates().directory, tmp_path, dirs_exist_ok=True)
    template = tmp_path / "libvirtd.xml.in"
    template.write_text(template.read_text().replace("monitor_depth10_timeout",
                                                     "monitor_depth20_timeout"))
    with pytest.raises(TemplateError, match="libvirtd.xml.in: placeholder "
                                            "monitor_depth20_timeout has no value"):
        render_cib(parse_inventory(doc), templates=Templates(tmp_path))
