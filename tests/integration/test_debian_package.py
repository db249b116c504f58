"""The Debian package (``debian/``): built, lintian clean, installed, run, purged.

The package is built with ``dpkg-buildpackage -us -uc`` from a copy of the working tree's
files (tracked and untracked-not-ignored, as ``make install`` would see them), checked by
``lintian --fail-on error``, and its files compared with ``make install DESTDIR=…`` from the
same copy (the Python package in Debian's directory in both). Then it is installed on this
machine with apt (which resolves its dependencies), its agents run as Pacemaker runs them,
and it is purged; nothing of it may be left.

Installing and purging replaces, then removes, the files ``make install`` put in the real
paths, which the live labs of other sessions run. So the whole span holds the cluster lab's
lock (``ClusterLab.exclusive``), and ``make install`` puts the project back at the end,
whatever happened.

Which copy runs: ``make install`` puts the package under /usr/local, which comes before
/usr/lib/python3/dist-packages on /usr/bin/python3's path and would shadow the package's
own copy. It is removed for the span (``make install`` rewrites it afterwards), so the
agents, exec'd by their shebang with a clean environment, can only import the package's
files; the test checks that dist-packages is then the one directory on the path holding
``instanceha``.
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import site
import stat
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from labs.agents import install_project
from labs.locks import exclusive_lock

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "instanceha"
#: The cluster lab's user lock (tests/labs/cluster_lab.py ``ClusterLab.exclusive``).
LAB_LOCK = Path("/var/lib/instanceha-lab/.cluster-lab-user.lock")
DIST_PACKAGES = Path("/usr/lib/python3/dist-packages")
#: Where ``make install`` puts the package (the Makefile's default PYTHON_SITEDIR).
LOCAL_SITE = Path(next(p for p in site.getsitepackages() if p.startswith("/usr/local")))
#: What building needs (debian/control's Build-Depends, build-essential, lintian); also in
#: scripts/install-test-deps.sh, so ``make check`` has them on a fresh machine.
BUILD_PACKAGES = ("build-essential", "dpkg-dev", "debhelper", "dh-python", "lintian")
#: Files Debian adds to every package, which ``make install`` has no reason to install.
DEBIAN_ONLY = {Path("usr/share/doc/instanceha/changelog.gz"),
               Path("usr/share/doc/instanceha/copyright"),
               Path("usr/share/lintian/overrides/instanceha")}
#: Pacemaker's view: a clean environment, no PYTHONPATH.
CLEAN_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
APT = ["apt-get", "-y", "-q", "-o", "DPkg::Lock::Timeout=600", "--no-install-recommends"]


def _run(argv: list[str], cwd: Path | None = None, timeout: float = 600,
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)
    assert done.returncode == 0, f"{argv} answered {done.returncode}:\n{done.stdout[-3000:]}\n" \
                                 f"{done.stderr[-3000:]}"
    return done


def _timed(what: str, times: dict[str, float], argv: list[str], cwd: Path | None = None,
           env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    start = time.monotonic()
    done = _run(argv, cwd=cwd, env=env)
    times[what] = time.monotonic() - start
    return done


def _copy_tree(destination: Path) -> None:
    """The working tree's files that ``make install`` would see: tracked and untracked, not
    ignored (no build/, caches or byte-code)."""
    listed = _run(["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others",
                   "--exclude-standard"]).stdout
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():  # a tracked file deleted in the working tree is not copied
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)


def _tree(root: Path) -> dict[Path, tuple[int, bytes]]:
    """Every file under ``root``: mode and contents, man pages uncompressed, no byte-code."""
    files = {}
    for path in root.rglob("*"):
        if path.is_dir() or path.suffix == ".pyc":
            continue
        assert path.is_file() and not path.is_symlink(), f"{path}: not a regular file"
        relative, data = path.relative_to(root), path.read_bytes()
        if relative.is_relative_to("usr/share/man") and path.suffix == ".gz":
            relative, data = relative.with_suffix(""), gzip.decompress(data)
        files[relative] = (stat.S_IMODE(path.stat().st_mode), data)
    return files


def _ensure_build_tools() -> None:
    """Install the build tools when missing, as scripts/install-test-deps.sh does."""
    _run(["bash", "-c", 'source lab/apt.sh && apt_ensure test_debian_package "$@"', "-",
          *BUILD_PACKAGES], cwd=ROOT)


def _dirs_on_path_holding_the_package() -> list[str]:
    """The directories of /usr/bin/python3's path (clean environment) holding ``instanceha``."""
    probe = ("import os, sys; print('\\n'.join(p for p in sys.path if p and "
             "os.path.isfile(os.path.join(p, 'instanceha', '__init__.py'))))")
    done = _run(["/usr/bin/python3", "-c", probe], cwd=Path("/"), env=CLEAN_ENV)
    return done.stdout.split()


@dataclass
class Built:
    """The package built from a copy of the tree, and how long each step took."""

    source: Path
    deb: Path
    times: dict[str, float] = field(default_factory=dict)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The .deb built from a copy of the tree, lintian clean at error level."""
    if os.geteuid() != 0:
        pytest.skip("installing a Debian package needs root")
    if shutil.which("apt-get") is None or shutil.which("git") is None:
        pytest.skip("needs apt-get and git (a Debian machine and a clone of the repository)")
    _ensure_build_tools()
    top = tmp_path_factory.mktemp("debian-package")
    source = top / PACKAGE
    _copy_tree(source)
    times: dict[str, float] = {}
    _timed("build", times, ["dpkg-buildpackage", "-us", "-uc"], cwd=source)
    debs = list(top.glob(f"{PACKAGE}_*_all.deb"))
    changes = list(top.glob(f"{PACKAGE}_*.changes"))
    assert len(debs) == 1 and len(changes) == 1, sorted(p.name for p in top.iterdir())
    lintian = _timed("lintian", times, ["lintian", "--fail-on", "error", "--display-info",
                                        str(changes[0])])
    print(f"lintian (info and above): {lintian.stdout.strip() or 'no tag'}")
    return Built(source, debs[0], times)


def test_package_matches_make_install(built: Built, tmp_path: Path) -> None:
    deb = built.deb
    stage, unpacked = tmp_path / "stage", tmp_path / "unpacked"
    _run(["make", "-s", "-C", str(built.source), "install", f"DESTDIR={stage}",
          f"PYTHON_SITEDIR=/{DIST_PACKAGES.relative_to('/')}"])
    _run(["dpkg-deb", "-x", str(deb), str(unpacked)])
    installed, packaged = _tree(stage), _tree(unpacked)
    assert packaged.keys() >= DEBIAN_ONLY
    only_packaged = sorted(map(str, packaged.keys() - DEBIAN_ONLY - installed.keys()))
    only_installed = sorted(map(str, installed.keys() - packaged.keys()))
    assert not only_packaged and not only_installed, \
        f"only in the package: {only_packaged}; only from make install: {only_installed}"
    for path, (mode, data) in installed.items():
        assert packaged[path] == (mode, data), f"{path}: mode or contents differ"
    fields = _run(["dpkg-deb", "-f", str(deb), "Depends", "Architecture"]).stdout
    assert "python3-keystoneauth1" in fields and "pacemaker-cli-utils" in fields
    assert "Architecture: all" in fields


def test_versions_agree(built: Built) -> None:
    """debian/changelog, setup.py and ``instanceha.__version__`` name one version."""
    version = _run(["dpkg-deb", "-f", str(built.deb), "Version"]).stdout.strip()
    for path, pattern in (("setup.py", r'version="([^"]+)"'),
                          ("lib/instanceha/__init__.py", r'__version__ = "([^"]+)"')):
        found = re.search(pattern, (built.source / path).read_text())
        assert found and found.group(1) == version, f"{path}: not {version}"


def test_install_run_agents_and_purge(built: Built) -> None:
    deb, times = built.deb, built.times
    apt_env = {**CLEAN_ENV, "DEBIAN_FRONTEND": "noninteractive"}
    with exclusive_lock(LAB_LOCK, "the cluster lab"):
        try:
            _timed("install", times, [*APT, "install", f"./{deb.name}"], cwd=deb.parent,
                   env=apt_env)
            # make install's copy would shadow the package's own: away for the span
            shutil.rmtree(LOCAL_SITE / PACKAGE, ignore_errors=True)
            assert _dirs_on_path_holding_the_package() == [str(DIST_PACKAGES)]
            assert list((DIST_PACKAGES / PACKAGE).glob("__pycache__/*.pyc")), \
                "postinst did not byte-compile the package (py3compile)"
            ocf = Path("/usr/lib/ocf/resource.d/instanceha")
            for argv in ([str(ocf / "NovaEvacuate"), "meta-data"],
                         [str(ocf / "libvirtd"), "meta-data"],
                         ["/usr/sbin/fence_hold", "-o", "metadata"],
                         ["/usr/sbin/fence_nova", "-o", "metadata"]):
                out = _run(argv, cwd=Path("/"), env=CLEAN_ENV, timeout=60).stdout
                assert "<resource-agent" in out, argv
            out = _run(["/usr/sbin/instanceha", "--help"], cwd=Path("/"), env=CLEAN_ENV,
                       timeout=60).stdout
            assert "usage: instanceha" in out
            assert (Path("/usr/share/man/man8/fence_hold.8.gz")).is_file()

            listed = [Path(p) for p in _run(["dpkg", "-L", PACKAGE]).stdout.split()]
            directories = {p for p in listed if p.is_dir()}
            _timed("purge", times, [*APT, "purge", PACKAGE], env=apt_env)
            status = subprocess.run(["dpkg-query", "-W", "-f=${Status}", PACKAGE],
                                    capture_output=True, text=True, timeout=60, check=False)
            assert "installed" not in status.stdout.replace("not-installed", ""), status.stdout
            left = [p for p in listed if p.exists() and (p not in directories or
                                                         PACKAGE in p.parts)]
            assert not left, f"left after purge: {left}"
            assert not (DIST_PACKAGES / PACKAGE).exists()  # byte-code too (py3clean)
        finally:
            # after a failure half-way: no package left behind either
            subprocess.run(["dpkg", "--purge", PACKAGE], env=apt_env, capture_output=True,
                           timeout=600, check=False)
            start = time.monotonic()
            install_project()  # the machine as the labs expect it: make install's files
            times["make install"] = time.monotonic() - start
    assert (LOCAL_SITE / PACKAGE / "__init__.py").is_file()
    assert Path("/usr/sbin/fence_hold").is_file()
    print("times: " + ", ".join(f"{what} {seconds:.1f}s" for what, seconds in times.items()))
