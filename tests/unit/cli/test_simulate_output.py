"""Text and JSON rendering of a simulation result (synthetic transition, no Pacemaker)."""

from __future__ import annotations

import json
from pathlib import Path

from instanceha.cib.inventory import load_inventory
from instanceha.cib.render import render_cib
from instanceha.cib.scheduler import Failure
from instanceha.cib.transition import FenceAction, NodeState, ResourceAction, Transition
from instanceha.cli.simulate_cmd import _policy, _text, result_document
from instanceha.evacuation.policy import Mode
from instanceha.evacuation.preview import preview
from instanceha.evacuation.snapshot import load_snapshot

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "cib"

FAILURE = Failure(
    host="comp1", kind="remote", injection="--op-inject comp1_monitor_10000@ctl1=7",
    connection_host="ctl1",
    transition=Transition(
        fencing=(FenceAction("comp1", "reboot", "remote connection is unrecoverable"),),
        actions=(ResourceAction("stop", "comp1", node="ctl1", reason="node availability"),
                 ResourceAction("move", "nova-evacuate", source="ctl1", dest="ctl2")),
        after=(NodeState("ctl1", "member", True), NodeState("comp1", "remote", False, True)),
    ),
)


def test_document_and_text_with_a_plan() -> None:
    cib = render_cib(load_inventory(GOLDEN / "inventory-small.yaml"))
    snap = load_snapshot((GOLDEN / "snapshot-comp1.json").read_text())
    plan = preview(snap, _policy({"evacuation_mode": "tagged-or-all"}))
    doc = result_document(FAILURE, cib, plan, None)
    json.dumps(doc)  # serializable
    assert doc["fencing"][0]["levels"] == [["fence-hold", "fence-ipmi-comp1", "fence-nova"]]
    text = _text(doc)
    assert ("reboot comp1 (remote connection is unrecoverable) "
            "using fence-hold + fence-ipmi-comp1 + fence-nova") in text
    assert "move    nova-evacuate  ctl1 -> ctl2" in text
    assert "unclean: comp1" in text
    assert "2 to evacuate, 3 skipped" in text and "Capacity: does not fit" in text


def test_plan_error_is_shown_not_raised() -> None:
    cib = render_cib(load_inventory(GOLDEN / "inventory-small.yaml"))
    text = _text(result_document(FAILURE, cib, None, "Nova: connection refused"))
    assert "Evacuation plan: not available (Nova: connection refused)" in text


def test_policy_from_novaevacuate_params() -> None:
    policy = _policy({"evacuation_mode": "all", "tag_key": "ha", "reserved_hosts": "a, b"})
    assert (policy.mode, policy.key, policy.reserved_hosts) == (Mode.ALL, "ha", ("a", "b"))
    assert _policy(None).mode is Mode.TAGGED_OR_ALL
