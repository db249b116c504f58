"""NovaClient: :class:`instanceha.nova.model.NovaPort` over a real Keystone + Nova + Glance.

The only module that imports keystoneauth1 (lazily, in :class:`KeystoneTransport`).
It speaks Nova's REST API directly through a keystoneauth session rather than
through python-novaclient: Debian 12's novaclient stops at microversion 2.92,
and evacuating a stopped server without starting it needs 2.95.

**Microversions** are negotiated once per client from the compute endpoint's
version document (see :class:`instanceha.nova.wire.ApiVersions`): services by
UUID at 2.53 (host/binary at 2.11 below that), servers at 2.47 (flavor extra
specs embedded), migrations at 2.59 (paging), evacuate at 2.68 (2.29 on older
Nova).

**Power state across an evacuation** (``evacuate`` is one POST and returns
nothing): below microversion 2.95 Nova itself keeps it. An ACTIVE server is
rebuilt running; a SHUTOFF server is rebuilt and stopped again by
nova-compute *before* it moves ``host`` and marks the migration ``done``; an
ERROR server is rebuilt running. We never evacuate at 2.95+, where Nova
would leave every server SHUTOFF. Measured on the lab (nova 34, max 2.104) by
the contract suite.

The engine keeps one safety net, a no-op with this client: remember each
server's status before ``evacuate``; once
:func:`instanceha.nova.model.evacuation_finished` holds (``get_server``), call
the method :func:`instanceha.nova.model.power_fixup` names, if any.

**Errors**: every failure leaves as a :class:`NovaError` subclass with a one-line
message and no chained traceback (see :func:`translate_error`). Secrets are
never logged: only method, path, microversion, status and duration are.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Protocol
from urllib.parse import urlsplit

from instanceha import __version__
from instanceha.clock import Clock, SystemClock
from instanceha.nova.credentials import CloudConfig
from instanceha.nova.model import (
    Aggregate,
    ComputeService,
    Image,
    Migration,
    NovaAuthError,
    NovaError,
    NovaNotFound,
    NovaTimeout,
    NovaUnavailable,
    Server,
)
from instanceha.nova.wire import (
    ApiVersions,
    aggregate_from_json,
    error_for_status,
    has_next_link,
    image_from_json,
    migration_from_json,
    migration_sort_key,
    parse_version,
    server_from_json,
    service_from_json,
)

__all__ = ["KeystoneTransport", "NovaClient", "Transport", "translate_error"]

_LOG = logging.getLogger(__name__)
_BINARY = "nova-compute"
_LABELS = {"compute": "Nova", "image": "Glance", "identity": "Keystone"}
_REASONS = (
    ("connection refused", "connection refused"),
    ("name or service not known", "host name does not resolve"),
    ("temporary failure in name resolution", "host name does not resolve"),
    ("nodename nor servname", "host name does not resolve"),
    ("no route to host", "no route to host"),
    ("network is unreachable", "network is unreachable"),
    ("connection reset", "connection reset by peer"),
    ("remote end closed connection", "connection closed by peer"),
    ("certificate verify failed", "TLS certificate verification failed (check cacert)"),
    ("timed out", "timed out"),
)
_URL_RE = re.compile(r"https?://[^\s'\"():]+(?::\d+)?[^\s'\":]*")


class Transport(Protocol):
    """How :class:`NovaClient` reaches the cloud; a seam for unit tests."""

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
        """One request to ``service`` (compute/image); returns (HTTP status, parsed body).

        Raises keystoneauth1 exceptions for connection and authentication failures.
        """
        ...

    def max_microversion(self) -> tuple[int, int]:
        """The compute endpoint's maximum microversion."""
        ...

    def endpoint(self, service: str) -> str:
        """The base URL used for ``service``, for messages ("" when unknown)."""
        ...


class KeystoneTransport:
    """A keystoneauth1 session with the config's auth, CA bundle and timeouts."""

    def __init__(self, config: CloudConfig, clock: Clock | None = None) -> None:
        from keystoneauth1 import adapter, session

        self._clock = clock or SystemClock()
        from keystoneauth1.identity import v3

        auth_url = _v3_url(config.auth_url)
        auth: Any
        if config.auth_type == "v3applicationcredential":
            auth = v3.ApplicationCredential(
                auth_url=auth_url,
                application_credential_secret=config.application_credential_secret,
                application_credential_id=config.application_credential_id,
                application_credential_name=config.application_credential_name,
                username=config.username,
                user_id=config.user_id,
                user_domain_name=config.user_domain_name,
                user_domain_id=config.user_domain_id,
            )
        else:
            auth = v3.Password(
                auth_url=auth_url,
                username=config.username,
                user_id=config.user_id,
                password=config.password,
                user_domain_name=config.user_domain_name,
                user_domain_id=config.user_domain_id,
                project_name=config.project_name,
                project_id=config.project_id,
                project_domain_name=config.project_domain_name,
                project_domain_id=config.project_domain_id,
            )
        self._session = session.Session(
            auth=auth, verify=config.verify, app_name="instanceha", app_version=__version__
        )
        # requests takes a (connect, read) pair; Session.__init__ would force one float.
        self._session.timeout = (config.connect_timeout, config.read_timeout)
        self._adapters = {
            service: adapter.Adapter(
                self._session,
                service_type=service,
                interface=config.interface,
                region_name=config.region_name,
            )
            for service in ("compute", "image")
        }
        self._bases: dict[str, str] = {}

    def endpoint(self, service: str) -> str:
        return self._bases.get(service, "")

    def _base(self, service: str) -> str:
        if service not in self._bases:
            url = self._adapters[service].get_endpoint()
            if not url:
                from keystoneauth1 import exceptions

                raise exceptions.EndpointNotFound()
            url = str(url).rstrip("/")
            if service == "image":  # Glance's catalog entry may or may not carry /v2
                url = re.sub(r"/v2(\.\d+)?$", "", url)
            self._bases[service] = url
        return self._bases[service]

    def max_microversion(self) -> tuple[int, int]:
        status, doc = self.call("GET", "compute", "/")
        version = doc.get("version") if isinstance(doc, Mapping) else None
        if status != 200 or not isinstance(version, Mapping):
            raise NovaUnavailable(
                f"Nova at {self.endpoint('compute')} did not answer its version document"
                f" (HTTP {status})"
            )
        return parse_version(str(version.get("version") or "2.1"))

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
        url = self._base(service) + path
        headers = {"Accept": "application/json"}
        if microversion is not None:
            headers["OpenStack-API-Version"] = f"compute {microversion}"
            headers["X-OpenStack-Nova-API-Version"] = microversion
        started = self._clock.monotonic()
        resp = self._session.request(
            url,
            method,
            json=body,
            params=dict(params or {}),
            headers=headers,
            raise_exc=False,
            log=False,
        )
        _LOG.debug(
            "%s %s %s (microversion %s) -> %s in %.3fs",
            service,
            method,
            path,
            microversion or "-",
            resp.status_code,
            self._clock.monotonic() - started,
        )
        if not resp.content:
            return resp.status_code, None
        try:
            return resp.status_code, resp.json()
        except ValueError:
            return resp.status_code, resp.text


class NovaClient:
    """:class:`~instanceha.nova.model.NovaPort` over real Nova; see the module docstring.

    ``page_size`` is the ``limit`` of every paged list (servers, migrations);
    every page is followed until Nova stops sending a ``next`` link. Safe to
    share between threads (one keystoneauth session, one token).
    """

    def __init__(
        self,
        config: CloudConfig,
        *,
        page_size: int = 1000,
        transport: Transport | None = None,
        clock: Clock | None = None,
    ) -> None:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self._config = config
        self._page_size = page_size
        self._transport: Transport | None = transport
        self._clock = clock
        self._versions: ApiVersions | None = None
        self._lock = threading.Lock()
        self._transport_lock = threading.Lock()

    # -------------------------------------------------------------- plumbing

    @property
    def transport(self) -> Transport:
        """The transport, created on first use (keystoneauth1 is imported then)."""
        with self._transport_lock:
            if self._transport is None:
                with self._errors("open a Keystone session"):
                    self._transport = KeystoneTransport(self._config, self._clock)
            return self._transport

    @property
    def versions(self) -> ApiVersions:
        """The negotiated microversions (one version-document request, then cached)."""
        with self._lock:
            if self._versions is None:
                with self._errors("negotiate the compute microversion"):
                    maximum = self.transport.max_microversion()
                    try:
                        self._versions = ApiVersions(maximum)
                    except ValueError as err:
                        raise NovaError(str(err)) from None
            return self._versions

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        try:
            yield
        except NovaError:
            raise
        except Exception as err:  # noqa: BLE001 - every failure becomes a NovaError
            raise translate_error(
                err, auth_url=self._config.auth_url, endpoints=self._endpoints(), what=what
            ) from None

    def _endpoints(self) -> dict[str, str]:
        transport = self._transport
        if transport is None:
            return {}
        return {s: transport.endpoint(s) for s in ("compute", "image")}

    def _request(
        self,
        method: str,
        path: str,
        *,
        service: str = "compute",
        microversion: str | None = None,
        params: Mapping[str, str | int] | None = None,
        body: object = None,
    ) -> Any:
        with self._errors(f"{method} {path}"):
            status, doc = self.transport.call(
                method, service, path, microversion=microversion, params=params, body=body
            )
        if status >= 400:
            raise error_for_status(status, doc, method, path, _LABELS.get(service, service))
        return doc

    # -------------------------------------------------------------- services

    def list_compute_services(self, host: str | None = None) -> list[ComputeService]:
        params: dict[str, str | int] = {"binary": _BINARY}
        if host is not None:
            params["host"] = host
        doc = self._request(
            "GET", "/os-services", microversion=self.versions.services, params=params
        )
        return [service_from_json(s) for s in (doc or {}).get("services", [])]

    def _service(self, host: str) -> ComputeService:
        found = [s for s in self.list_compute_services(host) if s.host == host]
        if not found:
            raise NovaNotFound(f"Nova has no {_BINARY} service on host {host}")
        return found[0]

    def _update_service(
        self,
        svc: ComputeService,
        uuid_body: dict[str, object],
        legacy: tuple[str, dict[str, object]],
    ) -> ComputeService:
        versions = self.versions
        if versions.uuid_services:
            doc = self._request(
                "PUT", f"/os-services/{svc.id}", microversion=versions.services, body=uuid_body
            )
            return service_from_json(doc["service"])
        action, extra = legacy
        body = {"host": svc.host, "binary": _BINARY, **extra}
        self._request("PUT", f"/os-services/{action}", microversion=versions.services, body=body)
        return self._service(svc.host)

    def force_down(self, host: str) -> ComputeService:
        """``forced_down=true`` (2.53 ``PUT /os-services/{id}``; 2.11 ``force-down``)."""
        svc = self._service(host)
        if svc.forced_down:
            return svc
        return self._update_service(
            svc, {"forced_down": True}, ("force-down", {"forced_down": True})
        )

    def unforce_down(self, host: str) -> ComputeService:
        """``forced_down=false``; Nova answers 400 (→ NovaConflict) while ``done``
        evacuations from the host remain (until its nova-compute restarts)."""
        svc = self._service(host)
        if not svc.forced_down:
            return svc
        return self._update_service(
            svc, {"forced_down": False}, ("force-down", {"forced_down": False})
        )

    def disable(self, host: str, reason: str) -> ComputeService:
        """``status=disabled`` with ``disabled_reason`` (2.11: ``disable-log-reason``)."""
        svc = self._service(host)
        if svc.status == "disabled" and svc.disabled_reason == reason:
            return svc
        return self._update_service(
            svc,
            {"status": "disabled", "disabled_reason": reason},
            ("disable-log-reason", {"disabled_reason": reason}),
        )

    def enable(self, host: str) -> ComputeService:
        """``status=enabled`` (2.11: ``enable``)."""
        svc = self._service(host)
        if svc.status == "enabled":
            return svc
        return self._update_service(svc, {"status": "enabled"}, ("enable", {}))

    # --------------------------------------------------------------- servers

    def list_servers_on_host(self, host: str) -> list[Server]:
        """``GET /servers/detail?all_tenants=1&host=…``, every page (``limit``/``marker``)."""
        versions = self.versions
        docs = self._paged(
            "/servers/detail",
            "servers",
            {"all_tenants": 1, "host": host},
            versions.servers,
            marker_key="id",
        )
        lookup = None if versions.embedded_flavor else self._flavor_lookup(docs)
        return [server_from_json(d, lookup) for d in docs]

    def _paged(
        self,
        path: str,
        collection: str,
        params: Mapping[str, str | int],
        microversion: str,
        *,
        marker_key: str,
    ) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        seen_markers: set[str] = set()
        marker: str | None = None
        while True:
            query = dict(params, limit=self._page_size)
            if marker is not None:
                query["marker"] = marker
            doc = self._request("GET", path, microversion=microversion, params=query) or {}
            page = list(doc.get(collection) or [])
            found.extend(page)
            if not page or not has_next_link(doc, collection):
                return found
            marker = str(page[-1][marker_key])
            if marker in seen_markers:
                raise NovaUnavailable(f"Nova repeated page marker {marker} on GET {path}")
            seen_markers.add(marker)

    def _flavor_lookup(self, docs: list[dict[str, Any]]) -> dict[str, tuple[str, dict[str, str]]]:
        """Pre-2.47 servers carry only the flavor id: fetch name and extra specs once each."""
        lookup: dict[str, tuple[str, dict[str, str]]] = {}
        for doc in docs:
            flavor_id = str((doc.get("flavor") or {}).get("id", ""))
            if not flavor_id or flavor_id in lookup:
                continue
            try:
                flavor = self._request("GET", f"/flavors/{flavor_id}")["flavor"]
                specs = self._request("GET", f"/flavors/{flavor_id}/os-extra_specs")
            except NovaNotFound:
                lookup[flavor_id] = ("", {})
                continue
            extra = {str(k): str(v) for k, v in (specs.get("extra_specs") or {}).items()}
            lookup[flavor_id] = (str(flavor.get("name", "")), extra)
        return lookup

    def _server_doc(self, server_id: str) -> dict[str, Any]:
        doc = self._request("GET", f"/servers/{server_id}", microversion=self.versions.servers)
        server: dict[str, Any] = doc["server"]
        return server

    def get_server(self, server_id: str) -> Server:
        doc = self._server_doc(server_id)
        lookup = None if self.versions.embedded_flavor else self._flavor_lookup([doc])
        return server_from_json(doc, lookup)

    def evacuate(self, server_id: str, target_host: str | None = None) -> None:
        """``POST /servers/{id}/action {"evacuate": {...}}`` below 2.95, so the power
        state is kept (module docstring); the scheduler picks unless ``target_host``.
        Refusals (source service still up, task in progress, bad vm_state) raise
        NovaConflict; an unknown server or target host NovaNotFound."""
        body: dict[str, object] = {}
        if target_host is not None:
            body["host"] = target_host
        self._request(
            "POST",
            f"/servers/{server_id}/action",
            microversion=self.versions.evacuate,
            body={"evacuate": body},
        )

    def start_server(self, server_id: str) -> None:
        """``os-start``; NovaConflict unless SHUTOFF with no task and its host up."""
        self._request("POST", f"/servers/{server_id}/action", body={"os-start": None})

    def stop_server(self, server_id: str) -> None:
        """``os-stop``; NovaConflict unless ACTIVE/ERROR with no task and its host up."""
        self._request("POST", f"/servers/{server_id}/action", body={"os-stop": None})

    # ------------------------------------------------------------ migrations

    def list_evacuations(self, source_host: str) -> list[Migration]:
        """``GET /os-migrations?migration_type=evacuation&source_compute=…``, newest first."""
        versions = self.versions
        params: dict[str, str | int] = {
            "migration_type": "evacuation",
            "source_compute": source_host,
        }
        if versions.paged_migrations:
            docs = self._paged(
                "/os-migrations", "migrations", params, versions.migrations, marker_key="uuid"
            )
        else:
            doc = self._request(
                "GET", "/os-migrations", microversion=versions.migrations, params=params
            )
            docs = list((doc or {}).get("migrations") or [])
        docs = [
            d
            for d in docs
            if d.get("source_compute") == source_host
            and d.get("migration_type", "evacuation") == "evacuation"
        ]
        docs.sort(key=migration_sort_key, reverse=True)
        return [migration_from_json(d) for d in docs]

    # ------------------------------------------------------- images, aggregates

    def get_image(self, image_id: str) -> Image:
        """Glance v2 ``GET /v2/images/{id}``: custom properties and tags."""
        doc = self._request("GET", f"/v2/images/{image_id}", service="image")
        return image_from_json(doc)

    def list_aggregates(self) -> list[Aggregate]:
        doc = self._request("GET", "/os-aggregates", microversion=self.versions.general)
        return [aggregate_from_json(a) for a in (doc or {}).get("aggregates", [])]


# ------------------------------------------------------------------ errors


def translate_error(
    err: Exception,
    *,
    auth_url: str = "",
    endpoints: Mapping[str, str] | None = None,
    what: str = "",
) -> NovaError:
    """Turn a keystoneauth1 or novaclient exception into a typed one-line NovaError.

    keystoneauth1: connect timeout → :class:`NovaTimeout`; connect failure,
    TLS and unknown connection errors → :class:`NovaUnavailable` ("cannot reach
    Nova at <url>: connection refused"); no endpoint in the catalog →
    :class:`NovaAuthError`; HTTP errors by status (see
    :func:`instanceha.nova.wire.error_for_status`), Keystone's 401/403/404
    meaning the credentials or ``auth_url`` are wrong. novaclient's
    ``ClientException`` family is mapped by its ``code``.
    """
    from keystoneauth1 import exceptions as ks

    endpoints = endpoints or {}
    url = str(getattr(err, "url", "") or _first_url(str(err)))
    service = _service_of(url, auth_url, endpoints)
    where = _root(url) or (auth_url if service == "Keystone" else "") or "its endpoint"
    context = f" ({what})" if what else ""
    if isinstance(err, ks.ConnectionError):
        return _connection_error(err, service, where, context)
    if isinstance(err, ks.HttpError):
        status = int(err.http_status or 0)
        if service == "Keystone":
            return _keystone_error(status, str(err.message or ""), where)
        return error_for_status(status, str(err.message or ""), err.method or "", url, service)
    return _other_error(err, what)


def _other_error(err: Exception, what: str) -> NovaError:
    from keystoneauth1 import exceptions as ks

    context = f" ({what})" if what else ""
    if isinstance(err, ks.EndpointNotFound):
        return NovaAuthError(
            f"the Keystone catalog has no matching endpoint{context}: check region_name"
            " and interface"
        )
    if isinstance(err, ks.DiscoveryFailure):
        return NovaUnavailable(f"cannot discover the API version{context}: {_one_line(err)}")
    if isinstance(err, ks.ClientException):
        return NovaUnavailable(f"Keystone/Nova call failed{context}: {_one_line(err)}")
    code = getattr(err, "http_status", None) or getattr(err, "code", None)
    if isinstance(code, int) and code >= 400:  # novaclient.exceptions.ClientException family
        detail = getattr(err, "message", None) or _one_line(err)
        return error_for_status(code, str(detail), "", what or "request", "Nova")
    return NovaUnavailable(f"unexpected failure{context}: {type(err).__name__}: {_one_line(err)}")


def _connection_error(err: Exception, service: str, where: str, context: str) -> NovaError:
    from keystoneauth1 import exceptions as ks

    if isinstance(err, ks.ConnectTimeout):
        return NovaTimeout(f"timed out talking to {service} at {where}{context}")
    if isinstance(err, ks.SSLError):
        reason = _reason(str(err), "TLS handshake failed")
        return NovaUnavailable(f"TLS error talking to {service} at {where}: {reason}")
    return NovaUnavailable(f"cannot reach {service} at {where}: {_reason(str(err))}")


def _keystone_error(status: int, message: str, where: str) -> NovaError:
    if status in (401, 403):
        return NovaAuthError(
            f"Keystone at {where} rejected the credentials (HTTP {status}): check the user,"
            " password or application credential, domains and project"
        )
    if status == 404:
        return NovaAuthError(f"Keystone at {where} answered HTTP 404: is auth_url the v3 endpoint?")
    if status == 429 or status >= 500:
        return NovaUnavailable(f"Keystone at {where} failed (HTTP {status}): {message}".strip())
    return NovaAuthError(f"Keystone at {where} answered HTTP {status}: {message}".strip())


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split())[:300] or type(err).__name__


def _reason(text: str, default: str = "connection failed") -> str:
    lowered = text.lower()
    for needle, reason in _REASONS:
        if needle in lowered:
            return reason
    return default


def _first_url(text: str) -> str:
    match = _URL_RE.search(text)
    return match.group(0).rstrip(".,;") if match else ""


def _root(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def _service_of(url: str, auth_url: str, endpoints: Mapping[str, str]) -> str:
    for service, base in endpoints.items():
        if base and url.startswith(base):
            return _LABELS.get(service, service)
    if auth_url and url and _same_origin(url, auth_url):
        return "Keystone"
    return "Nova"


def _same_origin(a: str, b: str) -> bool:
    pa, pb = urlsplit(a), urlsplit(b)
    return (pa.scheme, pa.netloc) == (pb.scheme, pb.netloc) and pa.path.startswith(
        pb.path.rstrip("/")
    )


def _v3_url(auth_url: str) -> str:
    url = auth_url.rstrip("/")
    return url if re.search(r"/v3$", url) else url + "/v3"
