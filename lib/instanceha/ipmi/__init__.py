"""IPMI 2.0 (RMCP+) chassis power control: the only importer of pyghmi.

Importing this package does not import pyghmi; :class:`IpmiClient` loads it
when a session is opened.
"""

from instanceha.ipmi.client import IpmiClient
from instanceha.ipmi.errors import (
    IpmiAuthError,
    IpmiError,
    IpmiPrivilegeError,
    IpmiProtocolError,
    IpmiSessionLost,
    IpmiTimeout,
    IpmiUnavailable,
    IpmiUnreachable,
)
from instanceha.ipmi.target import BmcTarget, ChassisControl, Privilege

__all__ = [
    "BmcTarget",
    "ChassisControl",
    "IpmiAuthError",
    "IpmiClient",
    "IpmiError",
    "IpmiPrivilegeError",
    "IpmiProtocolError",
    "IpmiSessionLost",
    "IpmiTimeout",
    "IpmiUnavailable",
    "IpmiUnreachable",
    "Privilege",
]
