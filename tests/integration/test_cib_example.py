"""docs/examples/inventory.yaml, the inventory a user starts from (issue 11 item 24): it renders,
passes the schema and crm_verify, and ``make install`` ships it (uninstall removes it)."""

from __future__ import annotations

import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from instanceha.cib.inventory import load_inventory

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs" / "examples" / "inventory.yaml"
INSTALLED = Path("usr/share/doc/instanceha/examples/inventory.yaml")


def _instanceha(*argv: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "lib"))
    return subprocess.run([str(ROOT / "bin" / "instanceha"), *argv], capture_output=True,
                          text=True, env=env, timeout=300, check=False)


def test_the_example_renders_and_passes_crm_verify(tmp_path: Path) -> None:
    if shutil.which("crm_verify", path="/usr/sbin:/usr/bin") is None:
        pytest.skip("needs pacemaker-cli-utils and pacemaker's schemas (make test-deps)")
    inv = load_inventory(EXAMPLE)
    assert len(inv.controllers) >= 2 and len(inv.computes) >= 2 and inv.host_map()
    done = _instanceha("cib", "render", "-i", str(EXAMPLE))
    assert done.returncode == 0, done.stderr
    assert "schema pacemaker-" in done.stderr and "crm_verify: valid" in done.stderr
    root = ET.fromstring(done.stdout)
    ids = {el.get("id") for el in root.iterfind("configuration/resources/*")}
    assert {c.name for c in inv.computes} <= ids and "nova-evacuate" in ids
    script = tmp_path / "setup.sh"
    done = _instanceha("cib", "render", "-i", str(EXAMPLE), "--pcs", "-o", str(script))
    assert done.returncode == 0, done.stderr
    assert script.read_text().startswith("#!") and "pcs -f" in script.read_text()


def _make_lines(target: str, destdir: Path) -> list[str]:
    """The commands ``make TARGET`` would run for the example (``make -n``: nothing is run)."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    done = subprocess.run(["make", "-n", "-s", "-C", str(ROOT), target, f"DESTDIR={destdir}"],
                          capture_output=True, text=True, timeout=120, check=True)
    return [line for line in done.stdout.splitlines() if "share/doc/instanceha" in line]


def test_make_install_ships_the_example_and_uninstall_removes_it(tmp_path: Path) -> None:
    destdir = tmp_path / "root"
    install = _make_lines("install", destdir)
    assert install, "make install does not install docs/examples/inventory.yaml"
    for line in install:
        subprocess.run(["sh", "-ec", line], cwd=ROOT, timeout=60, check=True)
    installed = destdir / INSTALLED
    assert installed.read_text() == EXAMPLE.read_text()
    assert installed.stat().st_mode & 0o777 == 0o644
    uninstall = _make_lines("uninstall", destdir)
    for line in uninstall:
        subprocess.run(["sh", "-c", line], cwd=ROOT, timeout=60, check=False)
    assert not installed.exists() and not (destdir / "usr/share/doc/instanceha").exists()
