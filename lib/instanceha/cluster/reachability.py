"""Is a Pacemaker Remote node reachable from here, and is its pacemaker-remoted alive?

The questions the fencing hold asks before a compute is powered off.

* :func:`reachable`: a TCP connect to the node's pacemaker-remoted. A refused
  connection (the OS answers, remoted is gone), a timeout (nothing answers) and no
  route all read unreachable. :func:`probe` asks it of every node at once, each
  probe in its own thread, and gives up on all of them after ``timeout`` seconds
  (name resolution included): what has not answered by then is unreachable.
* :func:`answers`: stronger, for "proven alive": the kernel completes a TCP
  handshake into the listen backlog even when the process is hung (stopped), so
  pacemaker-remoted must also answer the opening of a TLS handshake (with an alert:
  it speaks TLS with a pre-shared key we do not offer) within ``timeout``. Any reply,
  an alert or a close, is an answer; silence is not.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor, wait

from instanceha.cib.cibquery import RemoteConnection

__all__ = ["MAX_PROBE_THREADS", "answers", "probe", "reachable"]

#: Probes run in parallel up to this many at a time (a connect mostly waits).
MAX_PROBE_THREADS = 1024


def reachable(server: str, port: int, timeout: float) -> bool:
    """True when ``server:port`` accepts a TCP connection within ``timeout`` seconds."""
    try:
        with socket.create_connection((server, port), timeout=timeout):
            return True
    except (OSError, ValueError, OverflowError):
        return False


def answers(server: str, port: int, timeout: float) -> bool:
    """True when the process behind ``server:port`` replies to a TLS ClientHello in time."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection((server, port), timeout=timeout) as sock, \
                context.wrap_socket(sock, do_handshake_on_connect=False) as tls:
            tls.do_handshake()
            return True
    except TimeoutError:
        return False  # connected (or not) but nobody read the hello: hung or gone
    except ssl.SSLError:
        return True  # an alert: the process read our hello and refused it
    except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError):
        return True  # it closed on us: the process runs
    except (OSError, ValueError, OverflowError):
        return False  # refused, no route, bad address


def probe(connections: Mapping[str, RemoteConnection], timeout: float) -> dict[str, bool]:
    """Reachability of every connection's node, all at once, by node name; at most about
    ``timeout`` seconds whatever the number of nodes."""
    if not connections:
        return {}
    pool = ThreadPoolExecutor(max_workers=min(len(connections), MAX_PROBE_THREADS),
                              thread_name_prefix="probe")
    try:
        futures = {node: pool.submit(reachable, conn.server, conn.port, timeout)
                   for node, conn in connections.items()}
        wait(futures.values(), timeout=timeout + 0.5)
        return {node: f.done() and not f.cancelled() and f.result()
                for node, f in futures.items()}
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
