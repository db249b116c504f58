"""Credential resolution: clouds.yaml + secure.yaml, OS_* variables, explicit values."""

from __future__ import annotations

from pathlib import Path

import pytest

from instanceha.nova.credentials import (
    CloudConfig,
    CredentialsError,
    config_search_paths,
    resolve_credentials,
)

PASSWORD_ENV = {
    "OS_AUTH_URL": "http://keystone.example:5000/v3",
    "OS_USERNAME": "admin",
    "OS_PASSWORD": "s3cret",
    "OS_PROJECT_NAME": "admin",
    "OS_USER_DOMAIN_NAME": "Default",
    "OS_PROJECT_DOMAIN_NAME": "Default",
}

CLOUDS = """
clouds:
  lab:
    auth:
      auth_url: http://127.0.0.1:5000/v3
      username: admin
      project_name: admin
      domain_name: Default
    region_name: RegionOne
    interface: internal
    verify: false
    api_timeout: 12
  appcred:
    auth_type: v3applicationcredential
    auth:
      auth_url: http://127.0.0.1:5000
      application_credential_id: abc123
      application_credential_secret: topsecret
    cacert: /etc/ssl/ca.pem
  vendor:
    profile: somevendor
"""
SECURE = """
clouds:
  lab:
    auth:
      password: from-secure
"""


def write_configs(base: Path, clouds: str = CLOUDS, secure: str | None = SECURE) -> dict[str, str]:
    (base / "clouds.yaml").write_text(clouds)
    env = {"OS_CLIENT_CONFIG_FILE": str(base / "clouds.yaml")}
    if secure is not None:
        (base / "secure.yaml").write_text(secure)
        env["OS_CLIENT_SECURE_FILE"] = str(base / "secure.yaml")
    return env


def test_env_password_credentials() -> None:
    config = resolve_credentials(env=PASSWORD_ENV)
    assert config.username == "admin"
    assert config.password == "s3cret"
    assert config.user_domain_name == "Default"
    assert config.interface == "public"
    assert config.verify is True
    assert "OS_*" in config.source


def test_repr_masks_secrets() -> None:
    config = resolve_credentials(
        env={
            **PASSWORD_ENV,
            "OS_AUTH_TYPE": "v3applicationcredential",
            "OS_APPLICATION_CREDENTIAL_ID": "id1",
            "OS_APPLICATION_CREDENTIAL_SECRET": "appsecret",
        }
    )
    text = repr(config) + str(config)
    assert "s3cret" not in text
    assert "appsecret" not in text
    assert "***" in text


def test_clouds_yaml_merged_with_secure_yaml(tmp_path: Path) -> None:
    env = write_configs(tmp_path)
    config = resolve_credentials(cloud="lab", env=env)
    assert config.password == "from-secure"
    assert config.user_domain_name == "Default"
    assert config.project_domain_name == "Default"
    assert config.region_name == "RegionOne"
    assert config.interface == "internal"
    assert config.insecure is True
    assert config.verify is False
    assert config.read_timeout == 12.0
    assert "secure.yaml" in config.source


def test_os_cloud_names_the_cloud(tmp_path: Path) -> None:
    env = write_configs(tmp_path)
    config = resolve_credentials(env={**env, "OS_CLOUD": "appcred"})
    assert config.auth_type == "v3applicationcredential"
    assert config.application_credential_id == "abc123"
    assert config.verify == "/etc/ssl/ca.pem"


def test_explicit_values_override_the_source(tmp_path: Path) -> None:
    env = write_configs(tmp_path)
    config = resolve_credentials(
        cloud="lab", env=env, explicit={"region_name": "RegionTwo", "password": "", "cacert": None}
    )
    assert config.region_name == "RegionTwo"
    assert config.password == "from-secure"  # "" means unset
    assert "explicit" in config.source


def test_explicit_only() -> None:
    config = resolve_credentials(
        explicit={
            "auth_url": "https://k:5000",
            "user_id": "u1",
            "password": "p",
            "project_id": "p1",
            "interface": "adminURL",
            "insecure": "yes",
            "connect_timeout": "3",
        }
    )
    assert config.interface == "admin"
    assert config.insecure is True
    assert config.connect_timeout == 3.0


def test_search_order(tmp_path: Path) -> None:
    clouds, secure = config_search_paths(
        {"OS_CLIENT_CONFIG_FILE": "/x/c.yaml"}, cwd=tmp_path, home=Path("/home/u")
    )
    assert clouds == [
        Path("/x/c.yaml"),
        tmp_path / "clouds.yaml",
        Path("/home/u/.config/openstack/clouds.yaml"),
        Path("/etc/openstack/clouds.yaml"),
    ]
    assert secure[0] == tmp_path / "secure.yaml"


def test_cwd_clouds_yaml_is_found(tmp_path: Path) -> None:
    write_configs(tmp_path)
    config = resolve_credentials(cloud="lab", env={}, cwd=tmp_path, home=tmp_path / "nohome")
    assert config.username == "admin"


@pytest.mark.parametrize(
    ("drop", "named"),
    [
        ("OS_AUTH_URL", "auth_url"),
        ("OS_PASSWORD", "password"),
        ("OS_USER_DOMAIN_NAME", "user_domain_name"),
        ("OS_PROJECT_NAME", "project_name"),
        ("OS_PROJECT_DOMAIN_NAME", "project_domain_name"),
        ("OS_USERNAME", "username"),
    ],
)
def test_missing_values_are_named(drop: str, named: str) -> None:
    env = {k: v for k, v in PASSWORD_ENV.items() if k != drop}
    with pytest.raises(CredentialsError, match=named):
        resolve_credentials(env=env)


def test_application_credential_needs_secret() -> None:
    with pytest.raises(CredentialsError, match="application_credential_secret"):
        resolve_credentials(
            explicit={
                "auth_url": "http://k",
                "auth_type": "v3applicationcredential",
                "application_credential_id": "x",
            }
        )


def test_application_credential_by_name_needs_user() -> None:
    with pytest.raises(CredentialsError, match="username or user_id"):
        resolve_credentials(
            explicit={
                "auth_url": "http://k",
                "auth_type": "v3applicationcredential",
                "application_credential_name": "ha",
                "application_credential_secret": "s",
            }
        )


@pytest.mark.parametrize(
    ("explicit", "message"),
    [
        ({"auth_type": "token"}, "auth_type"),
        ({"interface": "private"}, "interface"),
        ({"insecure": "maybe"}, "insecure"),
        ({"read_timeout": "-1"}, "read_timeout"),
        ({"colour": "blue"}, "unknown credential parameter"),
    ],
)
def test_bad_values(explicit: dict[str, str], message: str) -> None:
    with pytest.raises(CredentialsError, match=message):
        resolve_credentials(env=PASSWORD_ENV, explicit=explicit)


def test_unknown_cloud(tmp_path: Path) -> None:
    env = write_configs(tmp_path)
    with pytest.raises(CredentialsError, match="'nope' is not defined"):
        resolve_credentials(cloud="nope", env=env)


def test_no_clouds_yaml(tmp_path: Path) -> None:
    with pytest.raises(CredentialsError, match="no clouds.yaml found"):
        resolve_credentials(
            cloud="lab",
            env={"OS_CLIENT_CONFIG_FILE": str(tmp_path / "missing.yaml")},
            cwd=tmp_path,
            home=tmp_path,
        )


def test_vendor_profile_refused(tmp_path: Path) -> None:
    env = write_configs(tmp_path)
    with pytest.raises(CredentialsError, match="vendor profile"):
        resolve_credentials(cloud="vendor", env=env)


def test_invalid_yaml(tmp_path: Path) -> None:
    env = write_configs(tmp_path, clouds="clouds: [unclosed", secure=None)
    with pytest.raises(CredentialsError, match="not valid YAML"):
        resolve_credentials(cloud="lab", env=env)


def test_nothing_given() -> None:
    with pytest.raises(CredentialsError, match="auth_url is required"):
        resolve_credentials(env={})


def test_config_is_frozen() -> None:
    config = CloudConfig(auth_url="http://k")
    with pytest.raises(AttributeError):
        config.auth_url = "x"  # type: ignore[misc]
