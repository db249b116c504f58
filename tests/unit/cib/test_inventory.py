"""Inventory parsing: derived values, and one-line errors that name the field."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from instanceha.cib.inventory import InventoryError, load_inventory, parse_inventory


def test_valid_document_derives_nova_hosts_and_host_map(doc: dict[str, Any]) -> None:
    inv = parse_inventory(doc)
    assert [c.name for c in inv.controllers] == ["ctl1", "ctl2"]
    assert [c.node_id for c in inv.controllers] == ["1", "2"]  # corosync ids in list order
    comp1, comp2 = inv.computes
    assert comp1.nova_host == "comp1.example.com"  # node name + nova.domain
    assert comp2.nova_host == "other-2.example.org"  # explicit
    assert inv.host_map() == "comp2:other-2.example.org"  # only what the domain rule misses
    assert comp1.bmc.username == "admin" and comp1.bmc.port == 623  # bmc_defaults / default
    assert comp1.bmc.password_file == "/etc/ih/comp1" and comp1.bmc.password_script is None
    assert comp2.bmc.password_script == "/usr/local/bin/pw comp2"
    assert inv.compute("other-2.example.org") is comp2 and inv.compute("comp1") is comp1


def test_per_compute_remote_settings_override_the_defaults(doc: dict[str, Any]) -> None:
    doc["remote"] = {"reconnect_interval": "2min", "port": 3122}
    doc["computes"][1]["remote"] = {"reconnect_interval": "30s"}
    first, second = parse_inventory(doc).computes
    assert (first.remote.reconnect_interval, first.remote.port) == ("2min", 3122)
    assert (second.remote.reconnect_interval, second.remote.port) == ("30s", 3122)


def test_agent_params_keep_their_order_and_stringify_scalars(doc: dict[str, Any]) -> None:
    doc["agents"] = {"nova_evacuate": {"params": {"stagger_ms": 100, "insecure": True}}}
    assert parse_inventory(doc).agents.nova_evacuate == (("stagger_ms", "100"),
                                                         ("insecure", "true"))


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def apply(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = doc
        for part in parents:
            node = node[int(part)] if part.isdigit() else node.setdefault(part, {})
        if value is _DELETE:
            del node[last]
        else:
            node[int(last) if last.isdigit() else last] = value
    return apply


_DELETE = object()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_set("cloud", _DELETE), "cloud: required"),
        (_set("clod", "x"), "clod: unknown field"),
        (_set("controllers", []), "controllers: required"),
        (_set("computes", []), "computes: required"),
        (_set("computes.0.address", _DELETE), "computes[0].address: required"),
        (_set("computes.1.name", "1comp"), "computes[1].name: '1comp' is not a valid node name"),
        (_set("computes.1.name", "comp1"), "computes[1].name: node name 'comp1' is also used"),
        (_set("computes.1.name", "ctl1"), "computes[1].name: node name 'ctl1' is also used"),
        (_set("computes.1.address", "192.0.2.11"), "computes[1].address: address '192.0.2.11'"),
        (_set("computes.0.bmc.password_script", "x"),
         "computes[0].bmc.password_file: set password_file or password_script, not both"),
        (_set("computes.0.bmc.password_file", _DELETE), "computes[0].bmc.password_file: required"),
        (_set("computes.0.bmc.password", "s3cret"), "computes[0].bmc.password: not supported"),
        (_set("computes.0.bmc.password_file", "rel/path"), "must be an absolute path"),
        (_set("computes.0.bmc.port", 70000), "computes[0].bmc.port: 70000 is out of range"),
        (_set("computes.0.bmc.adress", "x"), "computes[0].bmc.adress: unknown field"),
        (_set("computes.0.bmc.options", {"password": "x"}),
         "computes[0].bmc.options.password: set from another inventory field"),
        (_set("bmc_defaults", {}), "computes[0].bmc.username: required"),
        (_set("remote", {"reconnect_interval": "soon"}), "remote.reconnect_interval: 'soon'"),
        (_set("remote", {"reconnect_interval": "0s"}),
         "remote.reconnect_interval: must be longer than 0"),
        (_set("computes.1.remote", {"reconnect_interval": "PT0S"}),
         "computes[1].remote.reconnect_interval: must be longer than 0"),
        (_set("evacuation", {"mode": "some"}), "evacuation.mode: 'some' is not one of"),
        (_set("evacuation", {"max_parallel": 0}), "evacuation.max_parallel: 0 is out of range"),
        (_set("evacuation", {"mass_failure_percent": "lots"}), "is not an integer"),
        (_set("agents", {"nova_compute": {"params": {"cloud": "x"}}}),
         "agents.nova_compute.params.cloud: set from another inventory field"),
        (_set("agents", {"nova_compute": {"parms": {}}}), "agents.nova_compute.parms: unknown"),
        (_set("alert", {"path": "alert.sh"}), "alert.path: 'alert.sh' must be an absolute path"),
        (_set("computes.0", "comp1"), "computes[0]: must be a mapping"),
    ],
)
def test_errors_name_the_field(doc: dict[str, Any], change: Callable[[dict[str, Any]], None],
                               message: str) -> None:
    change(doc)
    with pytest.raises(InventoryError) as caught:
        parse_inventory(doc)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_load_reports_the_file_and_yaml_position(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match="no such file"):
        load_inventory(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("cloud: x\ncomputes: [\n")
    with pytest.raises(InventoryError, match=r"bad\.yaml: not valid YAML at line \d+"):
        load_inventory(bad)
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    with pytest.raises(InventoryError, match="empty.yaml: inventory: must be a mapping"):
        load_inventory(empty)


def test_golden_inventory_loads(golden: Path) -> None:
    inv = load_inventory(golden / "inventory-small.yaml")
    assert inv.source.endswith("inventory-small.yaml")
    assert [c.nova_host for c in inv.computes] == [
        "comp1.example.com", "comp2.example.com", "compute-03.example.com"]
    assert inv.controllers[0].bmc is not None and inv.computes[0].bmc.options == (("cipher", "3"),)


def test_the_documented_example_is_valid() -> None:
    yaml = pytest.importorskip("yaml")
    text = (Path(__file__).resolve().parents[3] / "docs" / "inventory.md").read_text()
    example = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    inv = parse_inventory(yaml.safe_load(example))
    assert inv.host_map() == "comp3:compute-03.example.com"
    assert inv.controllers[1].node_id == "2" and inv.computes[1].remote.reconnect_interval == "120s"
