"""What the golden-file tests of agent metadata share: finding every agent's SPEC, and holding
a rendered text against its golden file (``INSTANCEHA_REGEN_GOLDEN=1`` rewrites them)."""

from __future__ import annotations

import importlib
import os
import pkgutil
from pathlib import Path
from typing import Protocol, TypeVar

import pytest

__all__ = ["REGEN", "agent_specs", "check_golden"]

REGEN = os.environ.get("INSTANCEHA_REGEN_GOLDEN") == "1"


class _Named(Protocol):
    name: str


_Spec = TypeVar("_Spec", bound=_Named)


def agent_specs(package: str, kind: type[_Spec]) -> dict[str, _Spec]:
    """``name -> SPEC`` of every module of ``package`` whose SPEC is a ``kind`` (agents added
    later join automatically)."""
    modules = importlib.import_module(package).__path__
    specs = {}
    for info in pkgutil.iter_modules(modules):
        spec = getattr(importlib.import_module(f"{package}.{info.name}"), "SPEC", None)
        if isinstance(spec, kind):
            specs[spec.name] = spec
    return specs


def check_golden(path: Path, text: str) -> None:
    """``text`` must equal the golden file at ``path`` (written when regenerating)."""
    if REGEN or not path.exists():
        if not REGEN:
            pytest.fail(f"golden file {path} missing; run with INSTANCEHA_REGEN_GOLDEN=1")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert text == path.read_text(), (
        f"{path.name} changed; regenerate with INSTANCEHA_REGEN_GOLDEN=1")
