"""Golden transition summaries of the rendered CIB (the cts-scheduler pattern).

``tests/golden/cib/<inventory>.<scenario>.summary`` pins what Pacemaker's
scheduler does with the CIB rendered from ``<inventory>.yaml``: the bring-up
(every node unfenced, everything started where the location rules allow) and
one failure per kind of node. Regenerate after an intended change with
``INSTANCEHA_REGEN_GOLDEN=1 /usr/bin/python3 -m pytest tests/integration/test_cib_golden.py``
and review the diff.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from instanceha.cib.inventory import load_inventory
from instanceha.cib.render import render_cib
from instanceha.cib.scheduler import BringUp, Scheduler
from instanceha.cib.transition import Transition, summary_lines

pytestmark = pytest.mark.integration

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "cib"
REGENERATE = os.environ.get("INSTANCEHA_REGEN_GOLDEN") == "1"


def check_golden(name: str, lines: list[str]) -> None:
    """Compare with (or, when regenerating, rewrite) ``tests/golden/cib/<name>``."""
    path = GOLDEN / name
    text = "\n".join(lines) + "\n"
    if REGENERATE or not path.exists():
        path.write_text(text)
        if not REGENERATE:
            pytest.fail(f"{path} did not exist; written, review and commit it")
    assert text == path.read_text(), f"{name} changed (INSTANCEHA_REGEN_GOLDEN=1 updates it)"


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Scheduler, BringUp]:
    if shutil.which("crm_simulate", path="/usr/sbin:/usr/bin") is None:
        pytest.skip("needs crm_simulate (pacemaker-cli-utils; make test-deps)")
    scheduler = Scheduler(tmp_path_factory.mktemp("golden"))
    xml = render_cib(load_inventory(GOLDEN / "inventory-small.yaml"))
    return scheduler, scheduler.bring_up(xml)


def _lines(transition: Transition | None) -> list[str]:
    assert transition is not None
    return summary_lines(transition)


def test_bring_up(small: tuple[Scheduler, BringUp]) -> None:
    _, up = small
    lines = _lines(up.first)
    # Behaviour the summary must show, whatever the golden says:
    # no unfencing: on a live cluster it held back every resource of an unfenceable controller
    assert not any(line.startswith("fence on ") for line in lines)
    assert not any(line.startswith(("start libvirtd", "start nova-compute")) and " on ctl" in line
                   for line in lines)  # exclusive discovery keeps the clones off controllers
    check_golden("inventory-small.bringup.summary", lines)


@pytest.mark.parametrize("host", ["comp1", "comp3", "ctl1"])
def test_failure(small: tuple[Scheduler, BringUp], host: str) -> None:
    scheduler, up = small
    failure = scheduler.fail(host, cib_text=up.cib_text)
    lines = _lines(failure.transition)
    assert lines[0].startswith(f"fence reboot {host}:")
    if failure.kind == "remote":
        assert f"stop {host} on {failure.connection_host}: node availability" in lines
        assert not any(line.startswith("fence reboot comp") and host not in line for line in lines)
    else:  # a controller: connections move, no compute is fenced with it
        assert not any(line.startswith("fence") and "comp" in line for line in lines)
        assert any(line.startswith("move comp") for line in lines)
    check_golden(f"inventory-small.fail-{host}.summary", lines)


@pytest.fixture(scope="module")
def three(tmp_path_factory: pytest.TempPathFactory) -> tuple[Scheduler, BringUp]:
    scheduler = Scheduler(tmp_path_factory.mktemp("golden3"))
    xml = render_cib(load_inventory(GOLDEN / "inventory-three.yaml"))
    return scheduler, scheduler.bring_up(xml)


@pytest.mark.parametrize("host", ["ctl1", "ctl2", "ctl3"])
def test_controller_failure_with_three_controllers(three: tuple[Scheduler, BringUp],
                                                   host: str) -> None:
    """What ``instanceha simulate --fail ctlN`` shows on three controllers: the two others
    fence it and take over whatever it ran (NovaEvacuate, connections, fence devices); no
    compute is fenced, nothing that ran elsewhere moves."""
    scheduler, up = three
    lines = _lines(scheduler.fail(host, cib_text=up.cib_text).transition)
    assert lines[0] == f"fence reboot {host}: peer is no longer part of the cluster"
    assert not any(line.startswith("fence") and "comp" in line for line in lines)
    moved = [line for line in lines if line.startswith("move ")]
    assert all(f" {host} -> " in line for line in moved), moved
    check_golden(f"inventory-three.fail-{host}.summary", lines)


def test_staged_bring_up_reaches_an_equivalent_state(tmp_path: Path) -> None:
    """Bringing computes up in partial clusters (as large CIBs are) settles to the same
    failure behaviour; only which controller runs which connection may differ."""
    scheduler = Scheduler(tmp_path)
    xml = render_cib(load_inventory(GOLDEN / "inventory-small.yaml"))
    staged = scheduler.bring_up(xml, batch=1)
    assert scheduler.verify(staged.cib_text).valid
    for host in ("comp1", "comp3"):
        lines = summary_lines(scheduler.fail(host, cib_text=staged.cib_text).transition)
        golden = GOLDEN / f"inventory-small.fail-{host}.summary"
        assert [line.split(" on ")[0] for line in lines] == [
            line.split(" on ")[0] for line in golden.read_text().splitlines()]
    lines = summary_lines(scheduler.fail("ctl1", cib_text=staged.cib_text).transition)
    assert lines[0] == "fence reboot ctl1: peer is no longer part of the cluster"
    assert not any(line.startswith("fence") and "comp" in line for line in lines)
