"""NovaClient over a scripted transport: microversions, paging, services, errors."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest
from keystoneauth1 import exceptions as ks
from novaclient import exceptions as nc

from instanceha.nova.client import NovaClient, translate_error
from instanceha.nova.credentials import CloudConfig
from instanceha.nova.model import (
    NovaAuthError,
    NovaConflict,
    NovaNotFound,
    NovaTimeout,
    NovaUnavailable,
)

CONFIG = CloudConfig(auth_url="http://127.0.0.1:5000/v3", username="admin", password="pw")
Handler = Callable[[Mapping[str, Any], Any], tuple[int, Any]]


class ScriptedTransport:
    """Answers (method, service, path) from handlers and records every call."""

    def __init__(self, maximum: tuple[int, int] = (2, 104)) -> None:
        self.maximum = maximum
        self.version_requests = 0
        self.calls: list[dict[str, Any]] = []
        self.handlers: dict[tuple[str, str], Handler] = {}

    def on(self, method: str, path: str, handler: Handler) -> None:
        self.handlers[(method, path)] = handler

    def max_microversion(self) -> tuple[int, int]:
        self.version_requests += 1
        return self.maximum

    def endpoint(self, service: str) -> str:
        return {"compute": "http://127.0.0.1:8774/v2.1", "image": "http://127.0.0.1:9292"}[service]

    def call(
        self,
        method: str,
        service: str,
        path: str,
        *,
        microversion: str | None = None,
        params: Mapping[str, str | int] | None = None,
        body: object = None,
    ) -> tuple[int, Any]:
        self.calls.append(
            {
                "method": method,
                "service": service,
                "path": path,
                "mv": microversion,
                "params": dict(params or {}),
                "body": body,
            }
        )
        handler = self.handlers.get((method, path))
        if handler is None:
            return 404, {"itemNotFound": {"message": f"no route {method} {path}"}}
        return handler(dict(params or {}), body)


def client(transport: ScriptedTransport, page_size: int = 1000) -> NovaClient:
    return NovaClient(CONFIG, page_size=page_size, transport=transport)


def server_doc(i: int, vm_state: str = "active") -> dict[str, Any]:
    return {
        "id": f"s{i:03d}",
        "name": f"vm{i}",
        "status": {"active": "ACTIVE", "stopped": "SHUTOFF"}[vm_state],
        "OS-EXT-SRV-ATTR:host": "c1",
        "OS-EXT-STS:vm_state": vm_state,
        "OS-EXT-STS:task_state": None,
        "tenant_id": "p",
        "image": {"id": "img"},
        "flavor": {"original_name": "m1", "extra_specs": {}},
    }


def paged(collection: str, docs: list[dict[str, Any]], key: str) -> Handler:
    """A Nova-like paged collection: limit/marker, ``next`` link when the page is full."""

    def handler(params: Mapping[str, Any], _body: Any) -> tuple[int, Any]:
        start = 0
        if "marker" in params:
            start = [d[key] for d in docs].index(params["marker"]) + 1
        limit = int(params["limit"])
        page = docs[start : start + limit]
        answer: dict[str, Any] = {collection: page}
        if len(page) == limit:
            answer[f"{collection}_links"] = [{"rel": "next", "href": "..."}]
        return 200, answer

    return handler


# ----------------------------------------------------------------- microversions


def test_microversion_negotiated_once() -> None:
    t = ScriptedTransport()
    t.on("GET", "/os-services", lambda p, b: (200, {"services": []}))
    c = client(t)
    c.list_compute_services()
    c.list_compute_services("c1")
    assert t.version_requests == 1
    assert {call["mv"] for call in t.calls} == {"2.53"}
    assert t.calls[1]["params"] == {"binary": "nova-compute", "host": "c1"}


def test_too_old_nova_is_a_clear_error() -> None:
    c = client(ScriptedTransport((2, 10)))
    with pytest.raises(Exception, match="needs 2.23") as info:
        c.list_compute_services()
    assert info.value.__cause__ is None


# ------------------------------------------------------------------------ paging


@pytest.mark.parametrize(("count", "page_size", "requests"), [(5, 2, 3), (4, 2, 3), (1, 1000, 1)])
def test_servers_follow_every_page(count: int, page_size: int, requests: int) -> None:
    t = ScriptedTransport()
    docs = [server_doc(i) for i in range(count)]
    t.on("GET", "/servers/detail", paged("servers", docs, "id"))
    servers = client(t, page_size=page_size).list_servers_on_host("c1")
    assert [s.id for s in servers] == [d["id"] for d in docs]
    gets = [c for c in t.calls if c["path"] == "/servers/detail"]
    assert len(gets) == requests
    assert all(g["params"]["all_tenants"] == 1 and g["params"]["host"] == "c1" for g in gets)
    assert all(g["mv"] == "2.47" for g in gets)
    assert "marker" not in gets[0]["params"]


def test_server_cap_above_nova_max_limit_still_pages() -> None:
    """Nova caps limit at its max_limit: a short page with a next link is not the end."""
    t = ScriptedTransport()
    docs = [server_doc(i) for i in range(5)]
    inner = paged("servers", docs, "id")
    t.on("GET", "/servers/detail", lambda p, b: inner({**p, "limit": 2}, b))
    assert len(client(t, page_size=1000).list_servers_on_host("c1")) == 5


def test_repeated_marker_stops() -> None:
    t = ScriptedTransport()
    page = {"servers": [server_doc(1)], "servers_links": [{"rel": "next", "href": "x"}]}
    t.on("GET", "/servers/detail", lambda p, b: (200, page))
    with pytest.raises(NovaUnavailable, match="repeated page marker"):
        client(t, page_size=1).list_servers_on_host("c1")


def test_old_nova_fetches_each_flavor_once() -> None:
    t = ScriptedTransport((2, 42))
    docs = [{**server_doc(i), "flavor": {"id": "f1"}} for i in range(3)]
    t.on("GET", "/servers/detail", paged("servers", docs, "id"))
    t.on("GET", "/flavors/f1", lambda p, b: (200, {"flavor": {"name": "m1.old"}}))
    t.on("GET", "/flavors/f1/os-extra_specs", lambda p, b: (200, {"extra_specs": {"e": "1"}}))
    servers = client(t).list_servers_on_host("c1")
    assert {(s.flavor_name, s.flavor_extra_specs["e"]) for s in servers} == {("m1.old", "1")}
    assert sum(c["path"] == "/flavors/f1" for c in t.calls) == 1


def test_evacuations_paged_filtered_newest_first() -> None:
    t = ScriptedTransport()
    docs = [
        {
            "id": i,
            "uuid": f"m{i}",
            "instance_uuid": "s",
            "source_compute": "c1",
            "dest_compute": "c2",
            "status": "done",
            "migration_type": "evacuation",
            "created_at": f"2026-01-01T00:00:0{i % 3}.000000",
        }
        for i in range(5)
    ]
    t.on("GET", "/os-migrations", paged("migrations", docs, "uuid"))
    migrations = client(t, page_size=2).list_evacuations("c1")
    assert [m.id for m in migrations] == ["m2", "m4", "m1", "m3", "m0"]
    first = next(c for c in t.calls if c["path"] == "/os-migrations")
    assert first["params"]["migration_type"] == "evacuation"
    assert first["params"]["source_compute"] == "c1"
    assert first["mv"] == "2.59"


# ---------------------------------------------------------------------- services

SVC = {
    "id": "uuid-1",
    "host": "c1",
    "binary": "nova-compute",
    "state": "up",
    "status": "enabled",
    "forced_down": False,
    "disabled_reason": None,
    "zone": "nova",
}


def test_force_down_uses_the_uuid_api() -> None:
    t = ScriptedTransport()
    t.on("GET", "/os-services", lambda p, b: (200, {"services": [SVC]}))
    t.on(
        "PUT", "/os-services/uuid-1", lambda p, b: (200, {"service": {**SVC, **b, "state": "down"}})
    )
    svc = client(t).force_down("c1")
    assert svc.forced_down and svc.state == "down"
    put = t.calls[-1]
    assert put["body"] == {"forced_down": True}
    assert put["mv"] == "2.53"


def test_force_down_is_idempotent_without_a_write() -> None:
    t = ScriptedTransport()
    t.on("GET", "/os-services", lambda p, b: (200, {"services": [{**SVC, "forced_down": True}]}))
    client(t).force_down("c1")
    assert [c["method"] for c in t.calls] == ["GET"]


def test_legacy_2_11_force_down_and_disable() -> None:
    t = ScriptedTransport((2, 42))
    state = {**SVC, "id": 7}
    t.on("GET", "/os-services", lambda p, b: (200, {"services": [state]}))

    def update(p: Mapping[str, Any], body: Any) -> tuple[int, Any]:
        state.update({k: v for k, v in body.items() if k not in ("host", "binary")})
        return 200, {"service": body}

    t.on("PUT", "/os-services/force-down", update)
    t.on("PUT", "/os-services/disable-log-reason", update)
    c = client(t)
    assert c.force_down("c1").forced_down
    assert c.disable("c1", "instanceha: test").disabled_reason == "instanceha: test"
    puts = [x for x in t.calls if x["method"] == "PUT"]
    assert puts[0]["body"] == {"host": "c1", "binary": "nova-compute", "forced_down": True}
    assert puts[1]["body"]["disabled_reason"] == "instanceha: test"
    assert all(p["mv"] == "2.11" for p in puts)


def test_unforce_refused_while_done_evacuations_remain() -> None:
    t = ScriptedTransport()
    t.on("GET", "/os-services", lambda p, b: (200, {"services": [{**SVC, "forced_down": True}]}))
    msg = (
        "Unable to force up host c1 as `done` evacuation migration records remain "
        "associated with the host."
    )
    t.on("PUT", "/os-services/uuid-1", lambda p, b: (400, {"badRequest": {"message": msg}}))
    with pytest.raises(NovaConflict, match="done` evacuation migration records remain"):
        client(t).unforce_down("c1")


def test_unknown_host() -> None:
    t = ScriptedTransport()
    t.on("GET", "/os-services", lambda p, b: (200, {"services": []}))
    with pytest.raises(NovaNotFound, match="c9"):
        client(t).disable("c9", "instanceha: x")


# ---------------------------------------------------------------------- evacuate


@pytest.mark.parametrize(("maximum", "microversion"), [((2, 104), "2.68"), ((2, 60), "2.29")])
def test_evacuate_is_one_post_below_2_95(maximum: tuple[int, int], microversion: str) -> None:
    t = ScriptedTransport(maximum)
    t.on("POST", "/servers/s001/action", lambda p, b: (200, {}))
    client(t).evacuate("s001", "c2")
    (post,) = t.calls
    assert post["body"] == {"evacuate": {"host": "c2"}}
    assert post["mv"] == microversion


def test_evacuate_without_target_lets_the_scheduler_pick() -> None:
    t = ScriptedTransport()
    t.on("POST", "/servers/s001/action", lambda p, b: (200, {}))
    client(t).evacuate("s001")
    assert t.calls[-1]["body"] == {"evacuate": {}}


def test_evacuate_refused_while_source_up() -> None:
    t = ScriptedTransport()
    t.on(
        "POST",
        "/servers/s001/action",
        lambda p, b: (400, {"badRequest": {"message": "Compute service of c1 is still in use."}}),
    )
    with pytest.raises(NovaConflict, match="still in use"):
        client(t).evacuate("s001")


def test_image_goes_to_glance() -> None:
    t = ScriptedTransport()
    t.on(
        "GET", "/v2/images/i1", lambda p, b: (200, {"id": "i1", "evacuable": "true", "tags": ["x"]})
    )
    image = client(t).get_image("i1")
    assert image.properties == {"evacuable": "true"}
    assert t.calls[-1]["service"] == "image"


# ------------------------------------------------------------------------ errors


def raising(err: Exception) -> Handler:
    def handler(_p: Mapping[str, Any], _b: Any) -> tuple[int, Any]:
        raise err

    return handler


REFUSED = ks.ConnectFailure(
    "Unable to establish connection to http://127.0.0.1:8774/v2.1/os-services: "
    "HTTPConnectionPool(host='127.0.0.1', port=8774): Max retries exceeded with url: "
    "/v2.1/os-services (Caused by NewConnectionError('<urllib3.connection.HTTPConnection "
    "object at 0x7f>: Failed to establish a new connection: [Errno 111] Connection refused'))"
)


def test_connection_refused_becomes_unavailable_without_traceback() -> None:
    t = ScriptedTransport()
    t.on("GET", "/os-services", raising(REFUSED))
    with pytest.raises(NovaUnavailable) as info:
        client(t).list_compute_services()
    assert str(info.value) == "cannot reach Nova at http://127.0.0.1:8774: connection refused"
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__


@pytest.mark.parametrize(
    ("err", "kind", "text"),
    [
        (REFUSED, NovaUnavailable, "connection refused"),
        (
            ks.ConnectFailure(
                "Unable to establish connection to http://127.0.0.1:5000/v3/auth/"
                "tokens: [Errno 111] Connection refused"
            ),
            NovaUnavailable,
            "cannot reach Keystone at http://127.0.0.1:5000: connection refused",
        ),
        (
            ks.ConnectTimeout("Request to http://10.0.0.1:8774/v2.1 timed out"),
            NovaTimeout,
            "timed out talking to Nova at http://10.0.0.1:8774",
        ),
        (
            ks.SSLError(
                "SSL exception connecting to https://k:5000/v3: "
                "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"
            ),
            NovaUnavailable,
            "certificate verification failed",
        ),
        (
            ks.ConnectFailure(
                "Unable to establish connection to http://nohost:5000/v3: Name or service not known"
            ),
            NovaUnavailable,
            "does not resolve",
        ),
        (
            ks.Unauthorized(
                message="The request you have made requires authentication.",
                url="http://127.0.0.1:5000/v3/auth/tokens",
                method="POST",
            ),
            NovaAuthError,
            "rejected the credentials",
        ),
        (
            ks.NotFound(url="http://127.0.0.1:5000/v3/auth/tokens", method="POST"),
            NovaAuthError,
            "auth_url",
        ),
        (
            ks.ServiceUnavailable(url="http://127.0.0.1:5000/v3/auth/tokens", method="POST"),
            NovaUnavailable,
            "HTTP 503",
        ),
        (
            ks.Forbidden(
                message="policy", url="http://127.0.0.1:8774/v2.1/os-services", method="GET"
            ),
            NovaAuthError,
            "HTTP 403",
        ),
        (ks.EndpointNotFound(), NovaAuthError, "region_name"),
        (ks.DiscoveryFailure("no version"), NovaUnavailable, "discover"),
        (
            nc.Conflict(409, "Cannot 'evacuate' instance while it is in task_state rebuilding"),
            NovaConflict,
            "task_state rebuilding",
        ),
        (nc.NotFound(404, "Instance x could not be found."), NovaNotFound, "could not be found"),
        (nc.Unauthorized(401, "auth"), NovaAuthError, "HTTP 401"),
        (nc.Forbidden(403, "policy"), NovaAuthError, "HTTP 403"),
        (nc.BadRequest(400, "Unable to force up host c1"), NovaConflict, "force up"),
        (nc.ClientException(500, "boom"), NovaUnavailable, "boom"),
        (RuntimeError("weird\nmultiline"), NovaUnavailable, "weird multiline"),
    ],
)
def test_translate_error(err: Exception, kind: type, text: str) -> None:
    out = translate_error(
        err,
        auth_url="http://127.0.0.1:5000/v3",
        endpoints={"compute": "http://127.0.0.1:8774/v2.1"},
        what="GET /os-services",
    )
    assert type(out) is kind
    assert text in str(out)
    assert "\n" not in str(out)
