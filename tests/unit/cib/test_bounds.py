"""Action bounds: declared once (docs/actions.md follows), cover the rendered configuration,
and find the operations of a CIB's history that exceed them."""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from instanceha.cib.bounds import (
    BOUNDS,
    action_label,
    bound_for,
    check_bounds,
    markdown_table,
)
from instanceha.cib.inventory import load_inventory
from instanceha.cib.render import render_cib
from instanceha.cluster.operations import OperationRecord, OpStatus

DOCS = Path(__file__).resolve().parents[3] / "docs" / "actions.md"
HEADER = "| Agent | Action | Bound | Why |"


def _docs_rows() -> list[tuple[str, ...]]:
    lines = DOCS.read_text(encoding="utf-8").splitlines()
    assert lines.count(HEADER) == 1, f"{DOCS}: one table starting {HEADER!r}"
    start = lines.index(HEADER) + 2  # header and alignment row
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append(tuple(cell.strip() for cell in line.strip().strip("|").split("|")))
    return rows


def test_docs_table_is_the_declared_bounds() -> None:
    expected = [
        (f"`{b.agent}`", action_label(b), f"{b.seconds:g} s", b.why) for b in BOUNDS
    ]
    assert _docs_rows() == expected, (
        f"docs/actions.md differs from instanceha.cib.bounds.BOUNDS; its table should be:\n"
        f"{markdown_table()}"
    )
    assert markdown_table() in DOCS.read_text(encoding="utf-8")


def test_each_bound_is_declared_once_and_fits_a_table_cell() -> None:
    keys = [(b.agent, b.action, b.check_level) for b in BOUNDS]
    assert len(keys) == len(set(keys))
    assert all(b.seconds > 0 and b.why and "|" not in b.why for b in BOUNDS)


def _configured_actions(cib: ET.Element) -> set[tuple[str, str, int]]:
    """(agent, action, check level) of every action Pacemaker runs for the configuration:
    start, stop and the probe of every primitive, plus each configured op."""
    actions = set()
    for prim in cib.iterfind("configuration/resources//primitive"):
        agent = ":".join(
            p for p in (prim.get("class"), prim.get("provider"), prim.get("type")) if p
        )
        actions |= {(agent, "start", 0), (agent, "stop", 0), (agent, "monitor", 0)}
        for op in prim.iterfind("operations/op"):
            level = next((int(nv.get("value", "0"))
                          for nv in op.iterfind("instance_attributes/nvpair")
                          if nv.get("name") == "OCF_CHECK_LEVEL"), 0)
            actions.add((agent, op.get("name", ""), level))
    return actions


def test_every_action_of_the_rendered_configuration_has_its_own_bound(golden: Path) -> None:
    cib = ET.fromstring(render_cib(load_inventory(golden / "inventory-small.yaml")))
    actions = _configured_actions(cib)
    assert ("ocf:instanceha:libvirtd", "monitor", 10) in actions  # the walk sees levels
    declared = {(b.agent, b.action, b.check_level) for b in BOUNDS}
    assert actions - declared == set()
    assert {a for a, _, _ in declared} == {a for a, _, _ in actions}


def _rec(agent: str, operation: str = "start", exec_ms: int | None = 1000, *,
         interval_ms: int = 0, level: int = 0, status: int = OpStatus.DONE, rc: int = 0,
         last_rc_change: int | None = 1_700_000_000, record_id: str = "rsc_last_0",
         reason: str = "") -> OperationRecord:
    parts = agent.split(":")
    return OperationRecord(
        record_id=record_id, resource="rsc", agent_class=parts[0],
        provider=parts[1] if len(parts) == 3 else None, agent_type=parts[-1], node="comp1",
        operation=operation, interval_ms=interval_ms, rc=rc, op_status=status, call_id=7,
        exec_time_ms=exec_ms, queue_time_ms=0, last_rc_change=last_rc_change,
        check_level=level, exit_reason=reason,
    )


NC = "ocf:instanceha:NovaCompute"


def test_bound_lookup() -> None:
    assert bound_for(NC, "monitor", 10) == next(
        b for b in BOUNDS if (b.agent, b.action, b.check_level) == (NC, "monitor", 10))
    # a level without its own bound falls back to the highest lower one, as agents do
    assert bound_for(NC, "monitor", 20) == bound_for(NC, "monitor", 10)
    assert bound_for(NC, "monitor", 5) == bound_for(NC, "monitor", 0)
    assert bound_for("stonith:fence_nova", "monitor", 10) == bound_for(
        "stonith:fence_nova", "monitor")
    assert bound_for(NC, "notify") is None
    assert bound_for("ocf:heartbeat:IPaddr2", "start") is None


def test_operations_within_their_bounds_pass() -> None:
    start = bound_for(NC, "start")
    assert start is not None
    records = [
        _rec(NC, "start", int(start.seconds * 1000)),  # exactly the bound
        _rec(NC, "monitor", 30, interval_ms=10000),
        _rec("stonith:fence_ipmi", "monitor", 900, interval_ms=60000),
    ]
    assert check_bounds(records) == []


def test_slow_operations_are_violations_with_their_bound() -> None:
    start_bound = bound_for(NC, "start")
    assert start_bound is not None
    slow = _rec(NC, "start", int(start_bound.seconds * 1000) + 1)
    (violation,) = check_bounds([_rec(NC, "stop", 10), slow])
    assert violation.record is slow and violation.bound is start_bound
    assert violation.seconds == pytest.approx(start_bound.seconds + 0.001)


def test_monitors_are_held_to_the_bound_of_their_check_level() -> None:
    deep, shallow = bound_for(NC, "monitor", 10), bound_for(NC, "monitor", 0)
    assert deep is not None and shallow is not None and deep.seconds > shallow.seconds
    between = int((deep.seconds + shallow.seconds) / 2 * 1000)
    level10 = _rec(NC, "monitor", between, interval_ms=60000, level=10)
    level0 = _rec(NC, "monitor", between, interval_ms=10000, level=0)
    assert [v.record for v in check_bounds([level10, level0])] == [level0]


def test_probes_get_the_level_0_monitor_bound() -> None:
    shallow = bound_for("ocf:instanceha:libvirtd", "monitor", 0)
    assert shallow is not None
    probe = _rec("ocf:instanceha:libvirtd", "monitor", int(shallow.seconds * 1000) + 500,
                 rc=7)
    (violation,) = check_bounds([probe])
    assert violation.bound is shallow and probe.is_probe


def test_unknown_agents_actions_and_cancelled_or_untimed_records_are_skipped() -> None:
    assert check_bounds([
        _rec("ocf:heartbeat:IPaddr2", "start", 600_000),
        _rec("ocf:pacemaker:Dummy", "monitor", 600_000, interval_ms=10000),
        _rec(NC, "notify", 600_000),
        _rec(NC, "monitor", 600_000, interval_ms=10000, status=OpStatus.CANCELLED),
        _rec(NC, "start", None),
    ]) == []


def test_failures_count_with_their_exec_time() -> None:
    timed_out = _rec("ocf:instanceha:libvirtd", "monitor", 30_001, interval_ms=60000,
                     level=10, status=OpStatus.TIMEOUT, rc=1,
                     record_id="rsc_last_failure_0")
    (violation,) = check_bounds([timed_out])
    text = violation.describe()
    for part in ("comp1", "rsc", "ocf:instanceha:libvirtd", "monitor (level 10)", "every 60s",
                 "last failure", "30.0s", "bound 5s", "timed out", violation.bound.why):
        assert part in text, (part, text)


def test_pending_operations_count_from_their_start_only_when_now_is_known() -> None:
    start = bound_for("ocf:instanceha:NovaEvacuate", "start")
    assert start is not None
    pending = _rec("ocf:instanceha:NovaEvacuate", "start", 0, status=OpStatus.PENDING,
                   rc=193, last_rc_change=1_700_000_000)
    assert check_bounds([pending]) == []
    assert check_bounds([pending], now=1_700_000_000 + start.seconds) == []
    (violation,) = check_bounds([pending], now=1_700_000_000 + start.seconds + 1)
    assert violation.seconds == start.seconds + 1
    assert "still running after" in violation.describe()
    no_start = dataclasses.replace(pending, last_rc_change=None)
    assert check_bounds([no_start], now=1_800_000_000) == []
