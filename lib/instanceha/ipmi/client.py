"""Chassis power control of one BMC, with pyghmi in process and our own deadlines.

The only module that imports pyghmi, and only when a session is opened, so
importing it costs nothing on the metadata and validation paths.

* Every pyghmi call runs under a deadline (``login_timeout`` for the login,
  ``command_timeout`` for each command); pyghmi's own are long and its
  "no answer" error reads ``None``.
* pyghmi keeps its sessions, sockets and IO thread at class level, shared by
  every thread of a process. Clients for different BMCs run in parallel;
  clients for the same BMC take turns (a per-BMC lock held from login to
  logout), because pyghmi would hand them one shared session and the first
  logout would break the others.
* Power is read and set with the standard IPMI chassis commands (Get Chassis
  Status, Chassis Control), as ipmitool does, so no vendor-specific code runs.
* Credentials go to pyghmi as bytes (see :mod:`instanceha.ipmi.pyghmi_fixes`).
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, ClassVar, TypeVar

from instanceha.deadline import DeadlineExceeded, call_with_deadline
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
from instanceha.ipmi.target import BmcTarget, ChassisControl

__all__ = ["IpmiClient"]

_LOG = logging.getLogger(__name__)
T = TypeVar("T")

_NETFN_CHASSIS = 0x00
_GET_CHASSIS_STATUS = 0x01
_CHASSIS_CONTROL = 0x02
_INSUFFICIENT_PRIVILEGE = 0xD4
_LOGOUT_TIMEOUT = 1.0

# pyghmi error texts (lower case) -> our error class and message.
_MESSAGE_RULES: tuple[tuple[str, type[IpmiError], str], ...] = (
    ("password", IpmiAuthError, "login denied: incorrect password"),
    ("unauthorized name", IpmiAuthError, "login denied: unknown user '{user}'"),
    ("role", IpmiPrivilegeError, "{what}: {message} (check privlvl)"),
    ("privilege", IpmiPrivilegeError, "{what}: {message} (check privlvl)"),
)


class _TargetLocks:
    """One lock per (host, port), created on first use."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[tuple[str, int], threading.Lock] = {}

    def get(self, key: tuple[str, int]) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())


@dataclass(frozen=True)
class _Pyghmi:
    """The parts of pyghmi the client uses (a seam for unit tests)."""

    session: Any
    exceptions: Any
    prefer_cipher: Callable[[str, int, int | None], None]


def _load_pyghmi(target: BmcTarget) -> _Pyghmi:
    """pyghmi's session and exceptions modules, with the fixes installed.

    The session layer is used directly: ``pyghmi.ipmi.command`` adds nothing the
    chassis commands need and imports every vendor (OEM) module, which costs
    tens of milliseconds per agent run.
    """
    try:
        from pyghmi import exceptions
        from pyghmi.ipmi.private import session
    except ImportError:
        raise IpmiUnavailable(target.label, "pyghmi is not installed "
                                            "(Debian: apt-get install python3-pyghmi)") from None
    from instanceha.ipmi import pyghmi_fixes

    pyghmi_fixes.install()
    return _Pyghmi(session, exceptions, pyghmi_fixes.prefer_cipher)


class IpmiClient:
    """A logged-in IPMI 2.0 session to one BMC; use as a context manager.

    :param target: the BMC and credentials.
    :param login_timeout: seconds for the login (and for waiting for another
        thread of this process that is using the same BMC).
    :param command_timeout: seconds for each command.
    """

    _locks: ClassVar[_TargetLocks] = _TargetLocks()

    def __init__(self, target: BmcTarget, *, login_timeout: float = 5.0,
                 command_timeout: float = 3.0) -> None:
        self.target = target
        self.login_timeout = login_timeout
        self.command_timeout = command_timeout
        self._session: Any = None
        self._exceptions: Any = None
        self._held: threading.Lock | None = None

    def __enter__(self) -> IpmiClient:
        self.open()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- session -------------------------------------------------------------

    def open(self) -> None:
        """Log in.

        :raises IpmiError: (a subclass naming the cause) when the login fails.
        """
        lock = self._locks.get((self.target.host, self.target.port))
        if not lock.acquire(timeout=self.login_timeout):
            raise IpmiTimeout(self.target.label, "another operation on this BMC in this "
                              f"process did not finish within {self.login_timeout:g} s")
        self._held = lock
        try:
            self._login(self.login_timeout)
        except BaseException:
            self._release()
            raise

    def close(self) -> None:
        """Log out (best effort, bounded) and let other threads use this BMC."""
        session, self._session = self._session, None
        try:
            if session is not None:
                call_with_deadline(session.logout, _LOGOUT_TIMEOUT, "ipmi-logout")
        except Exception as error:  # a BMC gone quiet must not delay the agent's exit
            _LOG.debug("logout from %s: %s", self.target.label, error)
        finally:
            self._release()

    def _release(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            held.release()

    def _login(self, seconds: float) -> None:
        pyghmi = _load_pyghmi(self.target)
        self._exceptions = pyghmi.exceptions
        target = self.target
        pyghmi.prefer_cipher(target.host, target.port, target.cipher)

        def login() -> Any:
            return pyghmi.session.Session(
                bmc=target.host, port=target.port, userid=target.username.encode("utf-8"),
                password=target.password.encode("utf-8"), privlevel=int(target.privilege),
                keepalive=False)

        _LOG.debug("logging in to %s as %s", target.label, target.username or "(null user)")
        self._session = self._call(login, seconds, "login")

    # -- commands --------------------------------------------------------------

    def power_is_on(self) -> bool:
        """Whether the chassis reports power on (Get Chassis Status)."""
        response = self._raw(_GET_CHASSIS_STATUS, (), "get power status")
        data = response.get("data")
        if not data:
            raise IpmiProtocolError(self.target.label, "empty Get Chassis Status answer")
        return bool(data[0] & 0x01)

    def chassis_control(self, operation: ChassisControl) -> None:
        """Send Chassis Control (power off/on/cycle/reset/soft-off)."""
        self._raw(_CHASSIS_CONTROL, (int(operation),), f"chassis control {operation.name}")

    def _raw(self, command: int, data: Sequence[int], what: str) -> dict[str, Any]:
        if self._held is None:
            raise IpmiSessionLost(self.target.label, f"{what}: no session (not opened)")
        if self._session is None:
            _LOG.info("logging in to %s again after a lost session", self.target.label)
            self._login(min(self.login_timeout, self.command_timeout))
        session = self._session

        def send() -> Any:
            return session.raw_command(netfn=_NETFN_CHASSIS, command=command, data=list(data))

        response = self._call(send, self.command_timeout, what)
        if not isinstance(response, dict):
            raise IpmiProtocolError(self.target.label, f"{what}: unexpected answer")
        if "error" in response:
            raise self._answer_error(what, response.get("code"), response["error"])
        return response

    # -- error translation -----------------------------------------------------

    def _call(self, fn: Callable[[], T], seconds: float, what: str) -> T:
        try:
            return call_with_deadline(fn, seconds, f"ipmi-{what.replace(' ', '-')}")
        except DeadlineExceeded:
            if what == "login":
                raise IpmiUnreachable(
                    self.target.label, f"no answer to the login within {seconds:g} s "
                    "(BMC down or unreachable, wrong address or port, or packets lost)"
                ) from None
            raise IpmiTimeout(self.target.label,
                              f"{what}: no answer within {seconds:g} s") from None
        except IpmiError:
            raise
        except Exception as error:
            raise self._translate(what, error) from None

    def _answer_error(self, what: str, code: object, message: object) -> IpmiError:
        text = f"{what}: {message}"
        if code == _INSUFFICIENT_PRIVILEGE:
            return IpmiPrivilegeError(self.target.label, f"{text} (raise privlvl or use a "
                                                         "user with the needed privilege)")
        return IpmiProtocolError(self.target.label, text)

    def _translate(self, what: str, error: Exception) -> IpmiError:
        label = self.target.label
        if isinstance(error, socket.gaierror):
            return IpmiUnreachable(label, f"cannot resolve {self.target.host}: {error.strerror}")
        if self._exceptions is not None and isinstance(error, self._exceptions.IpmiException):
            return self._translate_pyghmi(what, str(error))
        if isinstance(error, OSError):
            return IpmiUnreachable(label, f"{what}: {error.strerror or error}")
        return IpmiProtocolError(label, f"{what}: {type(error).__name__}: {error}")

    def _translate_pyghmi(self, what: str, message: str) -> IpmiError:
        label = self.target.label
        lower = message.lower()
        if message in ("None", ""):  # pyghmi's "gave up waiting"
            return IpmiUnreachable(label, f"{what}: no answer from the BMC")
        if "no longer connected" in lower or "disconnected" in lower:
            self._session = None  # log in again before the next command
            return IpmiSessionLost(label, f"{what}: the BMC stopped answering (session lost)")
        for needle, kind, text in _MESSAGE_RULES:
            if needle in lower:
                return kind(label, text.format(what=what, message=message,
                                               user=self.target.username))
        return IpmiProtocolError(label, f"{what}: {message}")
