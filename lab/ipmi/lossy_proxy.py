#!/usr/bin/python3
"""A UDP proxy on loopback that drops a share of the datagrams: packet loss for IPMI tests.

Usage:
    lossy_proxy.py --to 127.0.0.1:BMCPORT [--listen 127.0.0.1:PORT] [--drop 0.3]
                   [--seed N] [--ready-file FILE]

Clients send to the listening address; each client address gets its own
upstream socket, so the BMC sees one peer per client and answers reach the
right one. Every datagram, in either direction, is dropped with probability
``--drop`` (a seeded random generator makes runs repeatable). With port 0 the
kernel picks the listening port; it is written to ``--ready-file`` once the
proxy is ready. On SIGTERM or SIGINT the proxy prints how many datagrams it
forwarded and dropped, and exits 0. Only 127.0.0.0/8 addresses are accepted.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import selectors
import signal
import socket
import sys

__all__ = ["main"]

_IDLE_SECONDS = 60.0


class _Stop(Exception):
    """Raised by the signal handler: a handler that returns would let select() resume."""


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host.startswith("127."):
        raise argparse.ArgumentTypeError(f"{text}: only 127.0.0.0/8 addresses")
    return host, int(port)


class Proxy:
    """The forwarding loop and its counters."""

    def __init__(self, listen: tuple[str, int], upstream: tuple[str, int], drop: float,
                 seed: int) -> None:
        self.upstream = upstream
        self.drop = drop
        self.random = random.Random(seed)
        self.selector = selectors.DefaultSelector()
        self.front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.front.bind(listen)
        self.selector.register(self.front, selectors.EVENT_READ, None)
        self.backs: dict[tuple[str, int], socket.socket] = {}
        self.counts = {"forwarded": 0, "dropped": 0}

    @property
    def port(self) -> int:
        """The listening port."""
        return int(self.front.getsockname()[1])

    def _lose(self) -> bool:
        if self.random.random() < self.drop:
            self.counts["dropped"] += 1
            return True
        self.counts["forwarded"] += 1
        return False

    def _back_for(self, client: tuple[str, int]) -> socket.socket:
        back = self.backs.get(client)
        if back is None:
            back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            back.bind(("127.0.0.1", 0))
            back.connect(self.upstream)
            self.backs[client] = back
            self.selector.register(back, selectors.EVENT_READ, client)
        return back

    def _pump(self, sock: socket.socket, client: tuple[str, int] | None) -> None:
        try:
            data, source = sock.recvfrom(65535)
        except OSError:  # e.g. ICMP port unreachable from a stopped BMC
            return
        if self._lose():
            return
        try:
            if client is None:
                self._back_for(source).send(data)
            else:
                self.front.sendto(data, client)
        except OSError:
            pass

    def serve(self) -> None:
        """Forward until a signal stops it."""
        while True:
            for key, _ in self.selector.select(timeout=_IDLE_SECONDS):
                self._pump(key.fileobj, key.data)  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> int:
    """Run the proxy."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--to", type=_address, required=True, help="the BMC, host:port")
    parser.add_argument("--listen", type=_address, default=("127.0.0.1", 0))
    parser.add_argument("--drop", type=float, default=0.3, help="share dropped, 0..1")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--ready-file", help="write the listening port here when ready")
    args = parser.parse_args(argv)
    proxy = Proxy(args.listen, args.to, args.drop, args.seed)

    def stop(_signum: int, _frame: object) -> None:
        raise _Stop

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if args.ready_file:
        tmp = f"{args.ready_file}.tmp"
        with open(tmp, "w", encoding="ascii") as handle:
            handle.write(f"{proxy.port}\n")
        os.replace(tmp, args.ready_file)
    with contextlib.suppress(_Stop):
        proxy.serve()
    print(f"lossy_proxy: forwarded {proxy.counts['forwarded']}, dropped "
          f"{proxy.counts['dropped']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
