"""``python3 -m instanceha.evacuator CONFIG.json``: the worker NovaEvacuate supervises.

CONFIG.json (root-only, written by NovaEvacuate's start) holds the agent's
parameters, the heartbeat path and the owner name. SIGTERM stops the worker
cleanly: it releases its claims for prompt resumption elsewhere. Every line the
worker logs, tracebacks included, goes through the agents' secret mask, which
also learns the secrets read from clouds.yaml/secure.yaml.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable, Mapping
from types import FrameType
from typing import TYPE_CHECKING

from instanceha.cluster import ClusterError, ClusterNodes
from instanceha.evacuation.config import EngineConfig
from instanceha.evacuation.policy import Mode, PolicyConfig
from instanceha.evacuator.guard import GuardConfig
from instanceha.evacuator.worker import Evacuator, EvacuatorSettings
from instanceha.nova.model import NovaPort
from instanceha.nova.params import cloud_config, host_map
from instanceha.ocf.log import setup_logging
from instanceha.spec import ParamError, Params, SecretMask

if TYPE_CHECKING:
    from instanceha.nova.credentials import CloudConfig

__all__ = ["main", "nova_factory", "settings_from", "worker_logging"]


def settings_from(params: Params, owner: str, heartbeat: str) -> EvacuatorSettings:
    """The worker's settings from NovaEvacuate's parameters."""
    poll = float(params.integer("poll_interval"))
    reserved = tuple(h.strip() for h in params.text("reserved_hosts").split(",") if h.strip())
    return EvacuatorSettings(
        owner=owner,
        heartbeat_path=heartbeat,
        poll_interval=poll,
        stale_after=float(params.integer("takeover_after")),
        engine=EngineConfig(
            max_parallel=params.integer("max_parallel"),
            stagger=params.integer("stagger_ms") / 1000.0,
            max_attempts=params.integer("max_attempts"),
            instance_timeout=float(params.integer("instance_timeout")),
            poll_interval=min(2.0, poll),
        ),
        policy=PolicyConfig(mode=Mode(params.text("evacuation_mode")),
                            key=params.text("tag_key"), reserved_hosts=reserved),
        guard=GuardConfig(max_hosts=params.integer("mass_failure_hosts"),
                          max_share=params.integer("mass_failure_percent") / 100.0,
                          window=float(params.integer("mass_failure_window"))),
        metrics_file=params.text("metrics_file"),
    )


def _owner(configured: str) -> str:
    if configured:
        return configured
    try:
        return ClusterNodes().local_name()
    except ClusterError:
        return socket.gethostname().split(".")[0]


def worker_logging(params: Params, environ: Mapping[str, str]) -> SecretMask:
    """Log like the agent (same tag, same files), masking NovaEvacuate's secrets."""
    from instanceha.agents.nova_evacuate import SPEC

    mask = SPEC.params.secret_mask()
    mask.add(*params.secret_values())
    setup_logging("NovaEvacuate", environ.get("OCF_RESOURCE_INSTANCE", ""), environ, mask=mask)
    return mask


def _connect(config: CloudConfig) -> NovaPort:
    from instanceha.nova.client import NovaClient

    return NovaClient(config)


def nova_factory(params: Params, mask: SecretMask, environ: Mapping[str, str],
                 client: Callable[[CloudConfig], NovaPort] = _connect) -> Callable[[], NovaPort]:
    """Opens Nova from the parameters; the secrets resolved on the way join ``mask``."""

    def nova() -> NovaPort:
        config = cloud_config(params, environ)
        mask.add(config.password or "", config.application_credential_secret or "")
        return client(config)

    return nova


def main() -> None:
    """Run the worker until SIGTERM."""
    from instanceha.agents.nova_evacuate import SPEC

    if len(sys.argv) != 2:
        sys.stderr.write("usage: python3 -m instanceha.evacuator CONFIG.json\n")
        sys.exit(2)
    with open(sys.argv[1], encoding="utf-8") as handle:
        payload = json.load(handle)
    try:
        params = SPEC.params.parse(payload["params"])
    except ParamError as error:
        sys.stderr.write(f"evacuator: {error}\n")
        sys.exit(6)
    mask = worker_logging(params, os.environ)
    nova = nova_factory(params, mask, os.environ)
    settings = settings_from(params, _owner(payload.get("owner", "")), payload["heartbeat"])
    evacuator = Evacuator(settings, nova, host_map(params))
    stop = threading.Event()

    def on_term(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    evacuator.run(stop)


if __name__ == "__main__":
    main()
