"""Pacemaker alert agents: one module each, with its ``main()``."""

__all__: list[str] = []
