"""Pacemaker duration parsing."""

from __future__ import annotations

import pytest

from instanceha.cib.durations import DurationError, is_duration, to_ms


@pytest.mark.parametrize(
    ("text", "ms"),
    [("10", 10_000), ("10s", 10_000), ("500ms", 500), ("2min", 120_000), ("1m", 60_000),
     ("1h", 3_600_000), ("PT1M30S", 90_000), (" 5 s ", 5_000), ("0", 0)],
)
def test_to_ms(text: str, ms: int) -> None:
    assert to_ms(text) == ms


@pytest.mark.parametrize("text", ["", "soon", "10 parsecs", "-5s", "P1D", "PT"])
def test_rejects(text: str) -> None:
    assert not is_duration(text)
    with pytest.raises(DurationError):
        to_ms(text)
