"""Logging for agents, compatible with ocf_log.

Lines carry the agent and resource instance (``libvirtd(rsc)[pid]``). They go
to ``HA_LOGFILE`` (Pacemaker sets it to its own log), debug lines only when
``HA_debug`` is on (to ``HA_DEBUGLOG`` when set), to syslog when
``HA_LOGFACILITY`` names a facility and ``/dev/log`` exists, and to stderr when
it is a terminal or nothing else is configured. Secret values are masked.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable, Mapping

__all__ = ["SecretFilter", "setup_logging"]

_FORMAT = "%(tag)s[%(process)d]:\t%(asctime)s %(levelname)s: %(message)s"
_DATEFMT = "%Y/%m/%d_%H:%M:%S"
_MASK = "****"


class SecretFilter(logging.Filter):
    """Adds the ``tag`` field and replaces secret values with a mask."""

    def __init__(self, tag: str, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.tag = tag
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        record.tag = self.tag
        if self.secrets:
            message = record.getMessage()
            for secret in self.secrets:
                message = message.replace(secret, _MASK)
            record.msg, record.args = message, None
        return True


def _is_true(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "yes", "true", "on"}


def _file_handler(path: str, level: int) -> logging.Handler | None:
    try:
        handler: logging.Handler = logging.FileHandler(path, encoding="utf-8")
    except OSError:
        return None
    handler.setLevel(level)
    return handler


def _syslog_handler(facility: str) -> logging.Handler | None:
    if not facility or facility == "none" or not os.path.exists("/dev/log"):
        return None
    import logging.handlers  # only when syslog is configured: keeps monitors light

    code = logging.handlers.SysLogHandler.facility_names.get(facility)
    if code is None:
        return None
    try:
        return logging.handlers.SysLogHandler(address="/dev/log", facility=code)
    except OSError:
        return None


def setup_logging(
    agent: str, instance: str, environ: Mapping[str, str], secrets: Iterable[str] = ()
) -> logging.Logger:
    """Configure and return the ``instanceha`` logger for one agent invocation."""
    logger = logging.getLogger("instanceha")
    for old in list(logger.handlers):
        logger.removeHandler(old)
    debug = _is_true(environ.get("HA_debug"))
    logger.setLevel(logging.DEBUG if debug else logging.INFO)
    logger.propagate = False
    handlers: list[logging.Handler] = []
    if environ.get("HA_LOGFILE"):
        handler = _file_handler(environ["HA_LOGFILE"], logging.INFO)
        if handler:
            handlers.append(handler)
    if debug:
        debug_path = environ.get("HA_DEBUGLOG") or environ.get("HA_LOGFILE")
        handler = _file_handler(debug_path, logging.DEBUG) if debug_path else None
        if handler:
            handler.addFilter(lambda r: r.levelno < logging.INFO)
            handlers.append(handler)
    syslog = _syslog_handler(environ.get("HA_LOGFACILITY", ""))
    if syslog:
        handlers.append(syslog)
    if sys.stderr.isatty() or not handlers:
        stderr = logging.StreamHandler(sys.stderr)
        stderr.setLevel(logging.DEBUG if debug else logging.INFO)
        handlers.append(stderr)
    tag = f"{agent}({instance})" if instance else agent
    secret_filter = SecretFilter(tag, secrets)
    formatter = logging.Formatter(_FORMAT, _DATEFMT)
    for handler in handlers:
        handler.addFilter(secret_filter)
        handler.setFormatter(formatter)
        logger.addHandler(handler)
    return logger
