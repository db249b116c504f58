"""Write every man page: ``python3 -m instanceha.manpages OUTDIR`` (``make man``).

OCF agents get ``man7/ocf_instanceha_<Agent>.7``; fence agents, whose modules
expose ``manpage() -> str``, get ``man8/<name>.8``; the command gets
``man8/instanceha.8``.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys

from instanceha.manpages.ocf import render_manpage
from instanceha.ocf.agent import PROVIDER

__all__ = ["main", "write_manpages"]


def _modules(package: str) -> list[object]:
    try:
        pkg = importlib.import_module(package)
    except ImportError:
        return []
    return [
        importlib.import_module(f"{package}.{info.name}")
        for info in pkgutil.iter_modules(pkg.__path__)
        if not info.name.startswith("_")
    ]


def write_manpages(outdir: str) -> list[str]:
    """Write the pages under ``outdir`` and return their paths."""
    written: list[str] = []
    for module in _modules("instanceha.agents"):
        spec = getattr(module, "SPEC", None)
        if spec is None:
            continue
        path = os.path.join(outdir, "man7", f"ocf_{PROVIDER}_{spec.name}.7")
        written.append(_write(path, render_manpage(spec)))
    for module in _modules("instanceha.fence"):
        render = getattr(module, "manpage", None)
        name = getattr(module, "AGENT_NAME", None)
        if callable(render) and isinstance(name, str):
            path = os.path.join(outdir, "man8", f"{name}.8")
            written.append(_write(path, str(render())))
    from instanceha.manpages.cli import manpage as cli_manpage

    written.append(_write(os.path.join(outdir, "man8", "instanceha.8"), cli_manpage()))
    return written


def _write(path: str, text: str) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path


def main() -> None:
    """Command-line entry point."""
    if len(sys.argv) != 2:
        sys.stderr.write("usage: python3 -m instanceha.manpages OUTDIR\n")
        sys.exit(2)
    for path in write_manpages(sys.argv[1]):
        print(path)

