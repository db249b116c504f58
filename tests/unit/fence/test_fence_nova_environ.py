"""fence_nova reads credentials from the environment its runtime was given, never os.environ.

The fence runtime passes the environment it read (``OS_*`` variables) to the agent's checks
and to the device; the agent never reads the process environment itself.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from instanceha.clock import FakeClock
from instanceha.fence import nova as fence_nova
from instanceha.fence.nova import NovaFenceDevice
from instanceha.fencing.codes import ExitCode
from instanceha.fencing.device import FenceRequest
from instanceha.fencing.run import run as fence_run

OS_ENV = {"OS_AUTH_URL": "http://127.0.0.1:5000/v3", "OS_USERNAME": "admin",
          "OS_PASSWORD": "pw", "OS_PROJECT_NAME": "admin", "OS_USER_DOMAIN_NAME": "Default",
          "OS_PROJECT_DOMAIN_NAME": "Default"}


def _validate_all(environ: dict[str, str]) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    code = fence_run(fence_nova.AGENT, ["fence_nova"],
                     io.StringIO("action=validate-all\nplug=comp1\n"), environ,
                     stdout=out, stderr=err)
    return code, err.getvalue()


def test_validate_all_takes_credentials_from_the_runtimes_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no clouds.yaml around
    for name in OS_ENV:
        monkeypatch.delenv(name, raising=False)
    home = {"HOME": str(tmp_path)}
    assert _validate_all({**OS_ENV, **home}) == (ExitCode.OK, "")
    code, err = _validate_all(home)
    assert code == ExitCode.GENERIC_ERROR and err
    for name, value in OS_ENV.items():  # the process environment is not what counts
        monkeypatch.setenv(name, value)
    assert _validate_all(home)[0] == ExitCode.GENERIC_ERROR


def test_the_device_gets_the_requests_environment_and_clock() -> None:
    params = fence_nova.SPEC.all_params.parse({"plug": "comp1"})
    clock = FakeClock()
    device = fence_nova.connect(FenceRequest("off", "comp1", params, clock, None, OS_ENV))
    assert isinstance(device, NovaFenceDevice)
    assert device.environ == OS_ENV and device.clock is clock
    assert "pw" not in repr(FenceRequest("off", "comp1", params, clock, None, OS_ENV))
