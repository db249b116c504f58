"""Normalization ignores ids and order, not content."""

from __future__ import annotations

from pathlib import Path

from instanceha.cib.inventory import load_inventory
from instanceha.cib.normalize import normalize_cib, normalized_diff
from instanceha.cib.render import render_cib

A = """<cib><configuration>
<crm_config><cluster_property_set id="o"><nvpair id="o-1" name="stonith-enabled" value="true"/>
</cluster_property_set></crm_config>
<resources><primitive id="r" class="ocf" provider="p" type="t">
 <instance_attributes id="r-ia"><nvpair id="r-ia-a" name="a" value="1"/></instance_attributes>
 <operations><op id="x1" name="monitor" interval="10s" timeout="20s"/>
 <op id="x2" name="start" interval="0s" timeout="1min"/></operations></primitive></resources>
<fencing-topology><fencing-level id="fl1" target="n" index="1" devices="d1,d2"/></fencing-topology>
</configuration></cib>"""

B = """<cib><configuration>
<crm_config><cluster_property_set id="cib-bootstrap-options">
<nvpair id="zz" name="stonith-enabled" value="true"/></cluster_property_set></crm_config>
<fencing-topology><fencing-level id="other" target="n" index="1" devices="d1,d2"/>
</fencing-topology>
<resources><primitive id="r" class="ocf" provider="p" type="t">
 <operations><op id="s" name="start" timeout="60000ms" interval="0"/>
 <op id="m" name="monitor" interval="10000ms" timeout="20s"/></operations>
 <instance_attributes id="whatever"><nvpair id="q" name="a" value="1"/></instance_attributes>
</primitive></resources></configuration></cib>"""


def test_ids_order_and_duration_spelling_do_not_count() -> None:
    assert normalize_cib(A) == normalize_cib(B)
    assert normalized_diff(A, B) == []


def test_a_changed_value_is_reported() -> None:
    changed = B.replace('name="a" value="1"', 'name="a" value="2"')
    diff = normalized_diff(A, changed)
    assert len(diff) == 1 and diff[0].startswith("resources.r:")


def test_rendered_cib_normalizes(golden: Path) -> None:
    norm = normalize_cib(render_cib(load_inventory(golden / "inventory-small.yaml")))
    assert norm["resources"]["libvirtd"]["parent"] == "clone:libvirtd-clone"
    assert norm["alerts"]["instanceha-fence-event"]["select"] == ["select_fencing"]
    assert ("comp2", "1", "fence-hold,fence-ipmi-comp2,fence-nova") in norm["topology"]
