"""The Nova contract against the in-process FakeNova (proves the fake)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import pytest

from contract.nova_contract import NovaContract
from fakes.fake_nova import FakeNova
from instanceha.clock import FakeClock
from instanceha.nova.model import NovaAuthError, NovaPort, NovaUnavailable

T = TypeVar("T")
HOSTS = ("compute1", "compute2", "compute3")


class FakeHarness:
    """Drives FakeNova: booting is instant, waiting advances the fake's clock."""

    page_size = 3

    def __init__(self, stop_evacuated: bool = False) -> None:
        self.clock = FakeClock()
        self.fake = FakeNova(self.clock, page_size=self.page_size, stop_evacuated=stop_evacuated)
        self.nova: NovaPort = self.fake
        self.hosts = HOSTS
        for host in HOSTS:
            self.fake.add_compute(host)

    def boot(
        self, host: str, count: int = 1, *, stopped: bool = False, project: int = 0
    ) -> list[str]:
        status = "SHUTOFF" if stopped else "ACTIVE"
        return [
            self.fake.add_server(host, status=status, project_id=f"project-{project}").id
            for _ in range(count)
        ]

    def crash_compute(self, host: str) -> None:
        self.fake.kill_compute(host)

    def restart_compute(self, host: str) -> None:
        self.fake.restart_compute(host)

    def wait(self, what: str, check: Callable[[], T | None], timeout: float = 60.0) -> T:
        deadline = self.clock.monotonic() + timeout
        while True:
            result = check()
            if result is not None and result is not False:
                return result
            if self.clock.monotonic() >= deadline:
                pytest.fail(f"timed out waiting for {what}")
            self.clock.advance(0.1)

    def bad_credentials(self) -> NovaPort:
        fake = FakeNova()
        fake.fail_next(10**6, NovaAuthError)
        return fake

    def unreachable(self) -> NovaPort:
        fake = FakeNova()
        fake.fail_next(10**6, lambda m: NovaUnavailable("cannot reach Nova: connection refused"))
        return fake


class TestFakeNovaContract(NovaContract):
    """Both power-state regimes: kept by Nova (below 2.95, what NovaClient uses) and
    every server stopped (2.95+, the engine's fix-up starts the ACTIVE one)."""

    @pytest.fixture(params=[False, True], ids=["keeps-power", "stops-all"])
    def harness(self, request: pytest.FixtureRequest) -> FakeHarness:
        return FakeHarness(request.param)
