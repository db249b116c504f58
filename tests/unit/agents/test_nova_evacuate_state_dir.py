"""NovaEvacuate owns a dedicated state directory and never touches a shared one.

validate-all refuses a shared or system directory (``/``, ``/tmp``, ``/var``, ``/run``,
``/etc``, home directories), a symbolic link, and a directory that is not root's own
or is writable by others, with OCF_ERR_CONFIGURED and an exit reason naming
``state_dir``. start creates the directory (0700, with an ownership marker) and refuses
an existing directory it did not create, leaving its mode alone. The worker is a fake
here: nothing is launched.
"""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from instanceha.agents import nova_evacuate
from instanceha.ocf import OcfRc, run

CREDENTIALS = {"auth_url": "http://127.0.0.1:5000/v3", "username": "admin",
               "password": "pw", "project_name": "admin", "user_domain_name": "Default",
               "project_domain_name": "Default"}


class FakeWorker:
    """Stands in for the evacuator: start writes the heartbeat into the state directory."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.running = False

    def is_running(self) -> bool:
        return self.running

    def start(self, deadline: float) -> None:
        Path(self.directory, "heartbeat").write_text("")
        self.running = True

    def stop(self, deadline: float) -> None:
        self.running = False

    def pid(self) -> int:
        return 4242


@pytest.fixture(autouse=True)
def fake_worker(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    workers: dict[str, FakeWorker] = {}

    def worker(ctx: object, params: object) -> FakeWorker:
        directory = nova_evacuate.state_dir(ctx, params)  # type: ignore[arg-type]
        return workers.setdefault(directory, FakeWorker(directory))

    monkeypatch.setattr(nova_evacuate, "_worker", worker)
    yield


def invoke(action: str, tmp_path: Path, **params: str) -> tuple[int, str]:
    env = {"OCF_RESOURCE_INSTANCE": "nova-evacuate", "HA_RSCTMP": str(tmp_path / "rsctmp"),
           "OCF_RESKEY_CRM_meta_timeout": "20000"}
    env.update({f"OCF_RESKEY_{k}": v for k, v in {**CREDENTIALS, **params}.items()})
    out, err = io.StringIO(), io.StringIO()
    rc = run(nova_evacuate.AGENT, ["NovaEvacuate", action], env, out, err)
    return rc, err.getvalue()


def reason(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("ocf-exit-reason:")]
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.mark.parametrize("shared", ["/", "/tmp", "/var", "/run", "/etc", "/var/tmp", "/root",
                                    "/usr/lib", "/tmp/../etc", "/var/run"])
def test_validate_all_refuses_shared_and_system_directories(tmp_path: Path, shared: str) -> None:
    mode = stat.S_IMODE(os.stat(shared).st_mode)
    rc, stderr = invoke("validate-all", tmp_path, state_dir=shared)
    assert rc == OcfRc.ERR_CONFIGURED, stderr
    assert "state_dir" in reason(stderr)
    assert stat.S_IMODE(os.stat(shared).st_mode) == mode


def test_validate_all_refuses_a_relative_path(tmp_path: Path) -> None:
    rc, stderr = invoke("validate-all", tmp_path, state_dir="evac-state")
    assert rc == OcfRc.ERR_CONFIGURED and "state_dir" in reason(stderr)


@pytest.mark.parametrize("problem", ["other-owner", "group-writable", "world-writable",
                                     "symlink", "file"])
def test_validate_all_refuses_a_directory_that_is_not_roots_own(tmp_path: Path,
                                                                 problem: str) -> None:
    target = tmp_path / "state"
    if problem == "symlink":
        (tmp_path / "real").mkdir(mode=0o700)
        target.symlink_to(tmp_path / "real")
    elif problem == "file":
        target.write_text("")
    else:
        target.mkdir(mode=0o700)
        if problem == "other-owner":
            os.chown(target, 65534, 65534)
        else:
            target.chmod(0o770 if problem == "group-writable" else 0o777)
    rc, stderr = invoke("validate-all", tmp_path, state_dir=str(target))
    assert rc == OcfRc.ERR_CONFIGURED, stderr
    assert "state_dir" in reason(stderr) and str(target) in reason(stderr)


def test_start_refuses_an_existing_directory_it_did_not_create(tmp_path: Path) -> None:
    existing = tmp_path / "somebody-elses"
    existing.mkdir(mode=0o755)
    existing.chmod(0o755)
    rc, stderr = invoke("start", tmp_path, state_dir=str(existing))
    assert rc == OcfRc.ERR_CONFIGURED, stderr
    assert "state_dir" in reason(stderr) and "not created by NovaEvacuate" in reason(stderr)
    assert stat.S_IMODE(existing.stat().st_mode) == 0o755
    assert list(existing.iterdir()) == []
    assert invoke("validate-all", tmp_path, state_dir=str(existing))[0] == OcfRc.ERR_CONFIGURED


def test_start_creates_its_own_directory_and_uses_it_again(tmp_path: Path) -> None:
    own = tmp_path / "lib" / "nova-evacuate"
    rc, stderr = invoke("start", tmp_path, state_dir=str(own))
    assert rc == OcfRc.SUCCESS, stderr
    assert stat.S_IMODE(own.stat().st_mode) == 0o700 and own.stat().st_uid == os.geteuid()
    assert (own / "config.json").exists()
    assert stat.S_IMODE((own / "config.json").stat().st_mode) == 0o600
    assert invoke("validate-all", tmp_path, state_dir=str(own))[0] == OcfRc.SUCCESS
    (own / "heartbeat").unlink()
    nova_evacuate_stop = invoke("stop", tmp_path, state_dir=str(own))
    assert nova_evacuate_stop[0] == OcfRc.SUCCESS
    assert invoke("start", tmp_path, state_dir=str(own))[0] == OcfRc.SUCCESS


def test_the_default_directory_under_ha_rsctmp_is_created_private(tmp_path: Path) -> None:
    rc, stderr = invoke("start", tmp_path)
    assert rc == OcfRc.SUCCESS, stderr
    default = tmp_path / "rsctmp" / "NovaEvacuate-nova-evacuate"
    assert stat.S_IMODE(default.stat().st_mode) == 0o700
    assert invoke("start", tmp_path)[0] == OcfRc.SUCCESS
