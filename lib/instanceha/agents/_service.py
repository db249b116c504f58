"""How agents report a daemon they could not manage: one translation, shared."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from instanceha.ocf import OcfError, OcfRc
from instanceha.service import ServiceError

__all__ = ["service_failure"]


@contextmanager
def service_failure(rc: OcfRc = OcfRc.ERR_GENERIC) -> Iterator[None]:
    """Turn a :class:`ServiceError` raised inside the block into ``OcfError(rc, message)``."""
    try:
        yield
    except ServiceError as error:
        raise OcfError(rc, str(error)) from None
