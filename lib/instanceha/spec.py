"""Typed parameter and action declarations, shared by the OCF and fence runtimes.

An agent declares its parameters once as :class:`Param` values. From that one
declaration come the metadata XML, the man page, the parsing of raw string
values (``OCF_RESKEY_*``, fence options) into typed values, and validation.
Only the standard library is used: this module is on every agent's fast path.

Bad input is refused here, once for every agent, before any action runs: a value
that is not valid UTF-8, longer than its ``max_length``, an integer outside its
declared ``minimum``..``maximum`` (every integer declares both), or a command
line (``shell_words``) with unbalanced quotes is a :class:`ParamError` naming the
parameter, never showing a secret's value.
"""

from __future__ import annotations

import enum
import logging
import re
import shlex
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

__all__ = [
    "DEFAULT_MAX_LENGTH",
    "FALSE_WORDS",
    "TRUE_WORDS",
    "ParamError",
    "ParamType",
    "Param",
    "ParamSet",
    "Params",
    "SECRET_FIELD_NAMES",
    "SecretMask",
    "Value",
    "parse_bool",
]

Value = str | int | bool | None

#: Spellings Pacemaker users write for booleans (ocf-shellfuncs' ocf_is_true and fence-agents).
TRUE_WORDS = frozenset({"1", "yes", "y", "true", "on", "ja", "enable", "enabled"})
FALSE_WORDS = frozenset({"0", "no", "n", "false", "off", "nein", "disable", "disabled", ""})
#: Spellings OpenStack reads as booleans (oslo.utils' bool_from_string): server metadata, flavor
#: extra specs, image properties, clouds.yaml and OS_* variables.
OPENSTACK_TRUE_WORDS = frozenset({"1", "t", "true", "on", "y", "yes"})
OPENSTACK_FALSE_WORDS = frozenset({"0", "f", "false", "off", "n", "no"})


def openstack_bool(text: str) -> bool | None:
    """``text`` as OpenStack reads a boolean; None when it is not one."""
    word = text.strip().lower()
    if word in OPENSTACK_TRUE_WORDS:
        return True
    if word in OPENSTACK_FALSE_WORDS:
        return False
    return None


#: Field names whose values are secrets wherever they appear (``password=…``, ``'password': …``),
#: besides the names of the parameters an agent declares secret.
SECRET_FIELD_NAMES = ("password", "passwd", "secret")
_MASK = "****"
#: Longest value a parameter takes unless its declaration says otherwise (characters).
DEFAULT_MAX_LENGTH = 4096
_INTEGER = re.compile(r"[+-]?[0-9]+")


class SecretMask(logging.Filter):
    """The one secret scrubber of every runtime (OCF agents, fence agents, the evacuator).

    Masks *values*, never substrings of other words:

    * the value of a secret field, known or not: ``password=…``, ``--passwd …``-style
      ``name=value``/``name: value`` pairs, quoted or not (``OS_PASSWORD='x y'``,
      ``{'application_credential_secret': 'x'}``), for :data:`SECRET_FIELD_NAMES` and
      the ``names`` given;
    * a known secret value where it stands as a whole token: not preceded or followed
      by a letter, digit or underscore. A password ``o`` leaves "action" alone.

    As a :class:`logging.Filter` it masks the message, the traceback and the stack of
    every record; :meth:`add` takes values learnt later (a ``password_script`` answer,
    a password read from secure.yaml).
    """

    def __init__(self, secrets: Iterable[str] = (), names: Iterable[str] = ()) -> None:
        super().__init__()
        self._values: set[str] = set()
        self._by_value: re.Pattern[str] | None = None
        words = sorted({*SECRET_FIELD_NAMES, *(n for n in names if n)}, key=len, reverse=True)
        self._by_field = re.compile(
            r"(?<![A-Za-z0-9])(?:" + "|".join(re.escape(w) for w in words) + r")(?![A-Za-z0-9_])"
            r"""(?P<sep>["']?[ \t]*[=:][ \t]*)(?:(?P<q>["'])(?P<quoted>.*?)(?P=q)"""
            r"""|(?P<bare>[^\s"',;&)}\]]+))""",
            re.IGNORECASE,
        )
        self.add(*secrets)

    def add(self, *secrets: str) -> None:
        """Mask these values from now on (empty values are ignored)."""
        fresh = {s for s in secrets if s} - self._values
        if not fresh:
            return
        self._values |= fresh
        alternatives = "|".join(re.escape(v) for v in sorted(self._values, key=len, reverse=True))
        self._by_value = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)")

    @staticmethod
    def _field(match: re.Match[str]) -> str:
        whole, start = match.group(0), match.start()
        value = "quoted" if match.group("q") else "bare"
        begin, end = match.start(value) - start, match.end(value) - start
        return whole[:begin] + _MASK + whole[end:]

    def mask(self, text: str) -> str:
        """``text`` with secret field values and whole-token secrets replaced by ``****``."""
        if self._by_value is not None:
            text = self._by_value.sub(_MASK, text)
        return self._by_field.sub(self._field, text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = self.mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.mask(record.exc_text)
        if record.stack_info:
            record.stack_info = self.mask(record.stack_info)
        return True


class ParamType(enum.Enum):
    """The value types a parameter can have."""

    STRING = "string"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    SELECT = "select"


class ParamError(ValueError):
    """A parameter value is missing or malformed; the message names the parameter."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"parameter '{name}' {problem}")
        self.name = name
        self.problem = problem


def parse_bool(name: str, raw: str) -> bool:
    """Parse a boolean the way Pacemaker users write them.

    :raises ParamError: when the value is not a recognised boolean spelling.
    """
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    shown = repr(raw if len(raw) <= 40 else raw[:40] + "...")
    raise ParamError(name, f"must be a boolean (yes/no, true/false, 1/0), not {shown}")


@dataclass(frozen=True)
class Param:
    """One agent parameter.

    ``aliases`` are deprecated names still accepted (and listed as deprecated
    in metadata); ``secret`` values are masked in logs and never rendered as
    defaults; ``reloadable`` parameters may change without a restart
    (OCF 1.1 ``reload-agent``). ``getopt`` is an optional one-letter short
    command-line option (fence agents: ``-a`` for ``ip``); runtimes without
    a command line ignore it. ``max_length`` caps the raw value (characters);
    integers must declare ``minimum`` and ``maximum``; ``shell_words`` values
    are command lines split like a shell would (``shlex``), so unbalanced quotes
    are refused when parameters are parsed. A non-empty value of a parameter with a
    ``pattern`` (a regular expression) must match it whole, else it is refused as
    "must be <pattern_hint>".
    """

    name: str
    shortdesc: str
    longdesc: str = ""
    type: ParamType = ParamType.STRING
    default: Value = None
    required: bool = False
    unique: bool = False
    reloadable: bool = False
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    secret: bool = False
    aliases: tuple[str, ...] = ()
    getopt: str = ""
    max_length: int = DEFAULT_MAX_LENGTH
    shell_words: bool = False
    pattern: str = ""
    pattern_hint: str = ""

    def __post_init__(self) -> None:
        if len(self.getopt) > 1 or (self.getopt and not self.getopt.isalnum()):
            raise TypeError(f"parameter {self.name}: getopt must be one letter or digit")
        if self.type is ParamType.SELECT and not self.choices:
            raise TypeError(f"select parameter {self.name} needs choices")
        if self.required and self.default is not None:
            raise TypeError(f"required parameter {self.name} cannot have a default")
        if self.type is ParamType.INTEGER and (self.minimum is None or self.maximum is None):
            raise TypeError(f"integer parameter {self.name} needs a minimum and a maximum")
        if self.pattern and not self.pattern_hint:
            raise TypeError(f"parameter {self.name}: a pattern needs a pattern_hint")

    def _shown(self, raw: str) -> str:
        """The raw value as an error message may show it (never a secret's)."""
        return "the value given" if self.secret else repr(raw)

    def check_raw(self, raw: str) -> None:
        """The checks every value passes first: UTF-8, length, command-line syntax.

        :raises ParamError: naming this parameter.
        """
        try:
            raw.encode("utf-8")
        except UnicodeEncodeError:
            raise ParamError(self.name, "is not valid UTF-8") from None
        if len(raw) > self.max_length:
            raise ParamError(self.name, f"is longer than {self.max_length} characters "
                                        f"({len(raw)})")
        if self.pattern and raw and not re.fullmatch(self.pattern, raw):
            raise ParamError(self.name, f"must be {self.pattern_hint}, not {self._shown(raw)}")
        if self.shell_words:
            try:
                shlex.split(raw)
            except ValueError as bad:
                raise ParamError(self.name, f"cannot be split into words like a shell "
                                            f"would: {str(bad).lower()}") from None

    def coerce(self, raw: str) -> Value:
        """Turn a raw string into this parameter's typed value.

        :raises ParamError: naming this parameter when the value is invalid.
        """
        self.check_raw(raw)
        if self.type is ParamType.BOOLEAN:
            return parse_bool(self.name, raw)
        if self.type is ParamType.INTEGER:
            return self._coerce_int(raw)
        value = raw.strip() if self.type is ParamType.SELECT else raw
        if self.type is ParamType.SELECT and value not in self.choices:
            allowed = ", ".join(self.choices)
            raise ParamError(self.name, f"must be one of {allowed}, not {self._shown(raw)}")
        return value

    def _coerce_int(self, raw: str) -> int:
        text = raw.strip()
        if not _INTEGER.fullmatch(text):  # ASCII digits only: no 1_000, no other scripts
            shown = self._shown(raw if len(raw) <= 40 else raw[:40] + "...")
            raise ParamError(self.name, f"must be an integer, not {shown}")
        if len(text.lstrip("+-")) > 30:  # far past any bound; int() of 4300+ digits fails
            side = f"at least {self.minimum}" if text.startswith("-") else \
                f"at most {self.maximum}"
            raise ParamError(self.name, f"must be {side}, not a {len(text)}-digit number")
        number = int(text, 10)
        if self.minimum is not None and number < self.minimum:
            raise ParamError(self.name, f"must be at least {self.minimum}, not {number}")
        if self.maximum is not None and number > self.maximum:
            raise ParamError(self.name, f"must be at most {self.maximum}, not {number}")
        return number

    def default_text(self) -> str | None:
        """The default as it appears in metadata and man pages (None: no default)."""
        if self.default is None or self.secret:
            return None
        if isinstance(self.default, bool):
            return "true" if self.default else "false"
        return str(self.default)

    def describe_values(self) -> str:
        """A sentence on allowed values, appended to long descriptions."""
        if self.type is ParamType.SELECT:
            return "Allowed values: " + ", ".join(self.choices) + "."
        bounds = []
        if self.minimum is not None:
            bounds.append(f"at least {self.minimum}")
        if self.maximum is not None:
            bounds.append(f"at most {self.maximum}")
        return ("Must be " + " and ".join(bounds) + ".") if bounds else ""


class Params(Mapping[str, Value]):
    """Validated, typed parameter values, read-only.

    Typed getters raise ``TypeError`` on a declaration mismatch (a programming
    error), so handlers can rely on the types without casts.
    """

    def __init__(self, values: Mapping[str, Value], secrets: Iterable[str] = ()) -> None:
        self._values = dict(values)
        self._secrets = frozenset(secrets)

    def __getitem__(self, name: str) -> Value:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def text(self, name: str) -> str:
        """A string or select value; '' when unset."""
        value = self._values.get(name)
        if value is None:
            return ""
        if not isinstance(value, str):
            raise TypeError(f"{name} is not a string parameter")
        return value

    def integer(self, name: str) -> int:
        """An integer value (required or defaulted)."""
        value = self._values.get(name)
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"{name} is not a set integer parameter")
        return value

    def flag(self, name: str) -> bool:
        """A boolean value; False when unset."""
        value = self._values.get(name)
        if value is None:
            return False
        if not isinstance(value, bool):
            raise TypeError(f"{name} is not a boolean parameter")
        return value

    def secret_values(self) -> list[str]:
        """The values of secret parameters, for log scrubbing."""
        return [
            v for k, v in self._values.items() if k in self._secrets and isinstance(v, str) and v
        ]

    def __repr__(self) -> str:
        shown = {k: ("****" if k in self._secrets and v else v) for k, v in self._values.items()}
        return f"Params({shown!r})"


@dataclass(frozen=True)
class ParamSet:
    """An agent's parameter declarations, with parsing and validation."""

    params: tuple[Param, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for param in self.params:
            for name in (param.name, *param.aliases):
                if name in seen:
                    raise TypeError(f"parameter name {name} declared twice")
                seen.add(name)

    def __iter__(self) -> Iterator[Param]:
        return iter(self.params)

    def get(self, name: str) -> Param | None:
        """The declaration for a name or alias, or None."""
        for param in self.params:
            if name == param.name or name in param.aliases:
                return param
        return None

    def parse(self, raw: Mapping[str, str], *, check_required: bool = True) -> Params:
        """Validate raw string values (keyed by parameter name or alias).

        Unknown names are ignored here (Pacemaker and fenced pass extra keys);
        callers that must reject them use :meth:`unknown`.

        :raises ParamError: for the first invalid or missing parameter.
        """
        values: dict[str, Value] = {}
        for param in self.params:
            given = [n for n in (param.name, *param.aliases) if n in raw]
            if given:
                values[param.name] = param.coerce(raw[given[0]])
            elif param.required and check_required:
                raise ParamError(param.name, "is required but not set")
            else:
                values[param.name] = param.default
        secrets = [p.name for p in self.params if p.secret]
        return Params(values, secrets)

    def secret_mask(self, raw: Mapping[str, str] | None = None) -> SecretMask:
        """A mask for the secret parameters' names and aliases and their raw values.

        Built from raw values (keyed by name or alias), so that even a parameter error
        is reported masked.
        """
        names = [n for p in self.params if p.secret for n in (p.name, *p.aliases)]
        return SecretMask(((raw or {}).get(n, "") for n in names), names)

    def unknown(self, names: Iterable[str]) -> list[str]:
        """The names that match no parameter or alias."""
        return [n for n in names if self.get(n) is None]
