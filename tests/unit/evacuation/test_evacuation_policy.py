"""The protection policy: precedence, modes, states, blockers, order, target hosts."""

from __future__ import annotations

import pytest

from instanceha.evacuation.policy import (
    Action,
    Mode,
    PolicyConfig,
    build_plan,
    parse_marker,
    resolve_protection,
)
from instanceha.nova.model import Aggregate, Image, Server

HOST = "compute1"


def server(
    name: str = "vm",
    *,
    status: str = "ACTIVE",
    vm_state: str | None = None,
    task_state: str | None = None,
    meta: dict[str, str] | None = None,
    specs: dict[str, str] | None = None,
    image_id: str | None = "img",
    flavor: str = "m1.small",
) -> Server:
    return Server(
        id=f"id-{name}",
        name=name,
        status=status,
        host=HOST,
        task_state=task_state,
        vm_state=vm_state,
        image_id=image_id,
        flavor_name=flavor,
        flavor_extra_specs=specs or {},
        metadata=meta or {},
    )


def plan_for(
    servers: list[Server],
    *,
    images: dict[str, Image | None] | None = None,
    aggregates: list[Aggregate] | None = None,
    **config: object,
) -> dict[str, tuple[Action, str]]:
    plan = build_plan(
        HOST,
        servers,
        images or {},
        aggregates or [],
        config=PolicyConfig(**config),  # type: ignore[arg-type]
    )
    return {d.server.name: (d.action, d.reason) for d in plan.decisions}


# --------------------------------------------------------------- precedence

TRUE, FALSE = "true", "false"


@pytest.mark.parametrize(
    "case",
    [
        (FALSE, TRUE, TRUE, True, TRUE, False, "server metadata"),
        (TRUE, FALSE, FALSE, False, FALSE, True, "server metadata"),
        (None, FALSE, TRUE, True, TRUE, False, "flavor m1.small"),
        (None, TRUE, FALSE, False, FALSE, True, "flavor m1.small"),
        (None, None, FALSE, True, TRUE, False, "image img: evacuable=false"),
        (None, None, TRUE, False, FALSE, True, "image img: evacuable=true"),
        (None, None, None, True, FALSE, True, "image img: tag evacuable"),
        (None, None, None, False, TRUE, True, "aggregate ha"),
        (None, None, None, False, FALSE, False, "aggregate ha"),
        (None, None, None, False, None, None, "no evacuable marker"),
    ],
)
def test_precedence_server_then_flavor_then_image_then_aggregate(
    case: tuple[str | None, str | None, str | None, bool, str | None, bool | None, str],
) -> None:
    meta, spec, image_prop, image_tag, aggregate, expected, source = case
    srv = server(
        meta={"evacuable": meta} if meta else None, specs={"evacuable": spec} if spec else None
    )
    image = Image(
        "img",
        properties={"evacuable": image_prop} if image_prop else {},
        tags=("evacuable",) if image_tag else (),
    )
    aggs = [Aggregate("ha", (HOST,), {"evacuable": aggregate} if aggregate else {})]
    prot = resolve_protection(srv, image, aggs)
    assert prot.marked is expected
    assert source in prot.reason


def test_reason_names_flavor_and_value() -> None:
    prot = resolve_protection(server(flavor="m1.ha", specs={"evacuable": "True"}), None, [])
    assert prot.reason == "flavor m1.ha: evacuable=true"


def test_unknown_value_falls_through_and_is_named() -> None:
    srv = server(meta={"evacuable": "maybe"}, specs={"evacuable": "no"})
    prot = resolve_protection(srv, None, [])
    assert prot.marked is False
    assert "flavor" in prot.reason and "'maybe' not understood" in prot.reason


def test_false_wins_between_aggregates() -> None:
    aggs = [
        Aggregate("a", (HOST,), {"evacuable": "true"}),
        Aggregate("b", (HOST,), {"evacuable": "0"}),
    ]
    prot = resolve_protection(server(), None, aggs)
    assert prot.marked is False and "aggregate b" in prot.reason


def test_aggregates_of_other_hosts_do_not_count() -> None:
    other = [Aggregate("elsewhere", ("compute9",), {"evacuable": "true"})]
    decisions = plan_for([server("a")], aggregates=other, mode=Mode.TAGGED)
    assert decisions["a"][0] is Action.SKIP


def test_configurable_key() -> None:
    srv = server(meta={"ha": "yes", "evacuable": "false"})
    assert resolve_protection(srv, None, [], key="ha").marked is True


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("TRUE", True),
        (" yes ", True),
        ("1", True),
        ("on", True),
        ("False", False),
        ("0", False),
        ("off", False),
        ("", None),
        ("maybe", None),
        (None, None),
    ],
)
def test_parse_marker(raw: str | None, value: bool | None) -> None:
    assert parse_marker(raw) is value


# -------------------------------------------------------------------- modes


def test_mode_all_takes_unmarked_but_honours_opt_out() -> None:
    decisions = plan_for(
        [server("plain"), server("out", meta={"evacuable": "false"})], mode=Mode.ALL
    )
    assert decisions["plain"][0] is Action.EVACUATE
    assert decisions["out"][0] is Action.SKIP
    assert "server metadata: evacuable=false" in decisions["out"][1]


def test_mode_tagged_takes_only_marked() -> None:
    decisions = plan_for(
        [server("plain"), server("in", specs={"evacuable": "true"})], mode=Mode.TAGGED
    )
    assert decisions["plain"][0] is Action.SKIP
    assert decisions["in"][0] is Action.EVACUATE


def test_tagged_or_all_is_tagged_when_something_is_marked() -> None:
    decisions = plan_for(
        [server("plain"), server("in", meta={"evacuable": "1"})], mode=Mode.TAGGED_OR_ALL
    )
    assert decisions["plain"][0] is Action.SKIP
    assert "something on compute1 is marked" in decisions["plain"][1]
    assert decisions["in"][0] is Action.EVACUATE


def test_tagged_or_all_is_all_when_nothing_is_marked_true() -> None:
    decisions = plan_for(
        [server("plain"), server("out", meta={"evacuable": "no"})], mode=Mode.TAGGED_OR_ALL
    )
    assert decisions["plain"][0] is Action.EVACUATE
    assert "nothing on compute1 is marked" in decisions["plain"][1]
    assert decisions["out"][0] is Action.SKIP


def test_image_lookup_from_the_images_map() -> None:
    decisions = plan_for(
        [
            server("tagged", image_id="img"),
            server("bfv", image_id=None),
            server("gone", image_id="x"),
        ],
        images={"img": Image("img", tags=("evacuable",)), "x": None},
        mode=Mode.TAGGED,
    )
    assert decisions["tagged"][0] is Action.EVACUATE
    assert decisions["bfv"][0] is Action.SKIP
    assert decisions["gone"][0] is Action.SKIP


# ------------------------------------------------------------------- states


@pytest.mark.parametrize(
    ("status", "vm_state", "target"),
    [
        ("ACTIVE", None, "ACTIVE"),
        ("SHUTOFF", None, "SHUTOFF"),
        ("ERROR", None, "ACTIVE"),
        ("ACTIVE", "active", "ACTIVE"),
        ("SHUTOFF", "stopped", "SHUTOFF"),
        ("ERROR", "error", "ACTIVE"),
    ],
)
def test_evacuable_states_and_their_target(status: str, vm_state: str | None, target: str) -> None:
    plan = build_plan(HOST, [server(status=status, vm_state=vm_state)], {}, [])
    (decision,) = plan.decisions
    assert decision.action is Action.EVACUATE
    assert decision.target_state == target


@pytest.mark.parametrize(
    ("status", "vm_state"),
    [
        ("BUILD", "building"),
        ("PAUSED", "paused"),
        ("SUSPENDED", "suspended"),
        ("SHELVED_OFFLOADED", "shelved_offloaded"),
        ("SHELVED", "shelved"),
        ("VERIFY_RESIZE", "resized"),
        ("RESCUE", "rescued"),
        ("DELETED", "deleted"),
    ],
)
def test_other_states_are_skipped_with_reason(status: str, vm_state: str) -> None:
    decisions = plan_for([server(status=status, vm_state=vm_state)], mode=Mode.ALL)
    action, reason = decisions["vm"]
    assert action is Action.SKIP
    assert "not evacuable" in reason and status in reason


def test_task_in_progress_is_skipped() -> None:
    decisions = plan_for([server(task_state="resize_prep")], mode=Mode.ALL)
    assert decisions["vm"] == (
        Action.SKIP,
        "not evacuable: task in progress (task_state=resize_prep)",
    )


def test_in_flight_evacuation_bypasses_state_checks() -> None:
    rebuilding = server(
        status="REBUILD",
        vm_state="stopped",
        task_state="rebuilding",
        specs={"hw:tpm_version": "2.0"},
    )
    plan = build_plan(HOST, [rebuilding], {}, [], in_flight={rebuilding.id})
    (decision,) = plan.decisions
    assert decision.action is Action.EVACUATE
    assert decision.target_state == "SHUTOFF"
    assert "in flight" in decision.reason


def test_in_flight_does_not_protect_unprotected() -> None:
    srv = server(meta={"evacuable": "false"}, task_state="rebuilding")
    plan = build_plan(HOST, [srv], {}, [], in_flight={srv.id})
    assert plan.decisions[0].action is Action.SKIP


# ----------------------------------------------------------------- blockers


@pytest.mark.parametrize(
    ("specs", "props", "label"),
    [
        ({"hw:tpm_version": "2.0"}, {}, "vTPM"),
        ({"hw:tpm_model": "tpm-crb"}, {}, "vTPM"),
        ({}, {"hw_tpm_version": "2.0"}, "vTPM"),
        ({"accel:device_profile": "gpu"}, {}, "accelerator"),
    ],
)
def test_features_nova_cannot_evacuate(
    specs: dict[str, str], props: dict[str, str], label: str
) -> None:
    decisions = plan_for(
        [server(specs=specs)], images={"img": Image("img", properties=props)}, mode=Mode.ALL
    )
    action, reason = decisions["vm"]
    assert action is Action.SKIP
    assert label in reason and "cannot evacuate" in reason


def test_blockers_only_matter_for_protected_servers() -> None:
    decisions = plan_for(
        [server(meta={"evacuable": "false"}, specs={"hw:tpm_version": "2.0"})], mode=Mode.ALL
    )
    assert decisions["vm"][1].startswith("not protected")


# ------------------------------------------------------ order and targets


def test_priority_orders_evacuations_then_name() -> None:
    servers = [
        server("c"),
        server("b", meta={"instanceha:priority": "10"}),
        server("a"),
        server("z", meta={"instanceha:priority": "-1"}),
        server("off", meta={"evacuable": "false"}),
    ]
    plan = build_plan(HOST, servers, {}, [], config=PolicyConfig(mode=Mode.ALL))
    assert [d.server.name for d in plan.to_evacuate] == ["b", "a", "c", "z"]
    assert [d.priority for d in plan.to_evacuate] == [10, 0, 0, -1]
    assert [d.server.name for d in plan.decisions][-1] == "off"


def test_bad_priority_is_zero_and_explained() -> None:
    plan = build_plan(HOST, [server(meta={"instanceha:priority": "high"})], {}, [])
    assert plan.decisions[0].priority == 0
    assert "not an integer" in plan.decisions[0].reason


def test_reserved_hosts_round_robin_in_priority_order_excluding_source() -> None:
    servers = [
        server(n, meta={"instanceha:priority": str(p)}) for n, p in [("a", 1), ("b", 3), ("c", 2)]
    ]
    plan = build_plan(
        HOST, servers, {}, [], config=PolicyConfig(reserved_hosts=("spare1", HOST, "spare2"))
    )
    assert [(d.server.name, d.target_host) for d in plan.to_evacuate] == [
        ("b", "spare1"),
        ("c", "spare2"),
        ("a", "spare1"),
    ]


def test_no_reserved_hosts_lets_the_scheduler_choose() -> None:
    plan = build_plan(HOST, [server()], {}, [])
    assert plan.decisions[0].target_host is None
    assert plan.skipped == ()


def test_blockers_are_configurable() -> None:
    srv = server(specs={"accel:device_profile": "gpu"})
    config = PolicyConfig(mode=Mode.ALL, flavor_blockers={})
    plan = build_plan(HOST, [srv], {}, [], config=config)
    assert plan.decisions[0].action is Action.EVACUATE
