"""Fence runtime: options from argv or stdin, fence-agents metadata, actions, exit codes.

An agent declares a :class:`FenceAgentSpec`, implements a :class:`FenceDevice`
(get/set power, optionally list and cycle) and calls :func:`main` with a
:class:`FenceAgent` bundling both. Everything here is standard library only.
"""

from instanceha.fencing.agent import FenceAgentSpec, PlugUse
from instanceha.fencing.codes import ExitCode, FenceError, UsageError
from instanceha.fencing.device import FenceDevice, FenceRequest, PlugInfo, PowerState
from instanceha.fencing.run import FenceAgent, main, run

__all__ = [
    "ExitCode",
    "FenceAgent",
    "FenceAgentSpec",
    "FenceDevice",
    "FenceError",
    "FenceRequest",
    "PlugInfo",
    "PlugUse",
    "PowerState",
    "UsageError",
    "main",
    "run",
]
