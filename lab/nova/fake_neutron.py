"""A stand-in for the Neutron API, enough for Nova servers booted without networks.

Usage: ``python3 fake_neutron.py [PORT]`` (binds 127.0.0.1, default port 9696).

Nova, booting and evacuating servers created with ``networks="none"``, only
lists ports, networks and extensions.  This server answers every collection
GET with an empty list (``security-groups`` holds one ``default`` group),
every single-resource GET with 404, creations and updates with 404 and
deletions with 204.  Each request is logged to stdout.  Standard library only.
"""

from __future__ import annotations

import json
import re
import sys
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

__all__ = ["NeutronHandler", "main"]

_RESOURCE = re.compile(r"^/v2\.0/([a-z0-9_-]+)(?:/([^/]+))?$")
_DEFAULT_SG_ID = str(uuid.uuid4())


def _default_security_group() -> dict[str, Any]:
    return {
        "id": _DEFAULT_SG_ID,
        "name": "default",
        "description": "default",
        "security_group_rules": [],
        "tenant_id": "",
        "project_id": "",
    }


def _not_found(message: str) -> dict[str, Any]:
    return {"NeutronError": {"type": "HTTPNotFound", "message": message, "detail": ""}}


class NeutronHandler(BaseHTTPRequestHandler):
    """Answers the Neutron v2.0 calls Nova makes for network-less servers."""

    protocol_version = "HTTP/1.1"
    server_port = 9696

    def _reply(self, status: int, body: dict[str, Any] | None = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data:
            self.wfile.write(data)

    def _drain(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib name)
        sys.stdout.write((format % args) + "\n")
        sys.stdout.flush()

    def do_GET(self) -> None:
        url = urlparse(self.path)
        path = re.sub(r"\.json$", "", url.path.rstrip("/"))
        if path == "":
            href = f"http://127.0.0.1:{self.server_port}/v2.0/"
            links = [{"rel": "self", "href": href}]
            self._reply(200, {"versions": [{"id": "v2.0", "status": "CURRENT", "links": links}]})
            return
        match = _RESOURCE.match(path)
        if match is None:
            self._reply(404, _not_found("not found"))
            return
        resource, item = match.groups()
        if item is None:
            items: list[dict[str, Any]] = []
            if resource == "security-groups":
                names = parse_qs(url.query).get("name", [])
                if not names or "default" in names:
                    items = [_default_security_group()]
            self._reply(200, {resource.replace("-", "_"): items})
        elif resource == "security-groups" and item in (_DEFAULT_SG_ID, "default"):
            self._reply(200, {"security_group": _default_security_group()})
        else:
            self._reply(404, _not_found(f"{resource} {item} not found"))

    def do_POST(self) -> None:
        self._drain()
        self._reply(404, _not_found("not supported by the lab's fake neutron"))

    def do_PUT(self) -> None:
        self.do_POST()

    def do_DELETE(self) -> None:
        self._drain()
        self._reply(204)


def main(argv: list[str]) -> None:
    """Serve on 127.0.0.1:PORT until killed."""
    port = int(argv[1]) if len(argv) > 1 else 9696
    NeutronHandler.server_port = port
    ThreadingHTTPServer(("127.0.0.1", port), NeutronHandler).serve_forever()


if __name__ == "__main__":
    main(sys.argv)
