"""Run a blocking call with our own deadline.

Client libraries keep timeouts of their own that cannot be shortened from outside (pyghmi:
about 5 s for a dead BMC at login, 25-30 s when a BMC dies mid-session; libvirt: none for a
hung daemon; keystoneauth: its connect and read timeouts per request). The call runs in a
daemon thread; if it has not finished when the deadline passes, the caller gets
:class:`DeadlineExceeded` and the thread is abandoned (it ends when the library gives up; a
short-lived agent process exits without waiting for it).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar, cast

__all__ = ["DeadlineExceeded", "call_with_deadline"]

T = TypeVar("T")


class DeadlineExceeded(Exception):
    """The call did not finish in time (it may still be running)."""


class _Outcome(Generic[T]):
    def __init__(self) -> None:
        self.value: T | None = None
        self.error: BaseException | None = None
        self.done = threading.Event()


def call_with_deadline(fn: Callable[[], T], seconds: float, name: str = "deadline-call") -> T:
    """``fn()`` if it returns or raises within ``seconds``.

    :raises DeadlineExceeded: when it does not.
    """
    outcome: _Outcome[T] = _Outcome()

    def target() -> None:
        try:
            outcome.value = fn()
        except BaseException as error:  # handed to the caller's thread
            outcome.error = error
        finally:
            outcome.done.set()

    worker = threading.Thread(target=target, name=name, daemon=True)
    worker.start()
    if not outcome.done.wait(max(0.0, seconds)):
        raise DeadlineExceeded(f"no result within {seconds:g} s")
    if outcome.error is not None:
        raise outcome.error
    return cast(T, outcome.value)
