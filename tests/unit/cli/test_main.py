"""The command line runtime: exit codes and one-line errors, no tracebacks."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from instanceha.cli import main as cli_main
from instanceha.cli.common import CliError, ExitCode, Io, write_output
from instanceha.cli.table import table

ROOT = Path(__file__).resolve().parents[3]


def _run(*argv: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli_main.run(list(argv), Io(out, err, env or {}))
    return code, out.getvalue(), err.getvalue()


def test_missing_inventory_is_a_config_error_naming_the_file(tmp_path: Path) -> None:
    code, out, err = _run("cib", "render", "-i", str(tmp_path / "none.yaml"))
    assert code == ExitCode.CONFIG and out == ""
    assert err == (f"instanceha: error: {tmp_path}/none.yaml: no such file "
                   "(write one: see docs/inventory.md)\n")


def test_inventory_default_comes_from_the_environment(tmp_path: Path) -> None:
    bad = tmp_path / "inv.yaml"
    bad.write_text("cloud: x\ncontrollers: [ctl1]\ncomputes: [{name: c1}]\n")
    code, _, err = _run("cib", "render", env={"INSTANCEHA_INVENTORY": str(bad)})
    assert code == ExitCode.CONFIG and "computes[0].address: required" in err


def test_secrets_need_an_output_file() -> None:
    code, _, err = _run("cib", "render", "--include-secrets")
    assert code == ExitCode.USAGE and "needs -o FILE" in err


def test_a_bug_is_one_line_unless_debugging(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(args: object, io: Io) -> int:
        raise RuntimeError("kaput")

    monkeypatch.setattr(cli_main.cib_cmd, "run_verify", boom)
    code, _, err = _run("cib", "verify", "x.xml")
    assert code == ExitCode.INTERNAL
    assert err == ("instanceha: internal error: RuntimeError: kaput "
                   "(rerun with --debug and report it)\n")
    code, _, err = _run("--debug", "cib", "verify", "x.xml")
    assert "Traceback" in err and err.rstrip().endswith("report it)")


def test_cli_error_carries_its_code() -> None:
    err = CliError(ExitCode.REFUSED, "no")
    assert (err.code, err.message) == (ExitCode.REFUSED, "no")


def test_write_output_is_atomic_and_private(tmp_path: Path) -> None:
    target = tmp_path / "x"
    stdio = Io(io.StringIO(), io.StringIO(), {})
    write_output(str(target), "secret", stdio, private=True)
    assert target.read_text() == "secret" and target.stat().st_mode & 0o777 == 0o600
    write_output(str(target), "public", stdio)
    assert target.stat().st_mode & 0o777 == 0o644 and list(tmp_path.iterdir()) == [target]
    write_output(None, "out", stdio)
    assert stdio.out.getvalue() == "out"  # type: ignore[attr-defined]


def test_table_aligns_columns() -> None:
    assert table(["A", "LONG"], [["xx", "y"], [None, "z"]]) == "  A   LONG\n  xx  y\n      z"


def test_shim_runs_the_entry_point() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "bin" / "instanceha"), "--version"],
                          capture_output=True, text=True, timeout=60,
                          env={"PYTHONPATH": str(ROOT / "lib")}, check=False)
    assert done.returncode == 0 and done.stdout.startswith("instanceha ")
    assert (ROOT / "bin" / "instanceha").stat().st_mode & 0o111


# ------------------------------------------------------------------ issue 11

SECRET = "s3cret-in-the-inventory"


def _inventory(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "inventory.yaml"
    path.write_text(
        "cloud: overcloud\ncontrollers: [ctl1]\nbmc_defaults: {username: admin}\n"
        "computes:\n  - name: comp1\n    address: 192.0.2.11\n"
        "    bmc: {address: 10.0.1.11, password_file: /etc/ih/comp1}\n" + extra)
    return path


@pytest.mark.parametrize("pcs", [False, True])
def test_render_refuses_an_agent_password_in_one_line(tmp_path: Path, pcs: bool) -> None:
    """Item 1: agents.nova_evacuate.params.password went in clear into the CIB and --pcs."""
    inv = _inventory(tmp_path, f"agents:\n  nova_evacuate:\n    params: {{password: {SECRET}}}\n")
    target = tmp_path / "cib.xml"
    code, out, err = _run("cib", "render", "-i", str(inv), "--no-verify", "-o", str(target),
                          *(["--pcs"] if pcs else []))
    assert code == ExitCode.CONFIG and out == "" and not target.exists()
    assert err.startswith(f"instanceha: error: {inv}: agents.nova_evacuate.params.password: "
                          "a secret") and err.count("\n") == 1
    assert SECRET not in err


@pytest.mark.parametrize("kind", ["fifo", "directory", "symlink"])
def test_render_writes_regular_files_only(tmp_path: Path, kind: str) -> None:
    """Item 2: -o replaced whatever was there (-o /dev/null became a regular file)."""
    target = tmp_path / "target"
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "directory":
        target.mkdir()
    else:
        (tmp_path / "real.xml").write_text("kept")
        target.symlink_to(tmp_path / "real.xml")
    before = os.lstat(target)
    code, out, err = _run("cib", "render", "-i", str(_inventory(tmp_path)), "--no-verify",
                          "-o", str(target))
    assert code == ExitCode.CONFIG and out == ""
    assert err.startswith(f"instanceha: error: {target}: ") and err.count("\n") == 1
    assert "not a regular file" in err
    after = os.lstat(target)
    assert (stat.S_IFMT(after.st_mode), after.st_ino) == (stat.S_IFMT(before.st_mode),
                                                         before.st_ino)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_write_output_refuses_a_device(tmp_path: Path) -> None:
    """A device node like /dev/null (made here: never try an old build on the real one)."""
    if os.geteuid() != 0:
        pytest.skip("creating a device node needs root")
    device = tmp_path / "null"
    os.mknod(device, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    stdio = Io(io.StringIO(), io.StringIO(), {})
    with pytest.raises(CliError) as caught:
        write_output(str(device), "x", stdio)
    assert caught.value.code == ExitCode.CONFIG
    assert caught.value.message.startswith(f"{device}: a character device, not a regular file")
    assert stat.S_ISCHR(os.lstat(device).st_mode)
    assert [p.name for p in tmp_path.iterdir()] == ["null"]


def test_render_into_a_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    """Item 2: a missing directory was "internal error: FileNotFoundError"."""
    target = tmp_path / "no" / "such" / "cib.xml"
    code, out, err = _run("cib", "render", "-i", str(_inventory(tmp_path)), "--no-verify",
                          "-o", str(target))
    assert code == ExitCode.CONFIG and out == ""
    assert err == (f"instanceha: error: {target}: directory {target.parent} does not exist "
                   "(create it first)\n")


@pytest.mark.parametrize("argv", [["cib", "render", "-i"], ["cib", "verify"]])
@pytest.mark.parametrize("content", [b"\xff\xfe\x00c\x00l", b"cloud: x\n# \xe9t\xe9\n"])
def test_a_binary_input_is_one_line(tmp_path: Path, argv: list[str], content: bytes) -> None:
    """Non-UTF-8 inventories and CIBs were 'internal error: UnicodeDecodeError'."""
    path = tmp_path / "input"
    path.write_bytes(content)
    code, out, err = _run(*argv, str(path))
    assert code == ExitCode.CONFIG and out == "" and err.count("\n") == 1
    assert err.startswith(f"instanceha: error: {path}: line ") and "is not UTF-8 text" in err


def test_an_endless_inventory_is_refused(tmp_path: Path) -> None:
    code, _, err = _run("cib", "render", "-i", "/dev/zero")
    assert code == ExitCode.CONFIG
    assert err == "instanceha: error: /dev/zero: larger than 32 MiB: not an inventory\n"
