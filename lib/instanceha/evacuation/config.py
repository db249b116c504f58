"""Tuning knobs of the evacuation engine, with the backoff rule they imply."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["EngineConfig"]


@dataclass(frozen=True)
class EngineConfig:
    """How hard, how fast and how long the engine works on one host (seconds)."""

    max_parallel: int = 8  # evacuations in flight at once (accepted .. done)
    submit_parallel: int = 4  # evacuate calls awaiting Nova's answer at once (self-pacing)
    stagger: float = 0.0  # minimum gap between two evacuate calls
    max_attempts: int = 3  # evacuate calls per server before giving up
    retry_backoff: float = 5.0  # delay after the first failed attempt, doubled each time
    retry_backoff_max: float = 120.0
    outage_backoff: float = 2.0  # first wait while Nova is unavailable, doubled each time
    outage_backoff_max: float = 60.0
    poll_interval: float = 2.0  # between two looks at migrations and servers
    instance_timeout: float = 600.0  # one attempt: evacuate call to target state
    lost_grace: float = 30.0  # accepted call with no migration record: wait this long
    max_fixups: int = 3  # start/stop calls per server to reach its target state
    deadline: float = 3600.0  # the whole host; unfinished servers are then reported pending
    api_workers: int = 0  # threads for Nova calls; 0 means max(4, max_parallel)

    def __post_init__(self) -> None:
        if min(self.max_parallel, self.submit_parallel, self.max_attempts) < 1:
            raise ValueError("max_parallel, submit_parallel and max_attempts must be at least 1")
        if min(self.stagger, self.retry_backoff, self.outage_backoff) < 0:
            raise ValueError("delays must not be negative")
        if self.poll_interval <= 0:
            raise ValueError("poll_interval must be positive")

    @property
    def workers(self) -> int:
        """Size of the thread pool used for Nova calls."""
        return self.api_workers or max(4, self.max_parallel)

    def retry_delay(self, failed_attempts: int) -> float:
        """Backoff before the next attempt after ``failed_attempts`` failures (>= 1)."""
        exponent = min(30, max(0, failed_attempts - 1))
        return min(self.retry_backoff_max, self.retry_backoff * 2.0**exponent)

    def outage_delay(self, consecutive: int) -> float:
        """Wait after the ``consecutive``-th (>= 1) failed look at Nova in a row."""
        exponent = min(30, max(0, consecutive - 1))
        return min(self.outage_backoff_max, self.outage_backoff * 2.0**exponent)
