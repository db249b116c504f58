"""The agents' waits run on their context's clock: a start that cannot finish times out on
a fake clock at once, and NovaEvacuate hands the worker only the runtime's environment."""

from __future__ import annotations

import pytest

from instanceha.agents import libvirtd, nova_evacuate
from instanceha.clock import FakeClock
from instanceha.ocf import Context, OcfError, OcfRc


class RunningManager:
    """A libvirtd that runs but never answers."""

    def describe(self) -> str:
        return "libvirtd"

    def is_running(self) -> bool:
        return True

    def start(self, deadline: float) -> None:
        raise AssertionError("already running")

    def stop(self, deadline: float) -> None:
        pass


def test_libvirtd_start_gives_up_at_its_deadline_on_the_contexts_clock(
        monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    ctx = Context("start", timeout_s=20.0, clock=clock)
    seen: list[object] = []

    def manager(params: object, manager_clock: object = None) -> RunningManager:
        seen.append(manager_clock)
        return RunningManager()

    def unhealthy(ctx: Context, params: object, deep: bool) -> None:
        raise OcfError(OcfRc.ERR_GENERIC, "no answer")

    monkeypatch.setattr(libvirtd, "_manager", manager)
    monkeypatch.setattr(libvirtd, "_health", unhealthy)
    with pytest.raises(OcfError, match="start timed out: no answer"):
        libvirtd.start(ctx, libvirtd.SPEC.params.parse({}))
    assert clock.monotonic() >= ctx.deadline and seen == [clock]


def test_the_worker_keeps_only_its_share_of_the_runtimes_environment(tmp_path: object) -> None:
    environ = {"PATH": "/usr/bin", "HA_debug": "1", "OS_PASSWORD": "secret",
               "OCF_RESKEY_state_dir": str(tmp_path)}
    ctx = Context("start", instance="evac", environ=environ)
    params = nova_evacuate.SPEC.params.parse({"state_dir": str(tmp_path)})
    worker = nova_evacuate._worker(ctx, params)
    assert worker.env == {"PATH": "/usr/bin", "HA_debug": "1", "OCF_RESOURCE_INSTANCE": "evac"}
    assert worker.clock is ctx.clock
