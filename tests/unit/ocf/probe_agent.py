"""Probe: a small agent built by the OCF runtime, with no real service behind it.

The unit tests run it in-process; the contract suite installs it as an executable
(``python3 probe_agent.py ACTION``) to show real pcs how the runtime renders a
required parameter, which none of the shipped agents has.
"""

from __future__ import annotations

from instanceha.ocf import ActionSpec, Agent, AgentSpec, Context, OcfError, OcfRc
from instanceha.ocf import main as ocf_main
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
            Param("tries", "attempts", type=ParamType.INTEGER, default=2, minimum=1,
                  maximum=100),
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


if __name__ == "__main__":
    ocf_main(AGENT)
