"""Evacuation of a fenced compute host: protection policy (pure) and the engine."""

__all__: list[str] = []
