"""OCF runtime: declarations, exit codes, context, metadata, logging, dispatch."""

from instanceha.ocf.agent import PROVIDER, ActionSpec, AgentSpec
from instanceha.ocf.context import Context
from instanceha.ocf.rc import OcfError, OcfRc
from instanceha.ocf.run import Agent, main, run

__all__ = [
    "PROVIDER",
    "ActionSpec",
    "Agent",
    "AgentSpec",
    "Context",
    "OcfError",
    "OcfRc",
    "main",
    "run",
]
