"""Pacemaker durations (``10s``, ``1min``, ``500ms``, ``PT10S``) in milliseconds."""

from __future__ import annotations

import re

__all__ = ["DurationError", "is_duration", "to_ms"]

_UNITS_MS = {
    "": 1000,
    "s": 1000,
    "sec": 1000,
    "ms": 1,
    "msec": 1,
    "us": 0.001,
    "usec": 0.001,
    "m": 60_000,
    "min": 60_000,
    "h": 3_600_000,
    "hr": 3_600_000,
}
_PLAIN = re.compile(r"^\s*([0-9]+)\s*([a-z]*)\s*$")
_ISO = re.compile(r"^P(?:T(?:([0-9]+)H)?(?:([0-9]+)M)?(?:([0-9]+)S)?)$")


class DurationError(ValueError):
    """A value is not a duration Pacemaker understands."""


def to_ms(text: str) -> int:
    """``text`` as whole milliseconds, the way Pacemaker reads interval and timeout values.

    :raises DurationError: when the text is not a plain number with an optional
        unit (ms, s, min, h, …) nor an ISO 8601 ``PT…`` time duration.
    """
    plain = _PLAIN.match(text.lower())
    if plain and plain.group(2) in _UNITS_MS:
        return int(int(plain.group(1)) * _UNITS_MS[plain.group(2)])
    iso = _ISO.match(text.strip().upper())
    if iso and any(iso.groups()):
        hours, minutes, seconds = (int(g or 0) for g in iso.groups())
        return ((hours * 60 + minutes) * 60 + seconds) * 1000
    raise DurationError(f"{text!r} is not a duration (examples: 10s, 500ms, 2min, 1h)")


def is_duration(text: str) -> bool:
    """True when :func:`to_ms` accepts ``text``."""
    try:
        to_ms(text)
    except DurationError:
        return False
    return True
