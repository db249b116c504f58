"""Logging for agents, compatible with ocf_log.

Lines carry the agent and resource instance (``libvirtd(rsc)[pid]``) in the
format of resource-agents' ocf.py (date in ``HA_DATEFMT``). They go to
``HA_LOGFILE`` (Pacemaker sets it to its own log), all of them also to a
distinct ``HA_DEBUGLOG``, debug lines only when ``HA_debug`` is on (to
``HA_DEBUGLOG`` when set, else ``HA_LOGFILE``), to syslog when
``HA_LOGFACILITY`` names a facility and ``/dev/log`` exists (as ocf_log's
``logger -t``: tag, level, message), and to stderr when
it is a terminal or nothing else is configured. Secrets are masked in every line and
traceback by the one scrubber, :class:`~instanceha.spec.SecretMask`.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable, Mapping

from instanceha.spec import TRUE_WORDS, SecretMask

__all__ = ["SYSLOG_SOCKET", "SecretMask", "TagFilter", "setup_logging"]

#: Where syslog listens (a module attribute so that tests can point it at their own socket).
SYSLOG_SOCKET = "/dev/log"
#: resource-agents' file format (its ocf.py): ``libvirtd(rsc)[pid]:<TAB>Nov 21 10:00:00 INFO: ...``
#: with the date in ``HA_DATEFMT`` (default below, trailing space included).
_FORMAT = "%(tag)s[%(process)d]:\t%(asctime)s%(levelname)s: %(message)s"
_DEFAULT_DATEFMT = "%b %d %T "
#: ocf_log's syslog message (the daemon adds its own time): ``libvirtd(rsc)[pid]: INFO: ...``.
_SYSLOG_FORMAT = "%(tag)s[%(process)d]: %(levelname)s: %(message)s"


class TagFilter(logging.Filter):
    """Adds the ``tag`` field (``Agent(instance)``) of ocf_log's line format."""

    def __init__(self, tag: str) -> None:
        super().__init__()
        self.tag = tag

    def filter(self, record: logging.LogRecord) -> bool:
        record.tag = self.tag
        return True


def _is_true(value: str | None) -> bool:
    return (value or "").strip().lower() in TRUE_WORDS - {""}


def _file_handler(path: str, level: int) -> logging.Handler | None:
    try:
        handler: logging.Handler = logging.FileHandler(path, encoding="utf-8")
    except OSError:
        return None
    handler.setLevel(level)
    return handler


def _syslog_handler(facility: str) -> logging.Handler | None:
    if not facility or facility == "none" or not os.path.exists(SYSLOG_SOCKET):
        return None
    import logging.handlers  # only when syslog is configured: keeps monitors light

    code = logging.handlers.SysLogHandler.facility_names.get(facility)
    if code is None:
        return None
    try:
        handler = logging.handlers.SysLogHandler(address=SYSLOG_SOCKET, facility=code)
    except OSError:
        return None
    handler.setFormatter(logging.Formatter(_SYSLOG_FORMAT))
    return handler


def setup_logging(
    agent: str, instance: str, environ: Mapping[str, str], secrets: Iterable[str] = (),
    mask: SecretMask | None = None,
) -> logging.Logger:
    """Configure and return the ``instanceha`` logger for one agent invocation.

    ``mask`` (else a new one) scrubs every line; ``secrets`` are added to it.
    """
    logger = logging.getLogger("instanceha")
    for old in list(logger.handlers):
        logger.removeHandler(old)
    debug = _is_true(environ.get("HA_debug"))
    logger.setLevel(logging.DEBUG if debug else logging.INFO)
    logger.propagate = False
    handlers: list[logging.Handler] = []
    logfile, debuglog = environ.get("HA_LOGFILE", ""), environ.get("HA_DEBUGLOG", "")
    distinct_debuglog = bool(debuglog) and debuglog != logfile
    files = []
    if logfile:  # debug lines (HA_debug) go here too unless a distinct HA_DEBUGLOG takes them
        files.append((logfile, logging.INFO if distinct_debuglog else logging.DEBUG))
    if distinct_debuglog:  # as ocf_log: every line, and the debug ones
        files.append((debuglog, logging.DEBUG))
    for path, level in files:
        handler = _file_handler(path, level)
        if handler:
            handlers.append(handler)
    syslog = _syslog_handler(environ.get("HA_LOGFACILITY", ""))
    if syslog:
        handlers.append(syslog)
    if sys.stderr.isatty() or not handlers:
        stderr = logging.StreamHandler(sys.stderr)
        stderr.setLevel(logging.DEBUG if debug else logging.INFO)
        handlers.append(stderr)
    tag = f"{agent}({instance})" if instance else agent
    mask = mask if mask is not None else SecretMask()
    mask.add(*secrets)
    tag_filter = TagFilter(tag)
    formatter = logging.Formatter(_FORMAT, environ.get("HA_DATEFMT") or _DEFAULT_DATEFMT)
    for handler in handlers:
        handler.addFilter(tag_filter)
        handler.addFilter(mask)
        if handler.formatter is None:
            handler.setFormatter(formatter)
        logger.addHandler(handler)
    return logger
