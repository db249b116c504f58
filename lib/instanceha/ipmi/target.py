"""Where a BMC is and how to log in to it."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

__all__ = ["MAX_PASSWORD_BYTES", "MAX_USERNAME_BYTES", "BmcTarget", "ChassisControl",
           "Privilege"]

#: IPMI 2.0 limits (user name 16 bytes, password 20 bytes).
MAX_USERNAME_BYTES = 16
MAX_PASSWORD_BYTES = 20


class Privilege(enum.IntEnum):
    """IPMI privilege levels, named as fence_ipmilan's ``privlvl`` spells them."""

    CALLBACK = 1
    USER = 2
    OPERATOR = 3
    ADMINISTRATOR = 4

    @classmethod
    def from_name(cls, name: str) -> Privilege:
        """``callback``, ``user``, ``operator`` or ``administrator``."""
        return cls[name.strip().upper()]


class ChassisControl(enum.IntEnum):
    """Data byte of the IPMI Chassis Control command (netfn 0x00, command 0x02)."""

    POWER_OFF = 0
    POWER_ON = 1
    POWER_CYCLE = 2
    HARD_RESET = 3
    SOFT_OFF = 5


@dataclass(frozen=True)
class BmcTarget:
    """One BMC reached over IPMI 2.0 (RMCP+, "lanplus").

    ``cipher`` pins the cipher suite: 3 (HMAC-SHA1, AES-128) or 17 (HMAC-SHA256,
    AES-128); None tries 17 then falls back to 3. The password is never part
    of ``repr``.
    """

    host: str
    port: int = 623
    username: str = ""
    password: str = field(default="", repr=False)
    privilege: Privilege = Privilege.ADMINISTRATOR
    cipher: int | None = None

    def __post_init__(self) -> None:
        if len(self.username.encode("utf-8")) > MAX_USERNAME_BYTES:
            raise ValueError(f"IPMI user names have at most {MAX_USERNAME_BYTES} bytes")
        if len(self.password.encode("utf-8")) > MAX_PASSWORD_BYTES:
            raise ValueError(f"IPMI passwords have at most {MAX_PASSWORD_BYTES} bytes")
        if self.cipher not in (None, 3, 17):
            raise ValueError("cipher suite must be 3 or 17")

    @property
    def label(self) -> str:
        """``host:port``, for messages."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"
