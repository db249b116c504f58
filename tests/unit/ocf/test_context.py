"""What an invocation learns from pacemaker-execd's environment: deadline, probe, depth, params."""

from __future__ import annotations

import pytest

from instanceha.clock import FakeClock
from instanceha.ocf import Context
from instanceha.ocf.context import DEFAULT_TIMEOUT_S, raw_params


def test_deadline_comes_from_the_action_timeout_minus_a_margin() -> None:
    ctx = Context.from_environ("monitor", {"OCF_RESKEY_CRM_meta_timeout": "15000"})
    assert ctx.timeout_s == 15.0
    assert ctx.margin_s == pytest.approx(1.5)  # 10 % of the timeout ...
    assert ctx.deadline == pytest.approx(ctx.started + 13.5)
    long = Context.from_environ("start", {"OCF_RESKEY_CRM_meta_timeout": "300000"})
    assert long.margin_s == 2.0  # ... at most 2 s


@pytest.mark.parametrize("raw", ["", "soon", None])
def test_missing_or_bad_timeout_falls_back_to_the_default(raw: str | None) -> None:
    environ = {} if raw is None else {"OCF_RESKEY_CRM_meta_timeout": raw}
    assert Context.from_environ("start", environ).timeout_s == DEFAULT_TIMEOUT_S


@pytest.mark.parametrize(("action", "interval", "probe"), [
    ("monitor", None, True), ("monitor", "0", True), ("monitor", "10000", False),
    ("start", "0", False),
])
def test_a_probe_is_a_monitor_without_interval(action: str, interval: str | None,
                                               probe: bool) -> None:
    environ = {} if interval is None else {"OCF_RESKEY_CRM_meta_interval": interval}
    assert Context.from_environ(action, environ).is_probe is probe


def test_depth_instance_node_and_state_directory() -> None:
    ctx = Context.from_environ("monitor", {
        "OCF_CHECK_LEVEL": "10", "OCF_RESOURCE_INSTANCE": "libvirtd:1",
        "OCF_RESKEY_CRM_meta_on_node": "comp1", "HA_RSCTMP": "/run/resource-agents"})
    assert (ctx.check_level, ctx.instance, ctx.on_node) == (10, "libvirtd:1", "comp1")
    assert Context.from_environ("monitor", {"OCF_CHECK_LEVEL": "deep"}).check_level == 0


def test_instance_parameters_exclude_meta_attributes_and_pacemaker_keys() -> None:
    environ = {"OCF_RESKEY_uri": "qemu:///system", "OCF_RESKEY_CRM_meta_timeout": "20000",
               "OCF_RESKEY_crm_feature_set": "3.16.2", "OCF_ROOT": "/usr/lib/ocf"}
    assert raw_params(environ) == {"uri": "qemu:///system"}


def test_time_and_environment_are_the_contexts_own() -> None:
    clock = FakeClock()
    environ = {"OCF_RESKEY_CRM_meta_timeout": "10000", "OCF_RESKEY_password": "secret"}
    ctx = Context.from_environ("start", environ, clock)
    assert ctx.started == clock.monotonic() and ctx.remaining() == pytest.approx(9.0)
    clock.advance(4.0)
    assert ctx.remaining() == pytest.approx(5.0)
    assert ctx.environ is environ and "secret" not in repr(ctx)
    assert Context("monitor", clock=clock).started == clock.monotonic()
    assert Context("monitor").environ == {}  # built by hand: no environment unless given
