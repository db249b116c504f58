"""A small agent used to test the OCF runtime without any real service."""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass

import pytest

from instanceha.ocf import ActionSpec, Agent, AgentSpec, Context, OcfError, OcfRc, run
from instanceha.spec import Param, Params, ParamSet, ParamType

SPEC = AgentSpec(
    name="Probe",
    version="1.0",
    shortdesc="test agent",
    longdesc="An agent for runtime tests: <tags> & ampersands must be escaped.",
    params=ParamSet(
        (
            Param("target", "what to manage", required=True, unique=True),
            Param("password", "a secret", secret=True),
            Param("tries", "attempts", type=ParamType.INTEGER, default=2, minimum=1),
            Param("behaviour", "what start does", type=ParamType.SELECT,
                  choices=("ok", "crash", "missing", "configured"), default="ok"),
        )
    ),
    actions=(
        ActionSpec("start", 20),
        ActionSpec("stop", 20),
        ActionSpec("monitor", 20, interval=10),
        ActionSpec("validate-all", 10),
        ActionSpec("meta-data", 5),
    ),
)


def _start(ctx: Context, params: Params) -> OcfRc:
    behaviour = params.text("behaviour")
    if behaviour == "crash":
        raise RuntimeError(f"boom with {params.text('password')}")
    if behaviour == "configured":
        raise OcfError(OcfRc.ERR_CONFIGURED, "target is not something we can manage")
    return OcfRc.SUCCESS


def _monitor(ctx: Context, params: Params) -> OcfRc:
    if params.text("behaviour") == "missing":
        raise OcfError(OcfRc.ERR_INSTALLED, "the managed tool is not installed")
    return OcfRc.NOT_RUNNING


AGENT = Agent(SPEC, {"start": _start, "stop": lambda c, p: None, "monitor": _monitor})


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
