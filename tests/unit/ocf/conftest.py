"""A small agent used to test the OCF runtime without any real service."""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass

import pytest

from instanceha.ocf import run
from unit.ocf.probe_agent import AGENT, SPEC

__all__ = ["AGENT", "SPEC", "Outcome", "invoke"]


@dataclass
class Outcome:
    rc: int
    stdout: str
    stderr: str


@pytest.fixture
def invoke():  # type: ignore[no-untyped-def]
    """Run the test agent in-process: invoke(action, env) -> Outcome."""

    def _invoke(action: str, env: Mapping[str, str] | None = None) -> Outcome:
        out, err = io.StringIO(), io.StringIO()
        rc = run(AGENT, ["Probe", action], dict(env or {}), out, err)
        return Outcome(rc, out.getvalue(), err.getvalue())

    return _invoke
