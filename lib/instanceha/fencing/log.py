"""Logging for fence agents, like fence-agents: stderr, ``verbose``, ``debug_file``.

Lines go to stderr (warnings and errors; everything with ``verbose``; nothing
with ``quiet``), where pacemaker-fenced picks them up, and, with
``debug_file``, every line is appended to that file, created with mode 0600.
Secrets are masked in every line and traceback, including values learnt after
setup (a password read by ``password_script``), by the one scrubber of every
runtime, :class:`~instanceha.spec.SecretMask`.
"""

from __future__ import annotations

import logging
import os
import stat
from typing import TextIO

from instanceha.spec import SecretMask

__all__ = ["LOGGER_NAME", "TRACE", "SecretMask", "open_private", "setup_logging"]

LOGGER_NAME = "instanceha"
#: Below DEBUG: only ``debug_file`` records it (tracebacks of unexpected failures).
TRACE = 5
_FORMAT = "%(asctime)s %(levelname)s: %(message)s"


def open_private(path: str) -> TextIO:
    """Open ``path`` for appending, created 0600; an existing regular file we own is made 0600.

    Anything else keeps its mode: ``debug_file=/dev/null`` made the machine's /dev/null
    root-only once (and every non-root process that wrote to it failed).

    :raises OSError: when it cannot be opened.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
    try:
        info = os.fstat(fd)
        if (stat.S_ISREG(info.st_mode) and info.st_uid == os.geteuid()
                and stat.S_IMODE(info.st_mode) & 0o077):
            os.fchmod(fd, 0o600)
        return os.fdopen(fd, "a", encoding="utf-8")
    except BaseException:
        os.close(fd)
        raise


def setup_logging(stderr: TextIO, *, verbose: bool = False, quiet: bool = False,
                  debug_file: TextIO | None = None,
                  mask: SecretMask | None = None) -> logging.Logger:
    """(Re)configure the ``instanceha`` logger for one agent invocation."""
    logger = logging.getLogger(LOGGER_NAME)
    for old in list(logger.handlers):
        logger.removeHandler(old)
        if isinstance(old, logging.StreamHandler) and old.stream is not stderr:
            old.close()
    logger.propagate = False
    logger.setLevel(TRACE)
    mask = mask or SecretMask()
    formatter = logging.Formatter(_FORMAT)
    handlers: list[logging.Handler] = []
    if not quiet:
        to_stderr = logging.StreamHandler(stderr)
        to_stderr.setLevel(logging.DEBUG if verbose else logging.WARNING)
        handlers.append(to_stderr)
    if debug_file is not None:
        to_file = logging.StreamHandler(debug_file)
        to_file.setLevel(TRACE)
        handlers.append(to_file)
    for handler in handlers:
        handler.addFilter(mask)
        handler.setFormatter(formatter)
        logger.addHandler(handler)
    if not handlers:
        logger.addHandler(logging.NullHandler())
    return logger
