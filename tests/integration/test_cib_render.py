"""Rendered CIBs pass the installed Pacemaker's RNG schema and crm_verify with nodes up."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from instanceha.cib.inventory import load_inventory, parse_inventory
from instanceha.cib.render import RenderOptions, render_cib
from instanceha.cib.scheduler import Scheduler
from instanceha.cib.schema import newest_schema, validate
from instanceha.cli.common import Io
from instanceha.cli.main import run

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden" / "cib"


@pytest.fixture(autouse=True)
def _pacemaker() -> None:
    if shutil.which("crm_verify", path="/usr/sbin:/usr/bin") is None:
        pytest.skip("needs pacemaker-cli-utils and pacemaker's schemas (make test-deps)")
    pytest.importorskip("lxml", reason="needs python3-lxml (make test-deps)")


def inventory(computes: int) -> dict[str, Any]:
    """A generated inventory: 3 controllers with BMCs, ``computes`` computes."""
    return {
        "cloud": "overcloud",
        "controllers": [{"name": f"ctl{i}", "bmc": {"address": f"10.0.0.{i}",
                                                     "password_file": f"/etc/ih/ctl{i}"}}
                        for i in (1, 2, 3)],
        "bmc_defaults": {"username": "admin", "options": {"cipher": 3}},
        "evacuation": {"mode": "all", "reserved_hosts": ["compute-0"]},
        "computes": [
            {"name": f"compute-{i}", "address": f"192.0.{2 + i // 250}.{1 + i % 250}",
             "bmc": {"address": f"10.1.{i // 250}.{1 + i % 250}",
                     "password_file": f"/etc/ih/compute-{i}"}}
            for i in range(computes)
        ],
    }


@pytest.mark.parametrize("source", ["small", "generated-20"])
def test_schema_and_crm_verify(source: str, tmp_path: Path) -> None:
    inv = (load_inventory(GOLDEN / "inventory-small.yaml") if source == "small"
           else parse_inventory(inventory(20)))
    schema = newest_schema()
    xml = render_cib(inv, options=RenderOptions(validate_with=schema))
    assert validate(xml, schema).valid
    scheduler = Scheduler(tmp_path)
    up = scheduler.bring_up(xml)
    verdict = scheduler.verify(up.cib_text)
    assert verdict.valid, verdict.errors
    # Everything runs where it should once the cluster is up.
    up_file = tmp_path / "up.xml"
    up_file.write_text(up.cib_text)
    kinds, running = scheduler.status(["-x", str(up_file)])
    computes = sorted(c.name for c in inv.computes)
    assert sorted(n for n, k in kinds.items() if k == "remote") == computes
    assert sorted(running["libvirtd"]) == computes == sorted(running["nova-compute"])
    assert running["nova-evacuate"][0] in {c.name for c in inv.controllers}
    assert all(running[f"fence-ipmi-{c}"] for c in computes)


def test_verify_rejects_a_cib_without_fencing(tmp_path: Path) -> None:
    root = ET.fromstring(render_cib(load_inventory(GOLDEN / "inventory-small.yaml")))
    resources = root.find("configuration/resources")
    constraints = root.find("configuration/constraints")
    topology = root.find("configuration/fencing-topology")
    assert resources is not None and constraints is not None and topology is not None
    for el in [r for r in resources if r.get("class") == "stonith"]:
        resources.remove(el)
    for el in [c for c in constraints if (c.get("rsc") or "").startswith("fence")]:
        constraints.remove(el)
    for el in list(topology):
        topology.remove(el)
    path = tmp_path / "nofence.xml"
    path.write_text(ET.tostring(root, encoding="unicode"))
    out, err = io.StringIO(), io.StringIO()
    assert run(["cib", "verify", str(path)], Io(out, err, {})) == 1
    assert "no STONITH resources have been defined" in err.getvalue()


def test_render_command_end_to_end(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "lib"))
    argv = [str(ROOT / "bin" / "instanceha"), "cib", "render",
            "-i", str(GOLDEN / "inventory-small.yaml")]
    xml = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120, check=True)
    assert ET.fromstring(xml.stdout).tag == "cib"
    assert "crm_verify: valid" in xml.stderr
    target = tmp_path / "secret.xml"
    secret_dir = tmp_path / "pw"
    secret_dir.mkdir()
    doc = inventory(2)
    for c in doc["computes"] + doc["controllers"]:
        c["bmc"]["password_file"] = str(secret_dir / c["name"])
        (secret_dir / c["name"]).write_text(f"pw-{c['name']}\n")
    inv_file = tmp_path / "inv.yaml"
    import yaml

    inv_file.write_text(yaml.safe_dump(doc))
    subprocess.run([*argv[:3], "-i", str(inv_file), "--include-secrets", "-o", str(target),
                    "--no-verify"], env=env, timeout=120, check=True, capture_output=True)
    assert target.stat().st_mode & 0o777 == 0o600
    assert 'name="password" value="pw-compute-1"' in target.read_text()
    refused = subprocess.run([*argv, "--include-secrets"], env=env, timeout=60,
                             capture_output=True, text=True, check=False)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1


def test_a_large_inventory_is_verified_in_parts(tmp_path: Path) -> None:
    """Issue 11 item 10: crm_verify grows with the square of the CIB's size (1,000 computes
    took nearly three minutes whole, 10,000 never finished); it now runs on parts of 50."""
    import yaml

    inv_file = tmp_path / "inv.yaml"
    inv_file.write_text(yaml.safe_dump(inventory(1000)))
    env = dict(os.environ, PYTHONPATH=str(ROOT / "lib"))
    done = subprocess.run([str(ROOT / "bin" / "instanceha"), "cib", "render", "-i", str(inv_file),
                           "-o", str(tmp_path / "cib.xml")], capture_output=True, text=True,
                          env=env, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    assert "crm_verify: 1000 computes checked in 20 parts of at most 50" in done.stderr
    assert "crm_verify: valid" in done.stderr


def test_parts_still_catch_a_mistake_in_one_compute(tmp_path: Path) -> None:
    root = ET.fromstring(render_cib(parse_inventory(inventory(120)),
                                    options=RenderOptions(validate_with=newest_schema())))
    ops = root.find("configuration/resources/primitive[@id='compute-77']/operations")
    assert ops is not None
    ET.SubElement(ops, "op", id="compute-77-monitor-again", name="monitor", interval="10s",
                  timeout="30s")
    path = tmp_path / "cib.xml"
    path.write_text(ET.tostring(root, encoding="unicode"))
    out, err = io.StringIO(), io.StringIO()
    assert run(["cib", "verify", str(path)], Io(out, err, {})) == 1
    assert "120 computes checked in 3 parts" in err.getvalue()
    assert "Operation compute-77-monitor-again is duplicate" in err.getvalue()
