"""The mass-failure guard: too many hosts failing at once means hold, not evacuate.

When more compute hosts ask for evacuation within ``window`` seconds than
``max_hosts`` (or than ``max_share`` of all computes; hosts whose evacuation
already finished in the window count too), something bigger than a
host failure is going on (a rack, a switch, a storage outage): evacuating
would pile every instance onto the survivors or onto hosts that are not
really dead. The guard then holds every request it has not already started,
marks each held node with :data:`HOLD_ATTRIBUTE` (``held:<t>``, shown by
``crm_mon -A``), and waits until an admin releases it
(``instanceha evacuate --release NODE``, which writes ``released:<t>``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from instanceha.cluster.evacuation import EvacuationRequest, EvacuationState

__all__ = ["HOLD_ATTRIBUTE", "GuardConfig", "GuardVerdict", "evaluate"]

HOLD_ATTRIBUTE = "instanceha-hold"


@dataclass(frozen=True)
class GuardConfig:
    """Thresholds; 0 disables a threshold."""

    max_hosts: int = 0
    max_share: float = 0.0  # 0.5 = half of the compute hosts
    window: float = 600.0


@dataclass(frozen=True)
class GuardVerdict:
    """Whether the guard trips, why, and which nodes it holds."""

    tripped: bool
    reason: str
    held: frozenset[str]


def evaluate(
    config: GuardConfig,
    requests: Mapping[str, EvacuationRequest],
    holds: Mapping[str, str],
    computes: int,
    now: float,
) -> GuardVerdict:
    """Decide from the current requests; ``holds`` are HOLD_ATTRIBUTE values by node."""
    active = {n: r for n, r in requests.items() if r.state is not EvacuationState.DONE}
    # a host evacuated quickly still failed within the window: done requests count too
    # (their time is the completion's, a little after the failure)
    recent = [n for n, r in requests.items() if now - r.since <= config.window]
    too_many = config.max_hosts and len(recent) > config.max_hosts
    share = len(recent) / computes if computes else 0.0
    too_large = config.max_share and share > config.max_share
    already_held = {n for n, v in holds.items() if v.startswith("held:") and n in active}
    if not (too_many or too_large) and not already_held:
        return GuardVerdict(False, "", frozenset())
    reason = (f"{len(recent)} of {computes} compute hosts failed within "
              f"{config.window:.0f}s (limit: {config.max_hosts or '-'} hosts, "
              f"{config.max_share:.0%} share)") if (too_many or too_large) else (
              "holding until an admin releases: " + ", ".join(sorted(already_held)))
    started = {n for n, r in active.items() if r.state is EvacuationState.IN_PROGRESS}
    candidates = set(recent) & set(active) | already_held if (too_many or too_large) \
        else already_held
    held = {n for n in candidates - started if not holds.get(n, "").startswith("released:")}
    return GuardVerdict(bool(held), reason, frozenset(held))
