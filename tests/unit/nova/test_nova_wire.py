"""Microversion choice and JSON → model conversion."""

from __future__ import annotations

import pytest

from instanceha.nova.model import (
    NovaAuthError,
    NovaConflict,
    NovaError,
    NovaNotFound,
    NovaTimeout,
    NovaUnavailable,
)
from instanceha.nova.wire import (
    ApiVersions,
    error_for_status,
    fault_message,
    has_next_link,
    image_from_json,
    migration_from_json,
    parse_version,
    server_from_json,
    service_from_json,
)


def test_parse_version() -> None:
    assert parse_version("2.104") == (2, 104)
    with pytest.raises(ValueError):
        parse_version("latest")


def test_modern_nova() -> None:
    v = ApiVersions((2, 104))
    assert v.services == "2.53"
    assert v.uuid_services
    assert v.servers == "2.47"
    assert v.migrations == "2.59"
    assert v.evacuate == "2.68"  # never 2.95+: that would stop every server


@pytest.mark.parametrize(
    ("maximum", "services", "servers", "migrations", "evacuate"),
    [
        ((2, 60), "2.53", "2.47", "2.59", "2.29"),
        ((2, 53), "2.53", "2.47", "2.23", "2.29"),
        ((2, 42), "2.11", "2.23", "2.23", "2.29"),
        ((2, 25), "2.11", "2.23", "2.23", "2.23"),
    ],
)
def test_older_novas(
    maximum: tuple[int, int], services: str, servers: str, migrations: str, evacuate: str
) -> None:
    v = ApiVersions(maximum)
    assert (v.services, v.servers, v.migrations, v.evacuate) == (
        services,
        servers,
        migrations,
        evacuate,
    )


def test_too_old_nova_is_refused() -> None:
    with pytest.raises(ValueError, match="2.23"):
        ApiVersions((2, 11))


def test_service_from_json_legacy_integer_id() -> None:
    svc = service_from_json(
        {
            "id": 7,
            "host": "c1",
            "binary": "nova-compute",
            "state": "down",
            "status": "disabled",
            "forced_down": True,
            "disabled_reason": "instanceha: x",
            "zone": "nova",
        }
    )
    assert svc.id == "7"
    assert svc.disabled_by_us


SERVER = {
    "id": "s1",
    "name": "vm",
    "status": "SHUTOFF",
    "OS-EXT-SRV-ATTR:host": "c1",
    "OS-EXT-STS:task_state": None,
    "OS-EXT-STS:vm_state": "stopped",
    "tenant_id": "p1",
    "image": {"id": "img"},
    "flavor": {"original_name": "m1", "extra_specs": {"evacuable": "true"}, "vcpus": 1},
    "metadata": {"k": "v"},
    "locked": True,
}


def test_server_from_json_embedded_flavor() -> None:
    srv = server_from_json(SERVER)
    assert (srv.host, srv.vm_state, srv.project_id, srv.image_id) == ("c1", "stopped", "p1", "img")
    assert srv.flavor_name == "m1"
    assert srv.flavor_extra_specs == {"evacuable": "true"}
    assert srv.locked


def test_server_from_json_boot_from_volume_and_old_flavor() -> None:
    doc = {**SERVER, "image": "", "flavor": {"id": "f1", "links": []}}
    srv = server_from_json(doc, {"f1": ("m1.big", {"a": "b"})})
    assert srv.image_id is None
    assert (srv.flavor_name, srv.flavor_extra_specs) == ("m1.big", {"a": "b"})


def test_migration_uses_uuid_when_present() -> None:
    mig = migration_from_json(
        {
            "id": 3,
            "uuid": "u3",
            "instance_uuid": "s",
            "source_compute": "c1",
            "dest_compute": None,
            "status": "accepted",
            "migration_type": "evacuation",
        }
    )
    assert mig.id == "u3"
    assert mig.dest_compute is None


def test_image_properties_are_the_custom_keys() -> None:
    image = image_from_json(
        {
            "id": "i",
            "name": "cirros",
            "status": "active",
            "evacuable": "true",
            "hw_x": 1,
            "tags": ["evacuable"],
            "locations": [],
            "size": 10,
        }
    )
    assert image.properties == {"evacuable": "true", "hw_x": "1"}
    assert image.tags == ("evacuable",)


def test_next_link() -> None:
    assert has_next_link({"servers_links": [{"rel": "next", "href": "x"}]}, "servers")
    assert not has_next_link({"servers": []}, "servers")


def test_fault_message_formats() -> None:
    assert (
        fault_message({"conflictingRequest": {"message": "busy\n now", "code": 409}}) == "busy now"
    )
    assert fault_message({"error": {"message": "nope", "code": 401}}) == "nope"
    assert fault_message("<html><h1>502 Bad Gateway</h1></html>") == "502 Bad Gateway"
    assert fault_message(None) == ""


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, NovaConflict),
        (401, NovaAuthError),
        (403, NovaAuthError),
        (404, NovaNotFound),
        (409, NovaConflict),
        (500, NovaUnavailable),
        (503, NovaUnavailable),
        (504, NovaTimeout),
        (418, NovaError),
    ],
)
def test_error_for_status(status: int, kind: type[NovaError]) -> None:
    err = error_for_status(status, {"x": {"message": "why"}}, "PUT", "/os-services/1")
    assert type(err) is kind
    assert "why" in str(err)
    assert f"HTTP {status}" in str(err)
    assert "\n" not in str(err)
