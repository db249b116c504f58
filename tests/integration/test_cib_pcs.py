"""The ``--pcs`` script, run with real pcs against a CIB file, builds the rendered CIB.

pcs validates every resource against the installed agent's metadata, so this
also proves that the parameters the templates set exist in the real agents.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from instanceha.cib.inventory import load_inventory
from instanceha.cib.normalize import normalize_cib, normalized_diff
from instanceha.cib.pcs import pcs_script
from instanceha.cib.render import render_cib

pytestmark = pytest.mark.integration

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "cib"
AGENTS = (
    "/usr/lib/ocf/resource.d/pacemaker/remote",
    "/usr/lib/ocf/resource.d/instanceha/libvirtd",
    "/usr/lib/ocf/resource.d/instanceha/NovaCompute",
    "/usr/lib/ocf/resource.d/instanceha/NovaEvacuate",
    "/usr/sbin/fence_ipmi",
    "/usr/sbin/fence_nova",
)


def _skip_unless_ready() -> None:
    for tool in ("pcs", "cibadmin"):
        if shutil.which(tool, path="/usr/sbin:/usr/bin") is None:
            pytest.skip(f"needs {tool} (make test-deps)")
    missing = [a for a in AGENTS if not os.access(a, os.X_OK)]
    if missing:
        pytest.skip(f"agents not installed: {', '.join(missing)} (run make install)")


def test_pcs_script_builds_the_same_configuration(tmp_path: Path) -> None:
    _skip_unless_ready()
    xml = render_cib(load_inventory(GOLDEN / "inventory-small.yaml"))
    script = tmp_path / "setup.sh"
    script.write_text(pcs_script(xml))
    cib = tmp_path / "cib.xml"
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
    empty = subprocess.run(["cibadmin", "--empty"], capture_output=True, text=True, check=True,
                           env=env, timeout=30)
    cib.write_text(empty.stdout)
    # What 'pcs cluster cib' gives on a live cluster: the controllers are known members.
    for node_id, name in (("1", "ctl1"), ("2", "ctl2")):
        subprocess.run(["cibadmin", "--create", "-o", "nodes", "--xml-text",
                        f'<node id="{node_id}" uname="{name}"/>'],
                       env={**env, "CIB_file": str(cib)}, check=True, timeout=30)
    done = subprocess.run(["sh", str(script), str(cib)], capture_output=True, text=True,
                          env=env, timeout=240, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    built = cib.read_text()
    assert normalized_diff(xml, built) == []
    assert normalize_cib(xml) == normalize_cib(built)
