"""An explicit clouds_yaml is used or refused, never silently replaced by another file.

Also: duplicate keys in clouds.yaml/secure.yaml are an error naming the key (not "last
wins"); a binary or non-UTF-8 file is a clear error; a secret in a file that group or
others can read is warned about.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest

from instanceha.agents import nova_evacuate
from instanceha.fence import nova as fence_nova
from instanceha.fencing import ExitCode
from instanceha.fencing import run as fence_run
from instanceha.nova.credentials import CredentialsError, resolve_credentials
from instanceha.nova.params import cloud_config
from instanceha.ocf import OcfRc
from instanceha.ocf import run as ocf_run

CLOUD = ("clouds:\n  lab:\n    auth:\n      auth_url: http://127.0.0.1:5000/v3\n"
         "      username: admin\n      project_name: admin\n"
         "      user_domain_name: Default\n      project_domain_name: Default\n"
         "      password: {password}\n")


def _write(path: Path, text: str | bytes, mode: int = 0o600) -> Path:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    path.chmod(mode)
    return path


@pytest.fixture
def decoy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A valid ./clouds.yaml the search path would find: it must never be used instead."""
    work = tmp_path / "cwd"
    work.mkdir()
    _write(work / "clouds.yaml", CLOUD.format(password="decoy-pw"))
    monkeypatch.chdir(work)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return work / "clouds.yaml"


def _evacuate(action: str, params: dict[str, str]) -> tuple[int, str]:
    env = {"OCF_RESOURCE_INSTANCE": "nova-evacuate", "HOME": "/nonexistent"}
    env.update({f"OCF_RESKEY_{k}": v for k, v in params.items()})
    out, err = io.StringIO(), io.StringIO()
    rc = ocf_run(nova_evacuate.AGENT, ["NovaEvacuate", action], env, out, err)
    return rc, err.getvalue()


def _reason(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("ocf-exit-reason:")]
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.mark.parametrize("kind", ["missing", "directory"])
def test_a_missing_or_directory_clouds_yaml_fails_validate_all_naming_it(
        tmp_path: Path, decoy: Path, kind: str) -> None:
    explicit = tmp_path / "etc" / "clouds.yaml"
    if kind == "directory":
        explicit.mkdir(parents=True)
    rc, stderr = _evacuate("validate-all", {"cloud": "lab", "clouds_yaml": str(explicit)})
    assert rc == OcfRc.ERR_CONFIGURED, stderr
    assert "clouds_yaml" in _reason(stderr) and str(explicit) in _reason(stderr)


def test_the_library_never_falls_back_from_an_explicit_file(tmp_path: Path, decoy: Path) -> None:
    params = nova_evacuate.SPEC.params.parse({"cloud": "lab",
                                              "clouds_yaml": str(tmp_path / "nope.yaml")})
    with pytest.raises(CredentialsError, match="clouds_yaml"):
        cloud_config(params, {})


def test_an_explicit_clouds_yaml_is_the_one_used(tmp_path: Path, decoy: Path) -> None:
    explicit = _write(tmp_path / "mine.yaml", CLOUD.format(password="mine-pw"))
    params = nova_evacuate.SPEC.params.parse({"cloud": "lab", "clouds_yaml": str(explicit)})
    assert cloud_config(params, {}).password == "mine-pw"


def test_an_explicit_clouds_yaml_without_a_cloud_is_refused(tmp_path: Path) -> None:
    explicit = _write(tmp_path / "mine.yaml", CLOUD.format(password="mine-pw"))
    rc, stderr = _evacuate("validate-all", {"clouds_yaml": str(explicit),
                                            "auth_url": "http://k:5000/v3"})
    assert rc == OcfRc.ERR_CONFIGURED and "clouds_yaml" in _reason(stderr)


def test_fence_nova_fails_with_its_config_error_code(tmp_path: Path, decoy: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = fence_run(fence_nova.AGENT, ["fence_nova"],
                     io.StringIO(f"action=validate-all\nplug=comp1\ncloud=lab\n"
                                 f"clouds_yaml={tmp_path / 'gone.yaml'}\n"),
                     {}, stdout=out, stderr=err)
    assert code == ExitCode.GENERIC_ERROR
    assert "clouds_yaml" in err.getvalue() and "gone.yaml" in err.getvalue()
    assert len(err.getvalue().strip().splitlines()) == 1 and "Traceback" not in err.getvalue()


@pytest.mark.parametrize("which", ["clouds", "secure"])
def test_duplicate_keys_are_an_error_naming_the_key(tmp_path: Path, which: str) -> None:
    clouds = CLOUD.format(password="first")
    secure = "clouds:\n  lab:\n    auth:\n      password: a\n"
    if which == "clouds":
        clouds += "      password: second\n"
    else:
        secure += "      password: b\n"
    _write(tmp_path / "clouds.yaml", clouds)
    _write(tmp_path / "secure.yaml", secure)
    env = {"OS_CLIENT_CONFIG_FILE": str(tmp_path / "clouds.yaml"),
           "OS_CLIENT_SECURE_FILE": str(tmp_path / "secure.yaml")}
    with pytest.raises(CredentialsError, match="duplicate key 'password'") as raised:
        resolve_credentials(cloud="lab", env=env, cwd=tmp_path, home=tmp_path)
    assert f"{which}.yaml" in str(raised.value)
    for value in ("first", "second", "'a'", "'b'"):
        assert value not in str(raised.value)


@pytest.mark.parametrize("content", [b"\xff\xfe\x00c\x00l\x00o\x00u\x00d\x00s",
                                     b"clouds:\n  lab:\n    auth: {password: \xe9t\xe9}\n",
                                     b"\x7fELF\x02\x01\x01\x00\x00\x00\x00"])
def test_a_binary_or_non_utf8_clouds_yaml_is_a_clear_error(tmp_path: Path,
                                                           content: bytes) -> None:
    path = _write(tmp_path / "clouds.yaml", content)
    with pytest.raises(CredentialsError, match="clouds.yaml") as raised:
        resolve_credentials(cloud="lab", env={"OS_CLIENT_CONFIG_FILE": str(path)},
                            cwd=tmp_path, home=tmp_path)
    assert "UTF-8" in str(raised.value) or "YAML" in str(raised.value)


def test_a_binary_clouds_yaml_fails_validate_all(tmp_path: Path) -> None:
    path = _write(tmp_path / "clouds.yaml", b"clouds: \xff\xfe\n")
    rc, stderr = _evacuate("validate-all", {"cloud": "lab", "clouds_yaml": str(path)})
    assert rc == OcfRc.ERR_CONFIGURED and "clouds.yaml" in _reason(stderr)


@pytest.mark.parametrize(("which", "mode", "warned"), [
    ("clouds", 0o644, True), ("clouds", 0o640, True), ("clouds", 0o600, False),
    ("secure", 0o604, True), ("secure", 0o600, False),
])
def test_a_readable_file_holding_a_secret_is_warned_about(
        tmp_path: Path, which: str, mode: int, warned: bool) -> None:
    without = CLOUD.replace("      password: {password}\n", "")
    clouds = _write(tmp_path / "clouds.yaml", CLOUD.format(password="pw") if which == "clouds"
                    else without, mode if which == "clouds" else 0o644)
    secure = _write(tmp_path / "secure.yaml", "clouds:\n  lab:\n    auth:\n      password: pw\n",
                    mode if which == "secure" else 0o600)
    env = {"OS_CLIENT_CONFIG_FILE": str(clouds), "OS_CLIENT_SECURE_FILE": str(secure)}
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("instanceha.credentials")
    logger.addHandler(handler)
    try:
        resolve_credentials(cloud="lab", env=env, cwd=tmp_path, home=tmp_path)
    finally:
        logger.removeHandler(handler)
    warnings = [r.getMessage() for r in records]
    named = [w for w in warnings if f"{which}.yaml" in w and "readable" in w]
    assert bool(named) is warned, warnings
    assert all("pw" not in w.split() for w in warnings)
