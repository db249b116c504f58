"""The pyghmi fixes, exercised on stand-in session objects (needs pyghmi installed)."""

from __future__ import annotations

import hashlib
import threading
import time
from typing import Any

import pytest

pytest.importorskip("pyghmi")

from pyghmi.ipmi.private import session as pyghmi_session  # noqa: E402

from instanceha.ipmi import pyghmi_fixes  # noqa: E402


def test_install_is_idempotent_and_patches_pyghmi() -> None:
    assert pyghmi_fixes.install()
    assert pyghmi_fixes.install()
    assert pyghmi_session._io_wait is pyghmi_fixes._io_wait
    assert pyghmi_session.Session._cmdwait is pyghmi_fixes._cmdwait


class OpenSession:
    """Just what the open-session reply handler reads and writes."""

    def __init__(self, bmc: str = "10.1.1.1", port: int = 623) -> None:
        self.bmc, self.port = bmc, port
        self.sessioncontext = "OPENSESSION"
        self.rmcptag = 7
        self.attemptedhash = 256
        self.currhashlib: Any = hashlib.sha256
        self.currhashlen = 16
        self.errors: list[str] = []

    def onlogon(self, answer: dict[str, str]) -> None:
        self.errors.append(answer["error"])


def reply(status: int, auth: int, integrity: int, conf: int = 1, tag: int = 7) -> bytes:
    data = bytearray(36)
    data[0], data[1] = tag, status
    data[16], data[24], data[32] = auth, integrity, conf
    return bytes(data)


def handler() -> tuple[Any, list[bytes]]:
    seen: list[bytes] = []

    def original(_self: Any, data: bytes) -> str:
        seen.append(data)
        return "original"

    return pyghmi_fixes._wrap_open_reply(original), seen


def test_sha1_chosen_for_a_sha256_proposal_is_followed() -> None:
    wrapped, seen = handler()
    sess = OpenSession()
    assert wrapped(sess, reply(0, 1, 1)) == "original"
    assert sess.attemptedhash == 1 and sess.currhashlib is hashlib.sha1
    assert sess.currhashlen == 12 and seen


def test_accepted_proposal_is_left_alone() -> None:
    wrapped, seen = handler()
    sess = OpenSession()
    wrapped(sess, reply(0, 3, 4))
    assert sess.attemptedhash == 256 and sess.currhashlib is hashlib.sha256 and seen


def test_unsupported_choice_fails_clearly() -> None:
    wrapped, seen = handler()
    sess = OpenSession()
    assert wrapped(sess, reply(0, 2, 2)) == -9
    assert "unsupported cipher suite" in sess.errors[0] and not seen


def test_stale_replies_go_to_pyghmi_untouched() -> None:
    wrapped, seen = handler()
    sess = OpenSession()
    wrapped(sess, reply(0, 1, 1, tag=3))
    assert sess.attemptedhash == 256 and seen


def test_pinned_suites() -> None:
    wrapped, seen = handler()
    sess = OpenSession(port=6001)
    pyghmi_fixes.prefer_cipher("10.1.1.1", 6001, 17)
    try:
        assert wrapped(sess, reply(0x11, 0, 0)) == -9
        assert "cipher suite 17" in sess.errors[0] and not seen
        pyghmi_fixes.prefer_cipher("10.1.1.1", 6001, 3)
        init = pyghmi_fixes._wrap_initsession(lambda s: setattr(s, "attemptedhash", 256))
        init(sess)
        assert sess.attemptedhash == 1
    finally:
        pyghmi_fixes.prefer_cipher("10.1.1.1", 6001, None)
    init(sess)
    assert sess.attemptedhash == 256


class BusySession:
    def __init__(self) -> None:
        self.incommand = time.monotonic() + 10
        self.evq: list[threading.Event] = []

    def _isincommand(self) -> float:
        left = self.incommand - time.monotonic() if self.incommand else 0
        return left if left > 0 else 0

    def finish(self) -> None:
        self.incommand = 0
        while self.evq:
            self.evq.pop(0).set()


def test_cmdwait_wakes_when_the_other_command_finishes() -> None:
    sess = BusySession()
    timer = threading.Timer(0.1, sess.finish)
    timer.start()
    started = time.monotonic()
    pyghmi_fixes._cmdwait(sess)
    assert time.monotonic() - started < 2
    timer.join()


def test_io_wait_returns_at_once_when_a_reply_is_queued_and_never_sleeps_long() -> None:
    marker = object()
    pyghmi_session.sessionqueue.append(marker)
    try:
        started = time.monotonic()
        pyghmi_fixes._io_wait(5.0)
        assert time.monotonic() - started < 0.5
    finally:
        pyghmi_session.sessionqueue.remove(marker)
    started = time.monotonic()
    pyghmi_fixes._io_wait(5.0, ("192.0.2.1", 623))
    assert time.monotonic() - started < 1.0
