"""Bad input is refused at validation time, once, in the shared declaration layer.

Every agent's parameters go through :mod:`instanceha.spec`: non-UTF-8 values, values
longer than their declaration allows, integers past their declared maximum (every
integer declares one), and command lines with unbalanced quotes are parameter errors:
OCF_ERR_CONFIGURED with an exit reason naming the parameter (OCF agents), exit 1 with
one line naming it (fence agents) — never a later "failed unexpectedly".
"""

from __future__ import annotations

import importlib
import io
import pkgutil
from pathlib import Path

import pytest

import instanceha.agents
import instanceha.fence
from instanceha.agents import nova_compute, nova_evacuate
from instanceha.fence import ipmi as fence_ipmi
from instanceha.fencing import FenceAgentSpec
from instanceha.fencing import run as fence_run
from instanceha.ocf import AgentSpec, OcfRc
from instanceha.ocf import run as ocf_run
from instanceha.spec import Param, ParamError, ParamType

CREDENTIALS = {"auth_url": "http://127.0.0.1:5000/v3", "username": "admin",
               "password": "pw", "project_name": "admin", "user_domain_name": "Default",
               "project_domain_name": "Default"}
IPMI = {"ip": "192.0.2.10", "username": "admin", "password": "pw"}


def _ocf_specs() -> list[AgentSpec]:
    specs = []
    for info in pkgutil.iter_modules(instanceha.agents.__path__):
        spec = getattr(importlib.import_module(f"instanceha.agents.{info.name}"), "SPEC", None)
        if isinstance(spec, AgentSpec):
            specs.append(spec)
    return specs


def _fence_specs() -> list[FenceAgentSpec]:
    specs = []
    for info in pkgutil.iter_modules(instanceha.fence.__path__):
        spec = getattr(importlib.import_module(f"instanceha.fence.{info.name}"), "SPEC", None)
        if isinstance(spec, FenceAgentSpec):
            specs.append(spec)
    return specs


def _ocf(agent: object, action: str, params: dict[str, str], tmp_path: Path) -> tuple[int, str]:
    env = {"OCF_RESOURCE_INSTANCE": "rsc", "HA_RSCTMP": str(tmp_path / "rsctmp"),
           "HOME": "/nonexistent"}
    env.update({f"OCF_RESKEY_{k}": v for k, v in params.items()})
    out, err = io.StringIO(), io.StringIO()
    rc = ocf_run(agent, ["Agent", action], env, out, err)  # type: ignore[arg-type]
    return rc, err.getvalue()


def _reason(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("ocf-exit-reason:")]
    assert len(lines) == 1, stderr
    assert len(lines[0]) < 500
    return lines[0]


def _fence(stdin: bytes) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    stream = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8")
    code = fence_run(fence_ipmi.AGENT, ["fence_ipmi"], stream, {}, stdout=out, stderr=err)
    return code, err.getvalue()


def _fence_lines(**options: str) -> bytes:
    values = {"action": "validate-all", **IPMI, **options}
    return "".join(f"{k}={v}\n" for k, v in values.items()).encode("utf-8", "surrogateescape")


# -- every integer has a maximum -------------------------------------------------------

def test_every_integer_parameter_of_every_agent_declares_a_maximum() -> None:
    params = [p for spec in _ocf_specs() for p in spec.params]
    params += [p for spec in _fence_specs() for p in spec.all_params]
    integers = [p for p in params if p.type is ParamType.INTEGER]
    assert integers
    assert [p.name for p in integers if p.maximum is None or p.minimum is None] == []


def test_an_integer_declared_without_bounds_is_a_declaration_error() -> None:
    with pytest.raises(TypeError, match="maximum"):
        Param("count", "a count", type=ParamType.INTEGER, default=1, minimum=0)


def test_a_huge_fence_delay_fails_validate_all_not_fencing() -> None:
    code, stderr = _fence(_fence_lines(delay="1" + "0" * 23))
    assert code == 1 and "delay" in stderr and "at most" in stderr
    assert len(stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("raw", ["1" + "0" * 30, "9" * 5000, "١٢", "1_000"])
def test_a_huge_or_odd_ocf_integer_is_err_configured(tmp_path: Path, raw: str) -> None:
    rc, stderr = _ocf(nova_evacuate.AGENT, "validate-all",
                      {**CREDENTIALS, "instance_timeout": raw}, tmp_path)
    assert rc == OcfRc.ERR_CONFIGURED, stderr
    assert "instance_timeout" in _reason(stderr)


# -- strings: UTF-8 and a length cap ----------------------------------------------------

@pytest.mark.parametrize("name", ["username", "password"])
def test_a_non_utf8_credential_is_err_configured(tmp_path: Path, name: str) -> None:
    rc, stderr = _ocf(nova_evacuate.AGENT, "validate-all",
                      {**CREDENTIALS, name: "adm\udcffin"}, tmp_path)
    assert rc == OcfRc.ERR_CONFIGURED, stderr
    assert f"'{name}'" in _reason(stderr) and "UTF-8" in _reason(stderr)


@pytest.mark.parametrize("name", ["username", "password"])
def test_a_non_utf8_fence_credential_names_the_parameter(name: str) -> None:
    code, stderr = _fence(_fence_lines(**{name: "adm\udcffin"}))
    assert code == 1 and f"'{name}'" in stderr and "UTF-8" in stderr, stderr
    assert len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr


def test_a_megabyte_ip_is_refused_without_echoing_it() -> None:
    code, stderr = _fence(_fence_lines(ip="a" * 1_000_000))
    assert code == 1 and "'ip'" in stderr and "longer than" in stderr
    assert len(stderr) < 300


def test_a_long_ocf_string_is_err_configured(tmp_path: Path) -> None:
    rc, stderr = _ocf(nova_evacuate.AGENT, "validate-all",
                      {**CREDENTIALS, "tag_key": "k" * 100_000}, tmp_path)
    assert rc == OcfRc.ERR_CONFIGURED and "tag_key" in _reason(stderr)


def test_a_secret_parameter_error_never_shows_the_value() -> None:
    param = Param("token", "a secret", secret=True, max_length=8)
    with pytest.raises(ParamError) as raised:
        param.coerce("0123456789-secret")
    assert "secret" not in str(raised.value).replace("'token'", "")


# -- command lines with unbalanced quotes -----------------------------------------------

def test_unbalanced_quotes_in_password_script_fail_validate_all() -> None:
    lines = _fence_lines(password_script='cat "/etc/bmc pw').replace(b"password=pw\n", b"")
    code, stderr = _fence(lines)
    assert code == 1 and "password_script" in stderr, stderr
    assert len(stderr.strip().splitlines()) == 1


def test_an_empty_password_script_fails_validate_all() -> None:
    code, stderr = _fence(_fence_lines(password_script="'' ").replace(b"password=pw\n", b""))
    assert code == 1 and "password_script" in stderr, stderr


def test_unbalanced_quotes_in_nova_compute_config_files_are_err_configured(
        tmp_path: Path) -> None:
    rc, stderr = _ocf(nova_compute.AGENT, "validate-all",
                      {**CREDENTIALS, "service_manager": "direct", "binary": "/bin/true",
                       "nova_host": "comp1", "config_files": '"/etc/nova/nova.conf'}, tmp_path)
    assert rc == OcfRc.ERR_CONFIGURED, stderr
    assert "config_files" in _reason(stderr)
