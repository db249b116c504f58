"""Is a Pacemaker Remote node reachable from here? A TCP connect to its pacemaker-remoted.

The question the fencing hold asks before a compute is powered off: a node whose
pacemaker-remoted accepts a connection from this controller has a running OS and
a working path to it, whatever the cluster's connection resource says. A refused
connection (the OS answers, remoted is gone), a timeout (nothing answers) and no
route all read unreachable. Every node is probed at once, each with its own
deadline, so a probe of any number of nodes takes at most ``timeout`` seconds.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

from instanceha.cib.cibquery import RemoteConnection

__all__ = ["MAX_PROBE_THREADS", "probe", "reachable"]

#: Probes run in parallel up to this many at a time (a connect mostly waits).
MAX_PROBE_THREADS = 64


def reachable(server: str, port: int, timeout: float) -> bool:
    """True when ``server:port`` accepts a TCP connection within ``timeout`` seconds."""
    try:
        with socket.create_connection((server, port), timeout=timeout):
            return True
    except (OSError, ValueError):
        return False


def probe(connections: Mapping[str, RemoteConnection], timeout: float) -> dict[str, bool]:
    """Reachability of every connection's node, probed in parallel, by node name."""
    if not connections:
        return {}
    workers = min(len(connections), MAX_PROBE_THREADS)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="probe") as pool:
        futures = {
            node: pool.submit(reachable, conn.server, conn.port, timeout)
            for node, conn in connections.items()
        }
        return {node: future.result() for node, future in futures.items()}
