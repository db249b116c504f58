"""The parameters every fence agent has, and ready-made ones agents commonly declare.

Names, short options, aliases and defaults follow ClusterLabs fence-agents so
that existing stonith configurations and habits carry over: ``-o/--action``,
``-n/--plug`` (alias ``port``), ``-p/--password`` (alias ``passwd``),
``-S/--password-script``, ``delay``, ``power_timeout`` and so on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from instanceha.spec import Param, ParamType, Value

__all__ = [
    "IP",
    "PASSWORD",
    "PASSWORD_SCRIPT",
    "SECONDS",
    "USERNAME",
    "action_param",
    "ipport",
    "method_param",
    "plug_param",
    "runtime_params",
]

#: Parameters rendered with fence-agents' ``second`` content type.
SECONDS = frozenset(
    {"delay", "login_timeout", "power_timeout", "power_wait", "shell_timeout",
     "stonith_status_sleep"}
)

IP = Param(
    "ip",
    "IP address or hostname of fencing device",
    "Address of the device's management interface, for example a BMC.",
    required=True,
    max_length=255,
    aliases=("ipaddr",),
    getopt="a",
)

USERNAME = Param(
    "username",
    "Login name",
    "User name on the fencing device.",
    required=True,
    aliases=("login",),
    getopt="l",
)

PASSWORD = Param(
    "password",
    "Login password or passphrase",
    "Password on the fencing device. Prefer password_script: a value given here is "
    "stored in the CIB.",
    secret=True,
    aliases=("passwd",),
    getopt="p",
)

PASSWORD_SCRIPT = Param(
    "password_script",
    "Script to run to retrieve password",
    "Command (split like a shell would, but run without one) whose first line of "
    "output is the password. Used when password is not set.",
    aliases=("passwd_script",),
    shell_words=True,
    getopt="S",
)


def ipport(default: int) -> Param:
    """The device port parameter with the protocol's default."""
    return Param(
        "ipport",
        "TCP/UDP port to use for connection with device",
        type=ParamType.INTEGER,
        default=default,
        minimum=1,
        maximum=65535,
        getopt="u",
    )


def action_param(default: str) -> Param:
    """The ``action`` parameter (Pacemaker sets it; users rarely should)."""
    return Param(
        "action",
        "Fencing action",
        "What to do: on, off, reboot, status, list, list-status, monitor, metadata, "
        "manpage or validate-all. Pacemaker passes it with every call.",
        default=default,
        getopt="o",
    )


def plug_param(ignored: bool) -> Param:
    """``plug`` (alias ``port``): the target, or accepted and ignored by single-host devices."""
    if ignored:
        return Param(
            "plug",
            "Ignored: this device controls one host",
            "Accepted because Pacemaker passes the target's name; the device controls "
            "exactly one host, so set pcmk_host_list on the stonith resource.",
            aliases=("port",),
            getopt="n",
        )
    return Param(
        "plug",
        "Name of the target to fence",
        "Pacemaker passes the target node's name (mapped through pcmk_host_map).",
        aliases=("port",),
        getopt="n",
    )


def method_param() -> Param:
    """``method``: reboot as off then on, or as the device's atomic power cycle."""
    return Param(
        "method",
        "Method to fence",
        "onoff: power off, verify, power on (the default); cycle: ask the device for "
        "one atomic power cycle, which cannot verify that the target was ever off.",
        type=ParamType.SELECT,
        choices=("onoff", "cycle"),
        default="onoff",
        getopt="m",
    )


_RUNTIME = (
    Param("quiet", "Disable logging to stderr", "Disable logging to stderr; debug_file "
          "still receives every line.",
          type=ParamType.BOOLEAN, default=False, getopt="q"),
    Param("verbose", "Verbose mode", "Verbose mode: log debug details to stderr.",
          type=ParamType.BOOLEAN, default=False, getopt="v"),
    Param("debug_file", "Write debug information to given file",
          "Append every log line, debug included, to this file (created with mode 0600; "
          "secrets are masked).",
          aliases=("debug",), getopt="D"),
    Param("version", "Display version information and exit", type=ParamType.BOOLEAN,
          default=False, getopt="V"),
    Param("help", "Display help and exit", type=ParamType.BOOLEAN, default=False,
          getopt="h"),
    Param("separator", "Separator for CSV created by the list action", default=","),
    Param("delay", "Wait X seconds before fencing is started",
          "Wait X seconds before fencing is started; applies to off and reboot only, "
          "counted from the agent's start.",
          type=ParamType.INTEGER, default=0, minimum=0, maximum=3600),
    Param("login_timeout", "Wait X seconds for the login to the device to succeed",
          type=ParamType.INTEGER, default=5, minimum=1, maximum=600),
    Param("power_timeout", "Test X seconds for status change after ON/OFF",
          "Test X seconds for status change after ON/OFF: after each power command the "
          "state is polled until it matches or this many seconds have passed.",
          type=ParamType.INTEGER, default=20, minimum=0, maximum=3600),
    Param("power_wait", "Wait X seconds after issuing ON/OFF",
          "Wait X seconds after issuing ON/OFF, before the first verification poll.",
          type=ParamType.INTEGER, default=0, minimum=0, maximum=3600),
    Param("shell_timeout", "Wait X seconds for one device command to answer",
          type=ParamType.INTEGER, default=3, minimum=1, maximum=600),
    Param("stonith_status_sleep", "Sleep at most X seconds between status calls",
          "Sleep at most X seconds between status calls: verification polls start 0.1 s "
          "apart and back off to this interval.",
          type=ParamType.INTEGER, default=1, minimum=1, maximum=600),
    Param("retry_on", "Count of attempts to retry power on",
          type=ParamType.INTEGER, default=1, minimum=0, maximum=100),
)


def runtime_params(overrides: Mapping[str, Value]) -> tuple[Param, ...]:
    """The logging and timing parameters, with an agent's default overrides applied."""
    return tuple(
        replace(p, default=overrides[p.name]) if p.name in overrides else p for p in _RUNTIME
    )
