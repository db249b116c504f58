"""fence_nova's device and the post-fence alert share one durable recording path."""

from __future__ import annotations

import time

from fakes.memory_cib import MemoryAttributes
from instanceha.alerts.fence_event import handle
from instanceha.cluster import ClusterError, EvacuationRequest, EvacuationRequests
from instanceha.fence.nova import SPEC, NovaFenceDevice
from instanceha.fencing.device import PowerState

# An unreachable Keystone: Nova cannot be told, fencing must still succeed.
PARAMS = SPEC.all_params.parse({"auth_url": "http://127.0.0.1:9/v3", "username": "u",
                                "password": "p", "project_name": "p", "nova_timeout": "2",
                                "plug": "comp1"})


def _store() -> tuple[MemoryAttributes, EvacuationRequests]:
    attrs = MemoryAttributes()
    return attrs, EvacuationRequests(attrs)


def test_off_records_the_request_even_when_nova_is_unreachable() -> None:
    attrs, requests = _store()
    device = NovaFenceDevice(PARAMS, requests)
    assert device.get_power("comp1") is PowerState.ON
    device.set_power("comp1", PowerState.OFF)
    assert (attrs.get("comp1", "instanceha-evacuate") or "").startswith("requested:")
    assert device.get_power("comp1") is PowerState.OFF


def test_off_twice_and_the_alert_after_it_never_duplicate_the_request() -> None:
    attrs, requests = _store()
    claimed = EvacuationRequest.in_progress("ctl1", time.time()).encode()
    attrs.set("comp1", "instanceha-evacuate", claimed)
    NovaFenceDevice(PARAMS, requests).set_power("comp1", PowerState.OFF)
    env = {"CRM_alert_kind": "fencing", "CRM_alert_node": "comp1", "CRM_alert_task": "reboot",
           "CRM_alert_rc": "0"}
    assert handle(env, requests) == 0
    assert attrs.get("comp1", "instanceha-evacuate") == claimed


def test_on_succeeds_once_the_evacuation_is_done() -> None:
    attrs, requests = _store()
    device = NovaFenceDevice(PARAMS, requests)
    device.set_power("comp1", PowerState.OFF)
    attrs.set("comp1", "instanceha-evacuate", EvacuationRequest.done(time.time()).encode())
    device.set_power("comp1", PowerState.ON)
    assert device.get_power("comp1") is PowerState.ON


def test_a_cib_that_cannot_be_written_fails_fencing() -> None:
    class Broken(MemoryAttributes):
        def compare_and_set(self, node: str, name: str, expected: str | None,
                            new: str | None) -> bool:
            raise ClusterError("cibadmin: connection refused")

    import pytest

    from instanceha.fencing.codes import FenceError

    device = NovaFenceDevice(PARAMS, EvacuationRequests(Broken()))
    with pytest.raises(FenceError, match="cannot record the evacuation request of comp1"):
        device.set_power("comp1", PowerState.OFF)


def test_alert_records_only_successful_killing_fencing() -> None:
    attrs, requests = _store()
    base = {"CRM_alert_kind": "fencing", "CRM_alert_node": "comp2", "CRM_alert_rc": "0"}
    assert handle({**base, "CRM_alert_task": "on"}, requests) == 0
    assert handle({**base, "CRM_alert_task": "off", "CRM_alert_rc": "1"}, requests) == 0
    assert handle({"CRM_alert_kind": "node", "CRM_alert_node": "comp2"}, requests) == 0
    assert attrs.get("comp2", "instanceha-evacuate") is None
    assert handle({**base, "CRM_alert_task": "off"}, requests) == 0
    assert (attrs.get("comp2", "instanceha-evacuate") or "").startswith("requested:")


def test_alert_reads_the_action_of_pacemaker_2_1_from_the_description() -> None:
    # what pacemaker 2.1.5 passes (seen on the live lab): the task is the notification type
    attrs, requests = _store()
    base = {"CRM_alert_kind": "fencing", "CRM_alert_node": "comp3", "CRM_alert_rc": "0",
            "CRM_alert_task": "st_notify_fence"}
    unfence = "Operation on of comp3 by ctl1 for pacemaker-controld.1@ctl1: OK"
    assert handle({**base, "CRM_alert_desc": unfence}, requests) == 0
    other = "Operation reboot of comp9 by ctl1 for pacemaker-controld.1@ctl1: OK"
    assert handle({**base, "CRM_alert_desc": other}, requests) == 0  # names another node
    assert attrs.get("comp3", "instanceha-evacuate") is None
    reboot = "Operation reboot of comp3 by ctl1 for pacemaker-controld.1@ctl1: OK"
    assert handle({**base, "CRM_alert_desc": reboot}, requests) == 0
    assert (attrs.get("comp3", "instanceha-evacuate") or "").startswith("requested:")


def test_monitor_without_a_target_checks_that_the_cib_is_readable() -> None:
    attrs, requests = _store()
    assert NovaFenceDevice(PARAMS, requests).get_power("") is PowerState.ON

    class Unreadable(MemoryAttributes):
        def get_all(self, name: str) -> dict[str, str]:
            raise ClusterError("cibadmin: connection refused")

    import pytest

    from instanceha.fencing.codes import FenceError

    with pytest.raises(FenceError, match="cannot read the request"):
        NovaFenceDevice(PARAMS, EvacuationRequests(Unreadable())).get_power("")


def test_off_is_verified_even_when_the_evacuator_finishes_first() -> None:
    """A host without servers: the evacuator may complete the request between fence_nova's
    off and the runtime's status check. That is our fencing done, not a power-on (the check
    used to wait its whole power_timeout and fail, and Pacemaker fenced again)."""
    attrs, requests = _store()
    device = NovaFenceDevice(PARAMS, requests)
    device.set_power("comp1", PowerState.OFF)
    attrs.set("comp1", "instanceha-evacuate", EvacuationRequest.done(time.time()).encode())
    assert device.get_power("comp1") is PowerState.OFF
    assert NovaFenceDevice(PARAMS, requests).get_power("comp1") is PowerState.ON  # a status


def test_the_nova_host_novacompute_published_is_the_one_told() -> None:
    """NovaCompute's nova_host parameter names the host (published as instanceha-nova-host):
    fence_nova must mark that host down, not the one domain would give (issue 11 item 11)."""
    attrs, requests = _store()
    params = SPEC.all_params.parse({**{k: str(v) for k, v in PARAMS.items() if v is not None},
                                    "domain": "example.com"})
    device = NovaFenceDevice(params, requests, attrs)
    assert device.nova_host("comp1") == "comp1.example.com"
    attrs.set("comp1", "instanceha-nova-host", "compute-01.example.com")
    assert device.nova_host("comp1") == "compute-01.example.com"


def test_a_fenced_nodes_fencing_hold_is_over() -> None:
    attrs, requests = _store()
    attrs.set("comp1", "instanceha-fencing-hold", "released:100")
    NovaFenceDevice(PARAMS, requests).set_power("comp1", PowerState.OFF)
    assert attrs.get("comp1", "instanceha-fencing-hold") is None
