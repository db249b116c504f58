"""Typed IPMI failures, each with a message fit to show an operator as is."""

from __future__ import annotations

__all__ = [
    "IpmiAuthError",
    "IpmiError",
    "IpmiPrivilegeError",
    "IpmiProtocolError",
    "IpmiSessionLost",
    "IpmiTimeout",
    "IpmiUnavailable",
    "IpmiUnreachable",
]


class IpmiError(Exception):
    """Base class: the BMC ``target`` ("host:port") and a one-line ``message``."""

    def __init__(self, target: str, message: str) -> None:
        super().__init__(f"BMC {target}: {message}")
        self.target = target
        self.message = message


class IpmiUnavailable(IpmiError):
    """The IPMI client library (pyghmi) is not installed."""


class IpmiAuthError(IpmiError):
    """The BMC refused the login: wrong password or unknown user."""


class IpmiPrivilegeError(IpmiError):
    """The user lacks the privilege level the command needs."""


class IpmiUnreachable(IpmiError):
    """Nothing answered the login: wrong address or port, BMC down, or packets dropped."""


class IpmiTimeout(IpmiError):
    """A login or command did not complete within our deadline."""


class IpmiSessionLost(IpmiError):
    """An established session stopped answering."""


class IpmiProtocolError(IpmiError):
    """The BMC answered with an error or something the client could not understand."""
