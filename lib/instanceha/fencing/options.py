"""Fence options from the command line or from pacemaker-fenced's ``key=value`` stdin.

Both sources end up as raw strings keyed by canonical parameter name, which
:class:`~instanceha.spec.ParamSet` then types and validates.

* Command line (GNU getopt rules): ``--ip=host``, ``--ip host``, ``-a host``,
  ``-ahost``; dashes and underscores are interchangeable in long names and
  deprecated aliases work (``--ipaddr``, ``--login``, ``--port``). Boolean
  parameters are flags (``-v``, ``--verbose``). An unknown option is an error.
* Standard input (used when there are no arguments): one ``name=value`` per
  line, ``#`` comments and blank lines skipped, surrounding double quotes
  removed from values, dashes in names read as underscores. ``nodename`` is
  silently ignored; other unknown names are reported in ``ignored`` for the
  runtime to log, as fence-agents does.
"""

from __future__ import annotations

import getopt
from collections.abc import Sequence
from dataclasses import dataclass, field

from instanceha.fencing.codes import UsageError
from instanceha.spec import Param, ParamSet, ParamType

__all__ = ["RawOptions", "parse_argv", "parse_stdin"]

#: stdin names Pacemaker may send that an agent need not declare.
SILENTLY_IGNORED = frozenset({"nodename"})


@dataclass(frozen=True)
class RawOptions:
    """Untyped option values keyed by canonical parameter name."""

    values: dict[str, str] = field(default_factory=dict)
    source: str = "argv"
    ignored: tuple[str, ...] = ()
    extra_args: tuple[str, ...] = ()


def _is_flag(param: Param) -> bool:
    return param.type is ParamType.BOOLEAN


def _long_names(param: Param) -> list[str]:
    names: list[str] = []
    for name in (param.name, *param.aliases):
        for spelling in (name, name.replace("_", "-")):
            if spelling not in names:
                names.append(spelling)
    return names


def _getopt_tables(params: ParamSet) -> tuple[str, list[str], dict[str, Param]]:
    short = ""
    longs: list[str] = []
    lookup: dict[str, Param] = {}
    for param in params:
        if param.getopt:
            short += param.getopt + ("" if _is_flag(param) else ":")
            lookup["-" + param.getopt] = param
        for name in _long_names(param):
            longs.append(name if _is_flag(param) else name + "=")
            lookup["--" + name] = param
    return short, longs, lookup


def parse_argv(params: ParamSet, args: Sequence[str]) -> RawOptions:
    """Options from command-line arguments (without the program name).

    :raises UsageError: for an unknown option or a missing option value.
    """
    short, longs, lookup = _getopt_tables(params)
    try:
        pairs, rest = getopt.gnu_getopt(list(args), short, longs)
    except getopt.GetoptError as bad:
        raise UsageError(f"Parse error: {bad.msg} (see --help)") from None
    values: dict[str, str] = {}
    for option, value in pairs:
        param = lookup[option]
        values[param.name] = "1" if _is_flag(param) else value
    return RawOptions(values, "argv", (), tuple(rest))


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def parse_stdin(params: ParamSet, text: str) -> RawOptions:
    """Options from ``name=value`` lines; unknown names are collected, not fatal."""
    values: dict[str, str] = {}
    ignored: list[str] = []
    for raw_line in text.splitlines():
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        name = name.strip().replace("-", "_")
        param = params.get(name) if sep else None
        if param is None:
            if name not in SILENTLY_IGNORED:
                # names only: a value (or a line without '=') may hold a secret
                ignored.append(name if sep else "(a line without '=')")
            continue
        values[param.name] = _unquote(value)
    return RawOptions(values, "stdin", tuple(ignored))
