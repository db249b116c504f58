"""Fixes for pyghmi's client, applied once per process before the first session.

Checked against Debian 12's pyghmi 1.5.34 and PyPI's 1.6.19, whose session
code is the same in these places. Each fix is installed only when the code it
replaces has the expected shape; otherwise it is skipped (and logged), and
our own deadlines still bound every call.

1. **Lost wake-up in the IO wait.** ``session._io_wait`` registers the
   caller's wake-up event with the IO thread only after the request was sent;
   a reply read before that registration wakes nobody, and the caller sleeps
   until its retry timer (0.5-1 s per command, often at login). Another
   thread's event loop may also consume the reply for it. The fix registers
   first, then looks whether a reply is already queued, and never sleeps
   more than 50 ms at a time (every caller loops until its answer is there,
   so waking early only costs a look).
2. **Lost wake-up between two commands on one session.** ``Session._cmdwait``
   (a thread waiting for another thread's command to finish) tests the busy
   flag and then registers its event; a command finishing in between leaves
   the waiter asleep until the command deadline (about 20 s). The fix
   registers the event first and tests again.
3. **Cipher suite negotiation.** The client proposes suite 17 (SHA-256) and,
   when the BMC answers "OK" while choosing suite 3 (SHA-1) instead (pyghmi's
   own BMC server, hence virtualbmc, does), carries on with SHA-256 and dies
   with ``struct.error`` at RAKP 2. The fix reads the algorithms the BMC chose
   and follows them when they form suite 3, and fails clearly otherwise. It
   also lets a target pin suite 3 (skip the SHA-256 round trip) or 17 (never
   fall back) through :func:`prefer_cipher`.

The session cache keying bug (an entry stored under ``str`` credentials and
deleted under ``bytes``, so a second session to a BMC hangs) needs no patch:
the client always passes credentials as bytes.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from typing import Any

from pyghmi.ipmi.private import session as _session

__all__ = ["install", "prefer_cipher"]

_LOG = logging.getLogger(__name__)
_INSTALL_LOCK = threading.Lock()
_MARK = "_instanceha_fixes"

# Per-(host, port) cipher suite pins; pyghmi's session state is process-wide, so is this.
_CIPHERS: dict[tuple[str, int], int] = {}
_CIPHERS_LOCK = threading.Lock()

# RMCP+ Open Session Response: offsets of the algorithms the BMC chose.
_AUTH_ALGO, _INTEGRITY_ALGO, _CONF_ALGO, _OPEN_REPLY_LEN = 16, 24, 32, 36
_SHA1_SUITE = (1, 1, 1)  # RAKP-HMAC-SHA1, HMAC-SHA1-96, AES-CBC-128: suite 3
_SHA1, _SHA256 = 1, 256  # pyghmi's ``attemptedhash`` values
_MAX_SLEEP = 0.05  # longest single sleep of a waiter (see fix 1)


def prefer_cipher(host: str, port: int, suite: int | None) -> None:
    """Pin the cipher suite for sessions to ``host:port`` (None: 17, then 3)."""
    with _CIPHERS_LOCK:
        if suite is None:
            _CIPHERS.pop((host, port), None)
        else:
            _CIPHERS[(host, port)] = suite


def _pinned(sess: Any) -> int | None:
    key = (str(getattr(sess, "bmc", "")), int(getattr(sess, "port", 0) or 0))
    with _CIPHERS_LOCK:
        return _CIPHERS.get(key)


def _reply_queued(myaddr: Any) -> bool:
    """Whether the IO thread already queued data the waiter is about to wait for."""
    if myaddr is None:
        return bool(_session.sessionqueue)
    handlers = _session.Session.bmc_handlers.get(myaddr)
    if not handlers:
        return False
    try:
        return any(getattr(s, "pktqueue", None) for s in list(handlers.values()))
    except RuntimeError:  # resized while we looked: wait normally
        return False


def _io_wait(timeout: float, myaddr: Any = None, evq: Any = None) -> None:
    event = threading.Event()
    if evq is not None:
        evq.append(event)
    deadline = _session._monotonic_time() + timeout
    _session.ioqueue.append((deadline, event, myaddr))
    if _reply_queued(myaddr):
        return  # the reply beat our registration; the stale entry is harmless
    if deadline < _session.selectdeadline:
        wake = _session.iosockets[0]
        port = wake.getsockname()[1]
        getattr(wake, "fd", wake).sendto(b"\x01", (_session.myself, port))
    event.wait(min(_MAX_SLEEP, max(0.0, timeout)))


def _cmdwait(self: Any) -> None:
    while self._isincommand():
        event = threading.Event()
        self.evq.append(event)
        remaining = self._isincommand()  # again, now that the event is registered
        if not remaining:
            return
        event.wait(remaining)


def _wrap_initsession(original: Any) -> Any:
    def _initsession(self: Any) -> None:
        original(self)
        if _pinned(self) == 3:
            self.attemptedhash = _SHA1
    return _initsession


def _wrap_open_reply(original: Any) -> Any:
    def _got_rmcp_response(self: Any, data: Any) -> Any:
        context = self.sessioncontext
        fresh = bool(context) and context != "Established" and len(data) > 1 \
            and data[0] == self.rmcptag
        if fresh and data[1] != 0 and _pinned(self) == 17:
            self.onlogon({"error": f"BMC refused cipher suite 17 (RMCP+ status {data[1]})"})
            return -9
        if fresh and data[1] == 0 and len(data) >= _OPEN_REPLY_LEN:
            chosen = tuple(data[i] & 0x3F for i in (_AUTH_ALGO, _INTEGRITY_ALGO, _CONF_ALGO))
            proposed = (1, 1, 1) if self.attemptedhash == _SHA1 else (3, 4, 1)
            if chosen != proposed:
                if chosen != _SHA1_SUITE or _pinned(self) == 17:
                    algorithms = "/".join(str(a) for a in chosen)
                    self.onlogon({"error": "BMC chose an unsupported cipher suite "
                                           f"(algorithms {algorithms})"})
                    return -9
                # the BMC accepted our SHA-256 proposal but chose suite 3: follow it
                self.attemptedhash = _SHA1
                self.currhashlib = hashlib.sha1
                self.currhashlen = 12
        return original(self, data)
    return _got_rmcp_response


def _shape_ok() -> bool:
    needed_module = ("ioqueue", "sessionqueue", "iosockets", "_io_wait", "_monotonic_time")
    needed_class = ("_cmdwait", "_isincommand", "_initsession", "_got_rmcp_response",
                    "bmc_handlers")
    return (all(hasattr(_session, n) for n in needed_module)
            and all(hasattr(_session.Session, n) for n in needed_class))


def install() -> bool:
    """Apply the fixes (idempotent, thread-safe); False when pyghmi's code is not as expected."""
    with _INSTALL_LOCK:
        if getattr(_session.Session, _MARK, False):
            return True
        if not _shape_ok():
            _LOG.debug("pyghmi session code is not the expected shape; fixes not applied")
            return False
        session_cls = _session.Session
        _session._io_wait = _io_wait
        session_cls._cmdwait = _cmdwait
        session_cls._initsession = _wrap_initsession(session_cls._initsession)
        session_cls._got_rmcp_response = _wrap_open_reply(session_cls._got_rmcp_response)
        setattr(session_cls, _MARK, True)
        return True
