"""instanceha(8) documents every command and option the parser has, and man renders it."""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from instanceha.cli.common import ExitCode
from instanceha.cli.main import build_parser
from instanceha.manpages.cli import manpage

Parsers = dict[str, argparse.ArgumentParser]


def _leaves(parser: argparse.ArgumentParser, prefix: str = "") -> Parsers:
    found: Parsers = {}
    subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    for action in subparsers:
        for name, sub in action.choices.items():
            found |= _leaves(sub, f"{prefix}{name} ") or {f"{prefix}{name}": sub}
    return found


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The page as man shows it (plain text, 200 columns so nothing is hyphenated)."""
    if shutil.which("man") is None:
        pytest.skip("man-db is not installed")
    page = tmp_path_factory.mktemp("man") / "instanceha.8"
    page.write_text(manpage())
    done = subprocess.run(["man", "--warnings", "-l", str(page)], capture_output=True,
                          text=True, env={"MANWIDTH": "200", "PATH": "/usr/bin:/bin",
                                          "LC_ALL": "C.UTF-8"},
                          timeout=60, check=False)
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr
    return re.sub(".\b", "", done.stdout)  # drop the overstrike of bold and underlined text


def test_every_command_and_option_is_on_the_page(rendered: str) -> None:
    leaves = _leaves(build_parser())
    assert {"cib render", "simulate", "status", "evacuate"} <= set(leaves)
    for name, sub in leaves.items():
        assert f"\n       {name}" in rendered, name
        for action in sub._actions:
            for option in action.option_strings:
                if option not in ("-h", "--help"):
                    assert option in rendered, f"{name} {option}"


def test_exit_codes_environment_and_see_also(rendered: str) -> None:
    for code in ExitCode:
        assert f"\n       {int(code)}: " in rendered, code
    assert "INSTANCEHA_INVENTORY" in rendered and "OS_CLIENT_CONFIG_FILE" in rendered
    assert "ocf_instanceha_NovaEvacuate(7)" in rendered and "fence_nova(8)" in rendered


def test_make_man_writes_it_next_to_the_agents_pages(tmp_path: Path) -> None:
    from instanceha.manpages.build import write_manpages

    written = {Path(p).relative_to(tmp_path).as_posix() for p in write_manpages(str(tmp_path))}
    assert "man8/instanceha.8" in written and "man8/fence_nova.8" in written
    assert "man7/ocf_instanceha_NovaCompute.7" in written
