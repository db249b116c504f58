"""Start, stop and watch a daemon: through systemd when the node runs it, else directly.

:class:`DirectDaemon` runs the daemon in its own session with a pid file and
identifies it by pid *and* executable, so a recycled pid is never mistaken for
the daemon. :class:`SystemdUnit` drives ``systemctl`` with timeouts.
:func:`choose_manager` picks one the way the agents' ``service_manager``
parameter describes (``auto``: systemd when ``/run/systemd/system`` exists).
Deadlines are monotonic times of the manager's ``clock`` (an agent passes its
context's). :func:`service_failure` is how an agent reports a daemon it could not
manage: a :class:`ServiceError` becomes an :class:`~instanceha.ocf.OcfError`.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from instanceha.clock import Clock, SystemClock
from instanceha.ocf import OcfError, OcfRc

if TYPE_CHECKING:  # subprocess and shutil are imported where used: monitors never need them
    import subprocess

__all__ = [
    "DirectDaemon",
    "ServiceError",
    "ServiceManager",
    "SystemdUnit",
    "choose_manager",
    "service_failure",
    "systemd_booted",
]

_POLL_S = 0.05


class ServiceError(Exception):
    """A daemon could not be started or stopped; the message says why."""


class ServiceManager(Protocol):
    """What an agent needs to manage one daemon."""

    def describe(self) -> str: ...

    def is_running(self) -> bool: ...

    def start(self, deadline: float) -> None: ...

    def stop(self, deadline: float) -> None: ...


def systemd_booted(root: str = "/") -> bool:
    """True when systemd is PID 1 (the sd_booted test)."""
    return os.path.isdir(os.path.join(root, "run/systemd/system"))


def _cmdline_has(pid: int, marker: str) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return marker.encode() in cmdline.read()
    except OSError:
        return False


def _pid_alive(pid: int, executable: str, marker: str = "") -> bool:
    """True when ``pid`` runs ``executable`` (with ``marker`` in its argv) and is not a zombie."""
    if marker and not _cmdline_has(pid, marker):
        return False
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            state = stat.read().rsplit(")", 1)[1].split()[0]
        exe = os.readlink(f"/proc/{pid}/exe").removesuffix(" (deleted)")
    except (OSError, IndexError):
        return False
    if state in ("Z", "X"):
        return False
    if os.path.basename(exe) == os.path.basename(executable):
        return True
    # a script (nova-compute is one) runs as "interpreter script ...": compare the script too
    return any(_same_file(path, executable) for path in (exe, *_script_candidates(pid)))


def _script_candidates(pid: int) -> list[str]:
    """The second argv word of ``pid`` when it is a path (an interpreter's script)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            words = cmdline.read().split(b"\0")
    except OSError:
        return []
    return [os.fsdecode(words[1])] if len(words) > 1 and words[1].startswith(b"/") else []


def _same_file(path: str, other: str) -> bool:
    try:
        return os.path.samefile(path, other)
    except OSError:
        return False


@dataclass
class DirectDaemon:
    """A daemon run in the foreground in its own session, tracked by a pid file.

    ``argv[0]`` must be the executable (or an interpreter running the daemon,
    then ``executable`` names it). The pid file is written by us right after
    the spawn, mode 0644, atomically; a daemon that writes its own is fine.
    """

    argv: Sequence[str]
    pidfile: str
    executable: str = ""
    env: Mapping[str, str] | None = None
    log_path: str = os.devnull
    marker: str = ""  # a string the daemon's argv must contain (guards against pid reuse)
    user: str | None = None  # run as this user (root when None)
    term_grace: float = 0.7  # share of the remaining time to wait after SIGTERM
    clock: Clock = field(default_factory=SystemClock, repr=False, compare=False)
    _spawned: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.executable:
            self.executable = self.argv[0]

    def describe(self) -> str:
        return f"{os.path.basename(self.argv[0])} (pid file {self.pidfile})"

    def pid(self) -> int | None:
        """The daemon's pid when it is running, else None."""
        try:
            with open(self.pidfile, encoding="ascii") as handle:
                pid = int(handle.read().strip() or "0")
        except (OSError, ValueError):
            return None
        return pid if pid > 0 and _pid_alive(pid, self.executable, self.marker) else None

    def is_running(self) -> bool:
        return self.pid() is not None

    def _write_pidfile(self, pid: int) -> None:
        directory = os.path.dirname(self.pidfile) or "."
        os.makedirs(directory, exist_ok=True)
        tmp = f"{self.pidfile}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="ascii") as handle:
            handle.write(f"{pid}\n")
        os.replace(tmp, self.pidfile)

    def start(self, deadline: float) -> None:
        """Spawn the daemon unless it runs; raise ServiceError if it dies at once."""
        if self.is_running():
            return
        if not os.access(self.executable, os.X_OK):
            raise ServiceError(f"{self.executable} is not an executable file")
        import subprocess

        os.makedirs(os.path.dirname(self.log_path) or ".", exist_ok=True)
        with open(self.log_path, "ab") as log:
            self._spawned = subprocess.Popen(  # noqa: S603 - argument list, no shell
                list(self.argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
                env=dict(self.env) if self.env is not None else None,
                close_fds=True,
                user=self.user,
            )
        self._write_pidfile(self._spawned.pid)
        settle = min(self.clock.monotonic() + 0.2, deadline)
        while self.clock.monotonic() < settle:
            if self._spawned.poll() is not None:
                raise ServiceError(
                    f"{self.describe()} exited at once with status {self._spawned.returncode}"
                )
            self.clock.sleep(_POLL_S)

    def stop(self, deadline: float) -> None:
        """SIGTERM, wait, then SIGKILL; raise ServiceError if it still runs."""
        pid = self.pid()
        if pid is None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.pidfile)
            return
        os.kill(pid, signal.SIGTERM)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)  # a frozen daemon can only act on TERM once continued
        now = self.clock.monotonic()
        grace_end = now + max(0.5, (deadline - now) * self.term_grace)
        if not self._wait_gone(pid, min(grace_end, deadline)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            if not self._wait_gone(pid, deadline):
                raise ServiceError(f"{self.describe()} (pid {pid}) survived SIGKILL")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.pidfile)

    def _wait_gone(self, pid: int, until: float) -> bool:
        while True:
            if self._spawned is not None and self._spawned.pid == pid:
                self._spawned.poll()
            if not _pid_alive(pid, self.executable, self.marker):
                return True
            if self.clock.monotonic() >= until:
                return False
            self.clock.sleep(_POLL_S)


@dataclass
class SystemdUnit:
    """A systemd unit driven through ``systemctl``."""

    unit: str
    systemctl: str = "systemctl"
    #: Where runtime drop-ins go (gone at reboot; a root argument for tests).
    runtime_dir: str = "/run/systemd/system"
    clock: Clock = field(default_factory=SystemClock, repr=False, compare=False)

    def describe(self) -> str:
        return f"systemd unit {self.unit}"

    def _run(self, deadline: float, *args: str) -> subprocess.CompletedProcess[str]:
        import subprocess

        timeout = max(1.0, deadline - self.clock.monotonic())
        try:
            return subprocess.run(  # noqa: S603 - argument list, no shell
                [self.systemctl, *args],
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise ServiceError(f"systemctl {' '.join(args)} timed out") from None
        except OSError as error:
            raise ServiceError(f"cannot run {self.systemctl}: {error.strerror}") from None

    def is_running(self) -> bool:
        return self._run(self.clock.monotonic() + 10, "is-active", self.unit).returncode == 0

    def start(self, deadline: float) -> None:
        done = self._run(deadline, "start", self.unit)
        if done.returncode != 0:
            raise ServiceError(f"systemctl start {self.unit} failed: {done.stderr.strip()}")

    def runtime_dropin(self, name: str, text: str, deadline: float) -> None:
        """Put ``text`` in the drop-in ``<unit>.d/<name>.conf`` under ``runtime_dir`` and reload
        systemd when it changed (idempotent: the same text needs no reload)."""
        directory = os.path.join(self.runtime_dir, f"{self.unit}.d")
        path = os.path.join(directory, f"{name}.conf")
        try:
            with open(path, encoding="utf-8") as current:
                if current.read() == text:
                    return
        except FileNotFoundError:
            pass
        try:
            os.makedirs(directory, exist_ok=True)
            with open(path, "w", encoding="utf-8") as dropin:
                dropin.write(text)
        except OSError as error:
            raise ServiceError(f"cannot write {path}: {error.strerror}") from None
        done = self._run(deadline, "daemon-reload")
        if done.returncode != 0:
            raise ServiceError(f"systemctl daemon-reload failed: {done.stderr.strip()}")

    def triggers(self, deadline: float) -> list[str]:
        """Units that start this one on demand (libvirtd's sockets): ``TriggeredBy``."""
        done = self._run(deadline, "show", "--property=TriggeredBy", "--value", self.unit)
        return done.stdout.split() if done.returncode == 0 else []

    def stop(self, deadline: float) -> None:
        """Stop the unit and what triggers it: a cluster-stopped service must stay stopped,
        not come back on the next client connecting to a socket systemd still holds."""
        units = [self.unit, *self.triggers(deadline)]
        done = self._run(deadline, "stop", *units)
        if done.returncode != 0:
            raise ServiceError(f"systemctl stop {' '.join(units)} failed: {done.stderr.strip()}")


def choose_manager(
    mode: str, unit: str, direct: DirectDaemon, root: str = "/"
) -> ServiceManager:
    """``auto`` | ``systemd`` | ``direct`` → the manager to use (systemd's with ``direct``'s clock).

    :raises ServiceError: when systemd is asked for but not available.
    """
    use_systemd = mode == "systemd" or (mode == "auto" and systemd_booted(root))
    if not use_systemd:
        return direct
    import shutil

    systemctl = shutil.which("systemctl")
    if systemctl is None:
        raise ServiceError("service_manager=systemd but systemctl is not installed")
    return SystemdUnit(unit, systemctl, clock=direct.clock)


@contextlib.contextmanager
def service_failure(rc: OcfRc = OcfRc.ERR_GENERIC) -> Iterator[None]:
    """Turn a :class:`ServiceError` raised inside the block into ``OcfError(rc, message)``."""
    try:
        yield
    except ServiceError as error:
        raise OcfError(rc, str(error)) from None
