"""NovaEvacuate's parameters are the one declaration of the evacuator's defaults: the engine's
own defaults and the inventory's agree with them (they disagreed: max_parallel 16 vs 8)."""

from __future__ import annotations

from instanceha.agents.nova_evacuate import SPEC
from instanceha.cib.inventory import EvacuationSettings
from instanceha.evacuation.config import EngineConfig


def _default(name: str) -> object:
    param = SPEC.params.get(name)
    assert param is not None, name
    return param.default


def test_the_engine_defaults_are_novaevacuates() -> None:
    engine = EngineConfig()
    assert engine.max_parallel == _default("max_parallel")
    assert engine.max_attempts == _default("max_attempts")
    assert engine.instance_timeout == _default("instance_timeout")
    assert engine.stagger * 1000 == _default("stagger_ms")


def test_the_inventory_defaults_are_novaevacuates() -> None:
    settings = EvacuationSettings()
    assert settings.mode == _default("evacuation_mode")
    assert settings.max_parallel == _default("max_parallel")
    assert settings.tag_key == _default("tag_key")
    assert settings.mass_failure_hosts == _default("mass_failure_hosts")
    assert settings.mass_failure_percent == _default("mass_failure_percent")
