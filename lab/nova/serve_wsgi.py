"""Run one OpenStack WSGI application under gunicorn, bound to 127.0.0.1.

Usage (with the lab venv's python)::

    python serve_wsgi.py NAME PORT package.module:application

The OpenStack apps parse ``sys.argv`` with oslo.config when they are imported,
so the gunicorn command line cannot be used: this launcher reduces
``sys.argv`` to ``[NAME]`` before the app is imported (in the worker).  Each
app reads its configuration directory from its ``OS_<APP>_CONFIG_DIR``
environment variable, set by ``start.sh``.  One worker with 8 threads, and no
gunicorn control socket.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any

from gunicorn.app.base import BaseApplication

__all__ = ["WsgiServer", "main"]


class WsgiServer(BaseApplication):  # type: ignore[misc]
    """A gunicorn application serving ``target`` on 127.0.0.1:``port``."""

    def __init__(self, name: str, port: int, target: str) -> None:
        self._name = name
        self._port = port
        self._target = target
        super().__init__()

    def load_config(self) -> None:
        settings: dict[str, Any] = {
            "bind": f"127.0.0.1:{self._port}",
            "workers": 1,
            "threads": 8,
            "worker_class": "gthread",
            "timeout": 300,
            "graceful_timeout": 5,
            "proc_name": self._name,
            "control_socket_disable": True,
        }
        for key, value in settings.items():
            if key in self.cfg.settings:
                self.cfg.set(key, value)

    def load(self) -> Callable[..., Any]:
        module, _, attr = self._target.partition(":")
        app: Callable[..., Any] = getattr(importlib.import_module(module), attr or "application")
        return app


def main(argv: list[str]) -> None:
    """Serve the application named on the command line until terminated."""
    if len(argv) != 4:
        raise SystemExit("usage: serve_wsgi.py NAME PORT module:application")
    name, port, target = argv[1], int(argv[2]), argv[3]
    sys.argv = [name]
    WsgiServer(name, port, target).run()


if __name__ == "__main__":
    main(sys.argv)
