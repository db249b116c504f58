"""Health checks of a libvirt daemon: its socket, and a real API round trip.

The only module that imports ``libvirt`` (lazily, for the deep check). A
frozen libvirtd still completes TCP/UNIX handshakes from its listen backlog,
so only an API call tells "hung" from "alive"; that call runs in a daemon
thread so that our own deadline, not libvirt's, decides when to give up.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from instanceha.deadline import DeadlineExceeded, call_with_deadline

__all__ = ["LibvirtCheckError", "RoundTrip", "api_round_trip", "socket_accepts"]


class LibvirtCheckError(Exception):
    """libvirtd failed a health check; the message says which and how."""


@dataclass(frozen=True)
class RoundTrip:
    """What one successful API round trip learnt."""

    lib_version: int
    domains: int


def socket_accepts(path: str, timeout: float) -> bool:
    """True when the UNIX socket at ``path`` accepts a connection within ``timeout``."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(max(0.05, timeout))
    try:
        sock.connect(path)
    except OSError:
        return False
    finally:
        sock.close()
    return True


def _call(uri: str) -> RoundTrip:
    import libvirt

    conn = libvirt.openReadOnly(uri)
    try:
        return RoundTrip(conn.getLibVersion(), len(conn.listAllDomains()))
    finally:
        conn.close()


def api_round_trip(uri: str, timeout: float) -> RoundTrip:
    """Open a read-only connection, read the version and list domains.

    :raises LibvirtCheckError: on a libvirt error, or when no answer came
        within ``timeout`` seconds (a hung daemon).
    """
    try:
        return call_with_deadline(lambda: _call(uri), max(0.05, timeout), "libvirt-round-trip")
    except DeadlineExceeded:
        raise LibvirtCheckError(
            f"libvirtd did not answer an API call on {uri} within {timeout:.1f}s (hung?)"
        ) from None
    except Exception as result:  # noqa: BLE001 - libvirt's errors, told in one line
        message = " ".join(str(result).split()) or type(result).__name__
        raise LibvirtCheckError(f"libvirt API call on {uri} failed: {message}") from None
