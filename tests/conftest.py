"""Every test directory's plugin: under ``make check`` (and CI) a skipped test fails the run.

Integration and contract tests skip, with a reason naming what is missing, when
they cannot run here (not root, a tool or library not installed, no lab). A
developer's ``pytest tests/unit`` keeps that. But a CI machine missing a
component would pass with the live tests skipped, so with
``INSTANCEHA_NO_SKIP=1`` (``scripts/run-tests.sh``, hence ``make test`` and
``make check``, sets it) or ``CI=true`` every skip fails the run: the run ends
with the counts of passed, failed, errored and skipped tests, then names each
skipped test with its reason, and exits 1. ``INSTANCEHA_NO_SKIP=0`` allows
skips even under CI. An expected failure (``xfail``) is not a skip.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

import pytest

__all__ = ["NO_SKIP_VARIABLE", "no_skip_wanted"]

#: The environment variable that makes a skip a failure ("1") or allows it ("0").
NO_SKIP_VARIABLE = "INSTANCEHA_NO_SKIP"


def no_skip_wanted(env: Mapping[str, str]) -> bool:
    """True when skips fail the run: ``INSTANCEHA_NO_SKIP=1``, or ``CI=true`` unless it is 0."""
    explicit = env.get(NO_SKIP_VARIABLE, "").strip()
    if explicit:
        return explicit == "1"
    return env.get("CI", "").strip().lower() in ("true", "1", "yes")


@dataclass
class _Tally:
    """What the run did, from every test phase's and every collector's report."""

    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (test id, reason)

    def add(self, report: pytest.TestReport | pytest.CollectReport) -> None:
        if report.skipped and not hasattr(report, "wasxfail"):
            self.skipped.append((report.nodeid, _reason(report)))
        elif report.failed:
            if isinstance(report, pytest.TestReport) and report.when == "call":
                self.failed += 1
            else:
                self.errors += 1
        elif report.passed and isinstance(report, pytest.TestReport) and report.when == "call":
            self.passed += 1

    def counts(self) -> str:
        return (f"{self.passed} passed, {self.failed} failed, {self.errors} errors, "
                f"{len(self.skipped)} skipped")


def _reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        reason = str(longrepr[2])
    else:
        reason = str(longrepr)
    return reason.removeprefix("Skipped: ").strip() or "no reason given"


class NoSkip:
    """The plugin registered by :func:`pytest_configure` when skips must fail."""

    def __init__(self) -> None:
        self.tally = _Tally()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.tally.add(report)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.skipped or report.failed:
            self.tally.add(report)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.tally.skipped and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        tally = self.tally
        terminalreporter.write_sep("=", f"instanceha: {tally.counts()}")
        if not tally.skipped:
            return
        terminalreporter.write_line(
            f"FAILED: {len(tally.skipped)} test(s) skipped, and a skip fails this run "
            f"({NO_SKIP_VARIABLE}=1 or CI=true; {NO_SKIP_VARIABLE}=0 allows skips); "
            "install what each names (make test-deps, make install, run as root):", red=True)
        for nodeid, reason in tally.skipped:
            terminalreporter.write_line(f"SKIPPED {nodeid}: {reason}", red=True)


def pytest_configure(config: pytest.Config) -> None:
    if no_skip_wanted(os.environ):
        config.pluginmanager.register(NoSkip(), "instanceha-no-skip")
