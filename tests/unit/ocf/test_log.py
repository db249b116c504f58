"""Agent logging where Pacemaker looks for it: HA_LOGFILE, HA_DEBUGLOG, syslog, ocf_log's format."""

from __future__ import annotations

import logging.handlers
import os
import re
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from instanceha.ocf import log as ocf_log
from instanceha.ocf.log import setup_logging

RA_OCF_PY = Path("/usr/lib/ocf/lib/heartbeat/ocf.py")
#: ``Agent(instance)[pid]:<TAB><date>LEVEL: message`` with the date left out.
LINE = re.compile(r"^(?P<tag>\w+)\((?P<instance>[^)]*)\)\[(?P<pid>\d+)\]:\t(?P<date>.*?)"
                  r"(?P<level>DEBUG|INFO|WARNING|ERROR|CRITICAL): (?P<message>.*)$")


def _emit(environ: dict[str, str], secrets: tuple[str, ...] = ()) -> None:
    logger = setup_logging("libvirtd", "rsc-1", environ, secrets)
    logger.debug("debug detail")
    logger.info("started with password %s", "hunter2")
    logger.warning("socket slow")


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_logfile_lines_carry_agent_instance_pid_and_level(tmp_path: Path) -> None:
    logfile = tmp_path / "pacemaker.log"
    _emit({"HA_LOGFILE": str(logfile)}, secrets=("hunter2",))
    lines = _lines(logfile)
    assert len(lines) == 2  # no debug line without HA_debug
    parsed = [LINE.match(line) for line in lines]
    assert all(parsed), lines
    assert [(m["tag"], m["instance"], int(m["pid"]), m["level"]) for m in parsed if m] == [
        ("libvirtd", "rsc-1", os.getpid(), "INFO"), ("libvirtd", "rsc-1", os.getpid(), "WARNING")]
    assert "hunter2" not in logfile.read_text() and "password ****" in lines[0]


def test_the_format_is_resource_agents_own(tmp_path: Path) -> None:
    """The same line shape as resource-agents' ocf.py writes to HA_LOGFILE (same HA_DATEFMT)."""
    if not RA_OCF_PY.exists():
        pytest.skip("resource-agents is not installed")
    theirs, ours = tmp_path / "theirs.log", tmp_path / "ours.log"
    env = {"PATH": "/usr/bin:/bin", "HA_LOGFILE": str(theirs), "OCF_RESOURCE_INSTANCE": "rsc-1",
           "OCF_ROOT": "/usr/lib/ocf", "HA_DATEFMT": "%Y-%m-%d %T "}
    agent = tmp_path / "their_agent"  # ocf.py tags lines with the script's file name
    agent.write_text("import sys\nsys.path.insert(0, sys.argv[1])\nimport ocf\n"
                     "ocf.logger.warning('socket slow')\n")
    subprocess.run(["/usr/bin/python3", str(agent), str(RA_OCF_PY.parent)], env=env, check=True,
                   timeout=30)
    setup_logging("libvirtd", "rsc-1", {"HA_LOGFILE": str(ours), "HA_DATEFMT": "%Y-%m-%d %T "}) \
        .warning("socket slow")
    (their_line,), (our_line,) = _lines(theirs), _lines(ours)
    theirs_m, ours_m = LINE.match(their_line), LINE.match(our_line)
    assert theirs_m and ours_m, (their_line, our_line)
    for group in ("instance", "level", "message"):
        assert theirs_m[group] == ours_m[group]
    date = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d $")
    assert date.match(theirs_m["date"]) and date.match(ours_m["date"])


def test_debug_lines_only_with_ha_debug_and_into_a_distinct_debuglog(tmp_path: Path) -> None:
    logfile, debuglog = tmp_path / "pacemaker.log", tmp_path / "debug.log"
    _emit({"HA_LOGFILE": str(logfile), "HA_DEBUGLOG": str(debuglog)})
    assert [m["level"] for m in map(LINE.match, _lines(debuglog)) if m] == ["INFO", "WARNING"]
    logfile.unlink()
    debuglog.unlink()
    _emit({"HA_LOGFILE": str(logfile), "HA_DEBUGLOG": str(debuglog), "HA_debug": "1"})
    assert [m["level"] for m in map(LINE.match, _lines(logfile)) if m] == ["INFO", "WARNING"]
    assert [m["level"] for m in map(LINE.match, _lines(debuglog)) if m] == [
        "DEBUG", "INFO", "WARNING"]


def test_debug_lines_go_to_the_logfile_when_no_debuglog_is_set(tmp_path: Path) -> None:
    logfile = tmp_path / "pacemaker.log"
    _emit({"HA_LOGFILE": str(logfile), "HA_debug": "yes"})
    assert [m["level"] for m in map(LINE.match, _lines(logfile)) if m] == [
        "DEBUG", "INFO", "WARNING"]


@pytest.fixture
def syslog_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """A datagram socket standing where syslog listens, as /dev/log does."""
    path = tmp_path / "log.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(str(path))
    server.settimeout(5)
    monkeypatch.setattr(ocf_log, "SYSLOG_SOCKET", str(path))
    try:
        yield server
    finally:
        server.close()


def test_syslog_gets_tag_level_and_message_at_the_facility(syslog_socket: socket.socket) -> None:
    _emit({"HA_LOGFACILITY": "daemon"}, secrets=("hunter2",))
    info, warning = syslog_socket.recv(4096).decode(), syslog_socket.recv(4096).decode()
    pid = os.getpid()
    # <priority> = facility daemon (3) * 8 + severity (info 6, warning 4)
    assert info == f"<30>libvirtd(rsc-1)[{pid}]: INFO: started with password ****\x00"
    assert warning == f"<28>libvirtd(rsc-1)[{pid}]: WARNING: socket slow\x00"


@pytest.mark.parametrize("facility", ["none", "", "no-such-facility"])
def test_no_syslog_without_a_known_facility(syslog_socket: socket.socket, facility: str) -> None:
    logger = setup_logging("libvirtd", "rsc-1", {"HA_LOGFACILITY": facility})
    assert logger.handlers
    assert not any(isinstance(h, logging.handlers.SysLogHandler) for h in logger.handlers)
