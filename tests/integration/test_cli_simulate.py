"""``instanceha simulate`` end to end on the rendered small inventory (crm_simulate needed).

The JSON of a compute failure with a Nova snapshot is pinned in
``tests/golden/cib/inventory-small.simulate-comp1.json`` (regenerate with
``INSTANCEHA_REGEN_GOLDEN=1``).
"""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path

import pytest

from instanceha.cli.common import Io
from instanceha.cli.main import run

pytestmark = pytest.mark.integration

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "cib"
INVENTORY = str(GOLDEN / "inventory-small.yaml")


@pytest.fixture(autouse=True)
def _crm_simulate() -> None:
    if shutil.which("crm_simulate", path="/usr/sbin:/usr/bin") is None:
        pytest.skip("needs crm_simulate (pacemaker-cli-utils; make test-deps)")


def simulate(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run(["simulate", "-i", INVENTORY, *argv], Io(out, err, {}))
    return code, out.getvalue(), err.getvalue()


def test_compute_failure_with_plan_matches_golden() -> None:
    code, out, err = simulate("--fail", "comp1", "--plan", str(GOLDEN / "snapshot-comp1.json"),
                              "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["kind"] == "remote" and doc["injection"].startswith("--op-inject comp1_monitor_")
    assert doc["fencing"][0]["levels"] == [["fence-hold", "fence-ipmi-comp1", "fence-nova"]]
    plan = doc["plan"]
    assert {d["name"] for d in plan["evacuate"]} == {"db-primary", "web-1"}
    assert {d["name"]: d["reason"].split(":")[0] for d in plan["skip"]} == {
        "scratch": "not protected", "tpm-vm": "not evacuable", "resizing": "not evacuable"}
    assert plan["capacity"]["verdict"] == "does not fit"
    golden = GOLDEN / "inventory-small.simulate-comp1.json"
    text = json.dumps(doc, indent=2, sort_keys=True) + "\n"
    if os.environ.get("INSTANCEHA_REGEN_GOLDEN") == "1":
        golden.write_text(text)
    assert text == golden.read_text()


def test_controller_failure_text() -> None:
    code, out, _ = simulate("--fail", "ctl1")
    assert code == 0
    assert "Failure of ctl1 (cluster node), injected as --node-fail ctl1" in out
    assert "reboot ctl1" in out and "Evacuation plan" not in out


def test_mismatched_snapshot_and_unknown_host() -> None:
    code, _, err = simulate("--fail", "comp2", "--plan", str(GOLDEN / "snapshot-comp1.json"))
    assert code == 3 and "is a snapshot of comp1.example.com, but comp2 is Nova host" in err
    code, _, err = simulate("--fail", "nope")
    assert code == 3 and err.strip().endswith("(nodes: comp1, comp2, comp3, ctl1, ctl2)")
    assert err.count("\n") == 1
