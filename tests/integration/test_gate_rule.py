"""The evacuation gate is Pacemaker's: the rendered location rule keeps nova-compute stopped on
a compute whose durable request is set and not ``done:<t>``, and lets it start in the very
transition that follows the evacuator's ``done``. Real crm_simulate and crm_attribute on the
rendered golden inventory; the same rule runs on the live cluster in tests/integration/test_e2e.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from instanceha.cib.inventory import load_inventory
from instanceha.cib.render import render_cib
from instanceha.cib.scheduler import Scheduler
from instanceha.cib.transition import summary_lines
from instanceha.cluster.attribute_names import EVACUATE_ATTRIBUTE
from instanceha.cluster.evacuation import EvacuationRequest

pytestmark = pytest.mark.integration
GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "cib"


@pytest.fixture(scope="module")
def settled(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The golden inventory's CIB, every node up and every resource started."""
    if shutil.which("crm_simulate", path="/usr/sbin:/usr/bin") is None:
        pytest.skip("needs crm_simulate (pacemaker-cli-utils; make test-deps)")
    scheduler = Scheduler(tmp_path_factory.mktemp("gate"))
    return scheduler.bring_up(render_cib(load_inventory(GOLDEN / "inventory-small.yaml"))).cib_text


def _with_request(cib_text: str, tmp: Path, value: str | None) -> Path:
    path = tmp / "cib.xml"
    path.write_text(cib_text)
    if value is not None:
        subprocess.run(["crm_attribute", "-N", "comp1", "-n", EVACUATE_ATTRIBUTE, "-l", "forever",
                        "-v", value], env={**os.environ, "CIB_file": str(path)}, check=True,
                       capture_output=True, timeout=60)  # fmt: skip
    return path


def _transition(tmp: Path, cib: Path) -> list[str]:
    return summary_lines(Scheduler(tmp).transition(cib.read_text()))


@pytest.mark.parametrize("value", [
    EvacuationRequest.requested(1796000000).encode(),
    EvacuationRequest.in_progress("ctl1", 1796000000).encode(),
    "garbage",  # unreadable: held back too, never started blind
])
def test_an_unfinished_evacuation_keeps_nova_compute_off_its_host(
    settled: str, tmp_path: Path, value: str
) -> None:
    lines = _transition(tmp_path, _with_request(settled, tmp_path, value))
    assert any(line.startswith("stop nova-compute") and "comp1" in line for line in lines), lines
    assert not any("comp2" in line or "comp3" in line for line in lines), lines


@pytest.mark.parametrize("value", [EvacuationRequest.done(1796000000).encode(), None])
def test_done_or_no_request_lets_it_run(settled: str, tmp_path: Path, value: str | None) -> None:
    assert _transition(tmp_path, _with_request(settled, tmp_path, value)) == []


def test_it_starts_in_the_transition_after_done(settled: str, tmp_path: Path) -> None:
    held = _with_request(settled, tmp_path, EvacuationRequest.in_progress("ctl1", 1).encode())
    after = tmp_path / "held.xml"
    subprocess.run(["crm_simulate", "-x", str(held), "-S", "-O", str(after)], check=True,
                   capture_output=True, timeout=120)  # fmt: skip
    assert _transition(tmp_path, after) == [], "stays stopped while the evacuation runs"
    subprocess.run(["crm_attribute", "-N", "comp1", "-n", EVACUATE_ATTRIBUTE, "-l", "forever",
                    "-v", EvacuationRequest.done(2).encode()],
                   env={**os.environ, "CIB_file": str(after)}, check=True, capture_output=True,
                   timeout=60)  # fmt: skip
    lines = _transition(tmp_path, after)
    assert any(line.startswith("start nova-compute") and "comp1" in line for line in lines), lines
