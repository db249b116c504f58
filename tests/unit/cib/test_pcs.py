"""The pcs translation as text (tests/integration/test_cib_pcs.py runs it against pcs)."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest

from instanceha.cib.inventory import load_inventory, parse_inventory
from instanceha.cib.pcs import PcsTranslationError, pcs_script
from instanceha.cib.render import render_cib


def _commands(script: str) -> list[list[str]]:
    return [shlex.split(line) for line in script.splitlines()
            if line and not line.startswith("#") and line.split()[0] in ("pcs", 'CIB_file="$CIB"')]


def test_every_object_becomes_a_command(golden: Path) -> None:
    script = pcs_script(render_cib(load_inventory(golden / "inventory-small.yaml")))
    assert script.startswith("#!/bin/sh\n") and "set -eu" in script
    cmds = _commands(script)
    verbs = [" ".join(c[3:5]) for c in cmds if c[0] == "pcs"]
    assert verbs.count("resource create") == 6  # 3 remotes, 2 clones, NovaEvacuate
    assert verbs.count("stonith create") == 7  # 5 BMCs, fence_nova, fence_hold
    assert verbs.count("stonith level") == 3
    assert verbs.count("node attribute") == 5
    assert verbs.count("constraint location") == 6  # 3 placements, the gate, 2 self-fencing
    assert verbs.count("resource defaults") == 1
    remote = next(c for c in cmds if c[3:6] == ["resource", "create", "comp1"])
    assert remote[6:] == ["ocf:pacemaker:remote", "server=192.0.2.11", "reconnect_interval=60s",
                          "op", "monitor", "interval=10s", "timeout=20s",
                          "--no-default-ops", "--force"]
    libvirtd = next(c for c in cmds if c[3:6] == ["resource", "create", "libvirtd"])
    assert libvirtd[-6:] == ["clone", "libvirtd-clone", "interleave=true",
                             "migration-threshold=3", "failure-timeout=5min", "--no-default-ops"]
    assert "OCF_CHECK_LEVEL=10" in libvirtd
    nova = next(c for c in cmds if c[3:6] == ["stonith", "create", "fence-nova"])
    assert nova[-6:] == ["op", "monitor", "interval=60s",
                         "meta", "migration-threshold=3", "failure-timeout=1min"]
    evacuate = next(c for c in cmds if c[3:6] == ["resource", "create", "nova-evacuate"])
    assert evacuate[-5:] == ["meta", "migration-threshold=3", "failure-timeout=2min",
                             "priority=10", "--no-default-ops"]
    assert "start-failure-is-fatal=false" in next(c for c in cmds if c[3:5] == ["property", "set"])
    assert any("select_fencing" in " ".join(c) for c in cmds if c[0].startswith("CIB_file"))


def test_comments_of_the_templates_become_shell_comments(golden: Path) -> None:
    script = pcs_script(render_cib(load_inventory(golden / "inventory-small.yaml")))
    assert "# Nova may rebuild a host's instances elsewhere only once" in script
    assert "(seen on a live cluster)" in script
    # comments inside a resource (next to a meta attribute) too, before its command
    lines = script.splitlines()
    evacuate = next(i for i, line in enumerate(lines) if "resource create nova-evacuate" in line)
    assert lines[evacuate - 1].startswith("# ") and "fencing the controller" in " ".join(
        lines[evacuate - 4:evacuate])


def test_values_are_shell_quoted(doc: dict[str, Any]) -> None:
    doc["cloud"] = "my cloud; rm -rf /"
    script = pcs_script(render_cib(parse_inventory(doc)))
    assert "'cloud=my cloud; rm -rf /'" in script


@pytest.mark.parametrize(
    "fragment",
    [
        "<resources><group id='g'><primitive id='a' class='ocf' provider='p' type='t'/></group>"
        "</resources>",
        "<resources><primitive id='a' class='ocf' provider='p' type='t'>"
        "<instance_attributes id='i'><rule id='r' score='0'/></instance_attributes>"
        "</primitive></resources>",
        "<constraints><rsc_ticket id='t' rsc='a' ticket='x'/></constraints>",
        "<acls/>",
    ],
)
def test_what_pcs_cannot_express_is_refused(fragment: str) -> None:
    with pytest.raises(PcsTranslationError):
        pcs_script(f"<cib><configuration>{fragment}</configuration><status/></cib>")
