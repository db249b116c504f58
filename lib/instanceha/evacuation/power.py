"""The power-state fix-up after an evacuation, in one place so the rule is easy to change.

Which call is needed depends on the microversion the access layer uses (below
2.95, which :mod:`instanceha.nova.wire` always uses for evacuate, Nova keeps the
power state and nothing is needed; from 2.95 it leaves every server stopped);
:func:`instanceha.nova.model.power_fixup` owns that rule, this module only
applies it towards the engine's target state.
"""

from __future__ import annotations

from instanceha.nova.model import NovaPort, Server, power_fixup

__all__ = ["fix_power_state"]


def fix_power_state(nova: NovaPort, server: Server, target_state: str) -> str | None:
    """Start or stop ``server`` (evacuation finished) towards ``target_state``.

    Returns the call made ("start"/"stop") or None when nothing applies. Nova's
    NovaConflict (a power operation already running) propagates to the caller.
    """
    action = power_fixup(target_state, server)
    if action == "stop":
        nova.stop_server(server.id)
    elif action == "start":
        nova.start_server(server.id)
    return action
