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
        (_set("computes.0.bmc.options", {"ip": "x"}),
         "computes[0].bmc.options.ip: set from another inventory field"),
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


# ------------------------------------------------------------ issue 11: secrets (item 1)


@pytest.mark.parametrize(
    ("section", "name"),
    [("nova_evacuate", "password"), ("nova_evacuate", "passwd"),
     ("nova_evacuate", "application_credential_secret"), ("nova_compute", "password"),
     ("nova_compute", "application_credential_secret"), ("fence_nova", "password"),
     ("fence_nova", "application_credential_secret"), ("fence_ipmi", "password"),
     ("fence_ipmi", "passwd")],
)
def test_secret_agent_parameters_are_refused(doc: dict[str, Any], section: str,
                                             name: str) -> None:
    """Issue 11 item 1: a password in agents.<agent>.params would be rendered in clear."""
    doc["agents"] = {section: {"params": {name: "s3cret-value"}}}
    with pytest.raises(InventoryError) as caught:
        parse_inventory(doc)
    message = str(caught.value)
    assert message.startswith(f"agents.{section}.params.{name}: a secret")
    assert "s3cret-value" not in message and "\n" not in message


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (_set("computes.0.bmc.options", {"password": "s3cret-value"}),
         "computes[0].bmc.options.password"),
        (_set("bmc_defaults.options", {"passwd": "s3cret-value"}), "bmc_defaults.options.passwd"),
        (_set("alert", {"options": {"password": "s3cret-value"}}), "alert.options.password"),
    ],
)
def test_secrets_are_refused_wherever_parameters_are_given(
        doc: dict[str, Any], change: Callable[[dict[str, Any]], None], field: str) -> None:
    change(doc)
    with pytest.raises(InventoryError) as caught:
        parse_inventory(doc)
    assert str(caught.value).startswith(f"{field}: a secret")
    assert "s3cret-value" not in str(caught.value)


# ------------------------------------- issue 11: what the agents refuse (item 8)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_set("bmc_defaults.options", {"cipher": 99}),
         "bmc_defaults.options.cipher: fence_ipmi: must be one of 3, 17, not '99'"),
        (_set("computes.0.bmc.options", {"cipher": 99}),
         "computes[0].bmc.options.cipher: fence_ipmi: must be one of 3, 17, not '99'"),
        (_set("computes.0.bmc.options", {"lanplus": 1}),
         "computes[0].bmc.options.lanplus: fence_ipmi has no such parameter"),
        (_set("computes.0.bmc.options", {"power_timout": 30}), "did you mean power_timeout?"),
        (_set("computes.0.bmc.options", {"power_timeout": "soon"}),
         "computes[0].bmc.options.power_timeout: fence_ipmi: must be an integer, not 'soon'"),
        (_set("computes.0.bmc.options", {"privlvl": "root"}),
         "computes[0].bmc.options.privlvl: fence_ipmi: must be one of"),
        (_set("computes.0.bmc.username", "a-much-too-long-user"),
         "computes[0].bmc.username: fence_ipmi: has more than 16 bytes (IPMI limit)"),
        (_set("computes.1.bmc.password_script", "/usr/local/bin/pw 'comp2"),
         "computes[1].bmc.password_script: fence_ipmi: cannot be split into words like a shell "
         "would: no closing quotation"),
        (_set("computes.1.bmc.address", "a" * 300),
         "computes[1].bmc.address: fence_ipmi: is longer than 255 characters"),
        (_set("agents", {"nova_compute": {"params": {"config_files": "'/etc/nova/nova.conf"}}}),
         "agents.nova_compute.params.config_files: NovaCompute: cannot be split into words"),
        (_set("agents", {"fence_ipmi": {"params": {"cipher": "99"}}}),
         "agents.fence_ipmi.params.cipher: fence_ipmi: must be one of 3, 17, not '99'"),
        (_set("agents", {"fence_nova": {"params": {"nova_timeout": 60}}}),
         "agents.fence_nova.params.nova_timeout: fence_nova: must be at most 10, not 60"),
        (_set("agents", {"fence_nova": {"params": {"lanplus": 1}}}),
         "agents.fence_nova.params.lanplus: fence_nova has no such parameter"),
        (_set("agents", {"nova_evacuate": {"params": {"poll_interval": 0}}}),
         "agents.nova_evacuate.params.poll_interval: NovaEvacuate: must be at least 1, not 0"),
        (_set("agents", {"nova_evacuate": {"params": {"insecure": "maybe"}}}),
         "agents.nova_evacuate.params.insecure: NovaEvacuate: must be a boolean"),
        (_set("agents", {"nova_evacuate": {"params": {"metrics_file": "instanceha.prom"}}}),
         "agents.nova_evacuate.params.metrics_file: NovaEvacuate: must be an absolute path "
         "ending in .prom"),
        (_set("agents", {"nova_compute": {"params": {"service_manager": "upstart"}}}),
         "agents.nova_compute.params.service_manager: NovaCompute: must be one of"),
        (_set("agents", {"libvirtd": {"params": {"servce_manager": "auto"}}}),
         "agents.libvirtd.params.servce_manager: libvirtd has no such parameter "
         "(did you mean service_manager?"),
        (_set("agents", {"libvirtd": {"params": {"api_timeout": 100000}}}),
         "agents.libvirtd.params.api_timeout: libvirtd: must be at most 600"),
    ],
)
def test_settings_the_agents_refuse_are_refused_here(
        doc: dict[str, Any], change: Callable[[dict[str, Any]], None], message: str) -> None:
    """Issue 11 item 8: checked with the agents' own parameter declarations."""
    change(doc)
    with pytest.raises(InventoryError) as caught:
        parse_inventory(doc)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_pacemaker_fencing_parameters_and_agent_aliases_pass(doc: dict[str, Any]) -> None:
    doc["agents"] = {"fence_nova": {"params": {"pcmk_delay_max": "5s", "nova_timeout": 5}},
                     "fence_ipmi": {"params": {"pcmk_reboot_timeout": "90s", "method": "cycle"}},
                     "nova_evacuate": {"params": {"endpoint_type": "internal",
                                                  "metrics_file": "/var/lib/prometheus/"
                                                  "node-exporter/instanceha.prom"}}}
    doc["bmc_defaults"]["options"] = {"cipher": 17, "privlvl": "operator", "power_wait": 2}
    inv = parse_inventory(doc)
    assert ("pcmk_delay_max", "5s") in inv.agents.fence_nova
    assert inv.computes[0].bmc.options == (("cipher", "17"), ("privlvl", "operator"),
                                           ("power_wait", "2"))


# ----------------------------------------------- issue 11: duplicate keys (item 9)


def test_duplicate_keys_are_an_error_naming_the_key(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text("cloud: overcloud\ncontrollers: [ctl1]\ncomputes:\n"
                    "  - name: comp1\n    address: 192.0.2.11\n    address: 192.0.2.99\n"
                    "    bmc: {address: 10.0.1.11, username: admin, password_file: /etc/ih/c1}\n")
    with pytest.raises(InventoryError) as caught:
        load_inventory(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and "duplicate key 'address'" in message
    assert "line 6" in message and "line 5" in message and "\n" not in message
    path.write_text("cloud: a\ncloud: b\n")
    with pytest.raises(InventoryError, match="duplicate key 'cloud'"):
        load_inventory(path)


def test_merge_keys_may_still_be_overridden(tmp_path: Path) -> None:
    path = tmp_path / "merge.yaml"
    path.write_text("cloud: overcloud\ncontrollers: [ctl1]\ncomputes:\n"
                    "  - name: comp1\n    address: 192.0.2.11\n"
                    "    bmc: &bmc {username: admin, password_file: /etc/ih/c1,\n"
                    "               address: 10.0.1.11}\n"
                    "  - name: comp2\n    address: 192.0.2.12\n"
                    "    bmc: {<<: *bmc, address: 10.0.1.12, password_file: /etc/ih/c2}\n")
    second = load_inventory(path).computes[1].bmc
    assert (second.address, second.username, second.password_file) == (
        "10.0.1.12", "admin", "/etc/ih/c2")
