"""A per-incident cache in front of any :class:`~instanceha.nova.model.NovaPort`.

The engine wraps its port in a fresh :class:`CachedNova` for each incident (one
failed host), so the protection policy can ask for the same image or the
aggregate list for every server without a request each time, while the next
incident sees fresh data. Only lookups that do not change during an incident
are cached: images (including "not found") and aggregates. Flavors need no
cache: their extra specs come embedded in the server documents (2.47+).
Everything else goes straight through. Thread-safe.
"""

from __future__ import annotations

import threading

from instanceha.nova.model import (
    Aggregate,
    ComputeService,
    Image,
    Migration,
    NovaNotFound,
    NovaPort,
    Server,
)

__all__ = ["CachedNova"]


class CachedNova:
    """``NovaPort`` that remembers images and aggregates; see the module docstring."""

    def __init__(self, port: NovaPort) -> None:
        self._port = port
        self._lock = threading.Lock()
        self._images: dict[str, Image | NovaNotFound] = {}
        self._aggregates: list[Aggregate] | None = None

    @property
    def port(self) -> NovaPort:
        """The wrapped port."""
        return self._port

    def get_image(self, image_id: str) -> Image:
        with self._lock:
            cached = self._images.get(image_id)
        if cached is None:
            try:
                cached = self._port.get_image(image_id)
            except NovaNotFound as err:
                cached = err
            with self._lock:
                self._images[image_id] = cached
        if isinstance(cached, NovaNotFound):
            raise NovaNotFound(str(cached))
        return cached

    def list_aggregates(self) -> list[Aggregate]:
        with self._lock:
            cached = self._aggregates
        if cached is None:
            cached = self._port.list_aggregates()
            with self._lock:
                self._aggregates = cached
        return list(cached)

    # pass-through ------------------------------------------------------------

    def list_compute_services(self, host: str | None = None) -> list[ComputeService]:
        return self._port.list_compute_services(host)

    def force_down(self, host: str) -> ComputeService:
        return self._port.force_down(host)

    def unforce_down(self, host: str) -> ComputeService:
        return self._port.unforce_down(host)

    def disable(self, host: str, reason: str) -> ComputeService:
        return self._port.disable(host, reason)

    def enable(self, host: str) -> ComputeService:
        return self._port.enable(host)

    def list_servers_on_host(self, host: str) -> list[Server]:
        return self._port.list_servers_on_host(host)

    def get_server(self, server_id: str) -> Server:
        return self._port.get_server(server_id)

    def evacuate(self, server_id: str, target_host: str | None = None) -> None:
        self._port.evacuate(server_id, target_host)

    def start_server(self, server_id: str) -> None:
        self._port.start_server(server_id)

    def stop_server(self, server_id: str) -> None:
        self._port.stop_server(server_id)

    def list_evacuations(self, source_host: str) -> list[Migration]:
        return self._port.list_evacuations(source_host)
