"""One user of a machine-wide lab at a time: a blocking ``flock`` with a deadline."""

from __future__ import annotations

import fcntl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class LabBusy(RuntimeError):
    """Another user held the lab for longer than we were willing to wait."""


@contextmanager
def exclusive_lock(path: Path, what: str, timeout: float = 1800) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` for the ``with`` body, waiting up to ``timeout``.

    Shell users take the same lock with ``flock PATH COMMAND``.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="ascii") as lock:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise LabBusy(f"{what} stayed busy for {timeout:.0f}s ({path})") from None
                time.sleep(1)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
