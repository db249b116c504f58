"""``instanceha check`` and secrets (issue 11): readable secret files fail, CIB secrets flagged."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from instanceha.cib.inventory import load_inventory
from instanceha.cib.preflight import Status, check_bmc_secrets
from instanceha.cib.render import render_cib
from instanceha.cli import check_cmd
from instanceha.cli.common import ExitCode, Io
from instanceha.cli.main import run
from instanceha.cluster.runner import RunResult

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "cib"
SECRET = "s3cret-pw"

CLOUDS = """clouds:
  overcloud:
    auth:
      auth_url: http://192.0.2.1:5000/v3
      username: admin
      project_name: admin
      user_domain_name: Default
      project_domain_name: Default
{password}"""


def _check(argv: Sequence[str], env: dict[str, str]) -> tuple[int, list[dict[str, Any]]]:
    out, err = io.StringIO(), io.StringIO()
    code = run(["check", "--json", *argv], Io(out, err, env))
    return code, json.loads(out.getvalue())


def _clouds(tmp_path: Path, mode: int, *, secure_mode: int | None = None) -> dict[str, str]:
    clouds = tmp_path / "clouds.yaml"
    password = f"      password: {SECRET}\n"
    clouds.write_text(CLOUDS.format(password="" if secure_mode is not None else password))
    clouds.chmod(mode)
    env = {"OS_CLIENT_CONFIG_FILE": str(clouds), "HOME": str(tmp_path)}
    if secure_mode is not None:
        secure = tmp_path / "secure.yaml"
        secure.write_text(f"clouds:\n  overcloud:\n    auth:\n{password}")
        secure.chmod(secure_mode)
        env["OS_CLIENT_SECURE_FILE"] = str(secure)
    return env


def _failing(checks: list[dict[str, Any]], text: str) -> list[str]:
    return [c["detail"] for c in checks if c["status"] == "FAIL" and text in c["detail"]]


@pytest.mark.parametrize(("mode", "secure_mode", "bad"), [
    (0o644, None, "clouds.yaml"), (0o640, None, "clouds.yaml"),
    (0o644, 0o604, "secure.yaml"), (0o600, 0o640, "secure.yaml"),
])
def test_a_readable_file_holding_the_cloud_password_fails(
        tmp_path: Path, mode: int, secure_mode: int | None, bad: str) -> None:
    """Item 5: a world-readable clouds.yaml with the password passed the check."""
    env = _clouds(tmp_path, mode, secure_mode=secure_mode)
    code, checks = _check(["--offline", "-i", str(GOLDEN / "inventory-small.yaml")], env)
    assert code == ExitCode.PROBLEM
    failing = _failing(checks, bad)
    assert failing and "readable by others (chmod 600)" in failing[0]
    assert SECRET not in json.dumps(checks)


@pytest.mark.parametrize("secure_mode", [None, 0o600])
def test_private_files_holding_the_password_pass(tmp_path: Path,
                                                 secure_mode: int | None) -> None:
    env = _clouds(tmp_path, 0o600 if secure_mode is None else 0o644, secure_mode=secure_mode)
    _, checks = _check(["--offline", "-i", str(GOLDEN / "inventory-small.yaml")], env)
    secrets = [c for c in checks if c["name"] == "cloud secrets"]
    assert [c["status"] for c in secrets] == ["pass"], checks


def test_a_readable_bmc_password_file_fails(tmp_path: Path) -> None:
    """Item 5: a group- or world-readable BMC password file was only a warning."""
    inv = load_inventory(GOLDEN / "inventory-small.yaml")
    good = tmp_path / "pw"
    good.write_text("x")
    script = tmp_path / "script"
    script.write_text("#!/bin/sh\necho x\n")
    script.chmod(0o700)

    def lstat_as_root(path: str) -> os.stat_result:
        fields = list(os.lstat(good if path.startswith("/etc/instanceha/") else path))
        fields[4] = 0  # st_uid
        return os.stat_result(fields)

    inv = inv.__class__(**{**inv.__dict__, "computes": inv.computes[:2]})  # no comp3 script
    for mode in (0o640, 0o604):
        good.chmod(mode)
        leaky = check_bmc_secrets(inv, lstat_as_root)
        assert leaky.status is Status.FAIL and "readable by others (chmod 600)" in leaky.detail
    good.chmod(0o600)
    assert check_bmc_secrets(inv, lstat_as_root).status is Status.PASS


class _LiveCib:
    """cibadmin --query answering with a given CIB; everything else fails."""

    def __init__(self, cib: str) -> None:
        self.cib = cib

    def run(self, argv: Sequence[str], *, timeout: float) -> RunResult:
        if list(argv[:2]) == ["cibadmin", "--query"]:
            return RunResult(tuple(argv), 0, self.cib, "")
        return RunResult(tuple(argv), 1, "", "not here")


def _live(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, cib: str) -> list[dict[str, Any]]:
    monkeypatch.setattr(check_cmd, "SubprocessRunner", lambda: _LiveCib(cib))
    _, checks = _check([], {"INSTANCEHA_INVENTORY": str(tmp_path / "none.yaml")})
    return checks


def _with_param(cib: str, resource: str, name: str, value: str) -> str:
    set_id = f'<instance_attributes id="{resource}-instance_attributes">'
    assert set_id in cib
    return cib.replace(set_id, f'{set_id}<nvpair id="{resource}-x-{name}" name="{name}" '
                               f'value="{value}"/>', 1)


@pytest.mark.parametrize(("resource", "name"), [
    ("nova-evacuate", "password"), ("nova-compute", "application_credential_secret"),
    ("fence-nova", "passwd"),
])
def test_a_cloud_secret_in_the_live_cib_fails(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                             resource: str, name: str) -> None:
    """Item 1: check flags secrets found in a live CIB (never showing them)."""
    cib = _with_param(render_cib(load_inventory(GOLDEN / "inventory-small.yaml")),
                      resource, name, SECRET)
    checks = _live(monkeypatch, tmp_path, cib)
    flagged = [c for c in checks if c["name"] == "secrets in the CIB"]
    assert [c["status"] for c in flagged] == ["FAIL"], checks
    assert f"{resource}: {name}" in flagged[0]["detail"] and SECRET not in json.dumps(checks)


def test_an_inlined_bmc_password_in_the_live_cib_warns(monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path) -> None:
    rendered = render_cib(load_inventory(GOLDEN / "inventory-small.yaml"))
    checks = _live(monkeypatch, tmp_path, rendered)
    assert [c["status"] for c in checks if c["name"] == "secrets in the CIB"] == ["pass"]
    cib = _with_param(rendered, "fence-ipmi-comp1", "password", SECRET)
    flagged = [c for c in _live(monkeypatch, tmp_path, cib) if c["name"] == "secrets in the CIB"]
    assert [c["status"] for c in flagged] == ["warn"]
    assert "fence-ipmi-comp1: password" in flagged[0]["detail"]
    assert "--include-secrets" in flagged[0]["detail"]
