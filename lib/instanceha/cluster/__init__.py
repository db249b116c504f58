"""Pacemaker state through its CLIs: node names, node attributes, fencing history.

The only package that runs Pacemaker's command line tools for state. Every
call is an argument list with a timeout through a :class:`Runner`; output is
read from ``--output-as=xml`` (or CIB XML), never from human-readable text.
"""

from __future__ import annotations

from instanceha.cluster.attributes import NodeAttributes, TransientAttributes
from instanceha.cluster.evacuation import (
    EvacuationRequest,
    EvacuationRequests,
    EvacuationState,
    InvalidRequestValue,
)
from instanceha.cluster.history import (
    FenceEvent,
    FenceHistory,
    FenceState,
    latest_success,
    parse_fence_history,
    successes_since,
)
from instanceha.cluster.nodes import ClusterNodes, NodeInfo
from instanceha.cluster.runner import (
    ClusterError,
    CommandError,
    CommandTimeout,
    OutputError,
    Runner,
    RunResult,
    SubprocessRunner,
    ToolNotFound,
    UnknownNode,
)

__all__ = [
    "ClusterError",
    "ClusterNodes",
    "CommandError",
    "CommandTimeout",
    "EvacuationRequest",
    "EvacuationRequests",
    "EvacuationState",
    "FenceEvent",
    "FenceHistory",
    "FenceState",
    "InvalidRequestValue",
    "NodeAttributes",
    "NodeInfo",
    "OutputError",
    "RunResult",
    "Runner",
    "SubprocessRunner",
    "ToolNotFound",
    "TransientAttributes",
    "UnknownNode",
    "latest_success",
    "parse_fence_history",
    "successes_since",
]
