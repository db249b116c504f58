"""call_with_deadline: results and errors pass through; slow calls are abandoned in time."""

from __future__ import annotations

import threading
import time

import pytest

from instanceha.deadline import DeadlineExceeded, call_with_deadline


def test_result_and_none_pass_through() -> None:
    assert call_with_deadline(lambda: 42, 1) == 42
    assert call_with_deadline(lambda: None, 1) is None


def test_errors_are_raised_in_the_caller() -> None:
    def fail() -> int:
        raise KeyError("x")

    with pytest.raises(KeyError):
        call_with_deadline(fail, 1)


def test_slow_call_is_abandoned() -> None:
    release = threading.Event()
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        call_with_deadline(lambda: release.wait(10), 0.1)
    assert time.monotonic() - started < 2
    release.set()
