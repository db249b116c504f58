"""``make install DESTDIR=…`` puts every part where Pacemaker and man look; uninstall undoes it."""

from __future__ import annotations

import os
import shutil
import site
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OCF_DIR = Path("usr/lib/ocf/resource.d/instanceha")
#: Where the Makefile installs the package: /usr/bin/python3's site directory under /usr/local.
SITE = Path(next(p for p in site.getsitepackages() if p.startswith("/usr/local"))[1:])


def _make(target: str, destdir: Path) -> None:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    done = subprocess.run(["make", "-s", "-C", str(ROOT), target, f"DESTDIR={destdir}"],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def _files(destdir: Path) -> set[Path]:
    return {p.relative_to(destdir) for p in destdir.rglob("*") if p.is_file()}


def _expected() -> set[Path]:
    agents = {OCF_DIR / p.name for p in (ROOT / "agents").iterdir()}
    fence = {Path("usr/sbin") / p.name for p in (ROOT / "fence").glob("fence_*")}
    alerts = {Path("usr/lib/instanceha") / p.name for p in (ROOT / "alerts").iterdir()}
    templates = {Path("usr/share/instanceha/cib_templates") / p.name
                 for p in (ROOT / "cib_templates").glob("*.xml.in")}
    pages = {Path(f"usr/share/man/man7/ocf_instanceha_{p.name}.7") for p in (ROOT / "agents")
             .iterdir()} | {Path(f"usr/share/man/man8/{p.name}.8")
                            for p in (ROOT / "fence").glob("fence_*")}
    cli = {Path("usr/sbin/instanceha"), Path("usr/share/man/man8/instanceha.8")}
    examples = {Path("usr/share/doc/instanceha/examples") / p.name
                for p in (ROOT / "docs/examples").iterdir()}
    return agents | fence | alerts | templates | pages | cli | examples


def test_install_places_every_part_and_uninstall_removes_exactly_that(tmp_path: Path) -> None:
    destdir = tmp_path / "root"
    _make("install", destdir)
    installed = _files(destdir)
    package = {p for p in installed if p.is_relative_to(SITE / "instanceha")}
    assert _expected() <= installed
    assert installed - package == _expected(), "installed something not accounted for"
    sources = {p.relative_to(ROOT / "lib") for p in (ROOT / "lib/instanceha").rglob("*.py")}
    assert {p.relative_to(SITE) for p in package if p.suffix == ".py"} == sources
    for path in installed - package:
        mode = stat.S_IMODE((destdir / path).stat().st_mode)
        executable = path.parts[1] in ("sbin", "lib") and "share" not in path.parts
        assert mode == (0o755 if executable else 0o644), f"{path}: {oct(mode)}"

    # the installed tree is complete on its own: an agent and a fence agent run from it
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(destdir / SITE)}
    for argv in ([str(destdir / OCF_DIR / "NovaCompute"), "meta-data"],
                 [str(destdir / "usr/sbin/fence_nova"), "-o", "metadata"]):
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60,
                              check=False)
        assert done.returncode == 0 and "<resource-agent" in done.stdout, done.stderr
        assert str(destdir) in subprocess.run(
            ["/usr/bin/python3", "-c", "import instanceha; print(instanceha.__file__)"],
            env=env, capture_output=True, text=True, timeout=60, check=True).stdout

    _make("uninstall", destdir)
    assert _files(destdir) == set()
    assert not (destdir / OCF_DIR).exists() and not (destdir / "usr/share/instanceha").exists()
    assert not (destdir / "usr/lib/instanceha").exists()
    assert os.listdir(destdir / "usr/share/man/man7") == []
