#!/usr/bin/python3
"""Make the machine's loopback services reachable on a lab host's own loopback.

    loopback_bridge.py NETNS PORT [PORT ...]

A lab host is a network namespace: its 127.0.0.1 is its own, so a nova-compute running
inside it cannot reach the Nova lab (RabbitMQ, Keystone, Placement ... on the machine's
127.0.0.1). This process, started in the root namespace as one of the host's extra
commands (so the host's power-off kills it), listens on 127.0.0.1:PORT inside NETNS and
relays each connection to 127.0.0.1:PORT of the root namespace.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import socket
import sys
from collections.abc import Awaitable, Callable

CLONE_NEWNET = 0x40000000


def _setns(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        if ctypes.CDLL(None, use_errno=True).setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns {path}: {os.strerror(err)}")
    finally:
        os.close(fd)


def listen_in(netns: str, ports: list[int]) -> list[socket.socket]:
    """Listening sockets on 127.0.0.1:PORT inside ``netns``; we return to our namespace."""
    home = f"/proc/{os.getpid()}/ns/net"
    home_fd = os.open(home, os.O_RDONLY)
    try:
        _setns(f"/run/netns/{netns}")
        sockets = []
        for port in ports:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", port))
            sock.listen(128)
            sock.setblocking(False)
            sockets.append(sock)
    finally:
        if ctypes.CDLL(None, use_errno=True).setns(home_fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "cannot return to the root network namespace")
        os.close(home_fd)
    return sockets


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def _relay_to(port: int) -> Handler:
    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pump(reader, up_writer), _pump(up_reader, writer))

    return relay


async def serve(sockets: list[socket.socket]) -> None:
    servers = [
        await asyncio.start_server(_relay_to(sock.getsockname()[1]), sock=sock) for sock in sockets
    ]
    await asyncio.gather(*(server.serve_forever() for server in servers))


def main(argv: list[str]) -> int:
    if len(argv) < 2 or not all(p.isdigit() for p in argv[1:]):
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        return 2
    sockets = listen_in(argv[0], [int(p) for p in argv[1:]])
    print(f"bridging 127.0.0.1:{','.join(argv[1:])} into {argv[0]}", flush=True)
    asyncio.run(serve(sockets))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
