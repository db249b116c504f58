"""Driver of ``lab/systemd/boot.sh``: a real systemd as PID 1 in a container.

The container boots this machine's own root file system read-only beneath a throwaway
layer, on a private network (see ``lab/systemd/README.md``); :attr:`SystemdLab.via` is the
command prefix that runs a program inside it, e.g. ``run_agent(..., via=lab.via)``.
One user at a time (:meth:`SystemdLab.exclusive`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from labs.locks import exclusive_lock

__all__ = ["BOOT_SCRIPT", "LabUnavailable", "SystemdLab", "unavailable_reason"]

BOOT_SCRIPT = Path(__file__).resolve().parents[2] / "lab" / "systemd" / "boot.sh"
_LOCK = Path("/var/lib/instanceha-lab/.systemd-user.lock")


class LabUnavailable(RuntimeError):
    """The container could not boot; the message carries boot.sh's last words."""


def unavailable_reason() -> str | None:
    """Why the lab cannot run here, or None."""
    if os.geteuid() != 0:
        return "the systemd lab needs root (mount and pid namespaces, cgroups)"
    missing = [tool for tool in ("systemd-nspawn", "nsenter") if shutil.which(tool) is None]
    if missing:
        return f"not installed: {', '.join(missing)} (lab/systemd/install.sh)"
    return None


class SystemdLab:
    """Start, stop and run commands in the container."""

    via: tuple[str, ...] = (str(BOOT_SCRIPT), "exec")

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the lab for this ``with`` body (a concurrent session waits)."""
        with exclusive_lock(_LOCK, "systemd lab"):
            yield

    def _boot(self, verb: str) -> None:
        done = subprocess.run([str(BOOT_SCRIPT), verb], capture_output=True, text=True,
                              timeout=120, check=False)
        if done.returncode != 0:
            raise LabUnavailable(f"boot.sh {verb} failed: {done.stderr.strip()[-1500:]}")

    def start(self) -> None:
        """Boot the container (no-op when it runs); LabUnavailable when it cannot."""
        self._boot("start")

    def stop(self) -> None:
        """Shut it down, leaving no process, mount or cgroup behind."""
        self._boot("stop")

    def run(self, *argv: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` inside the container (output captured, no check)."""
        return subprocess.run([*self.via, *argv], capture_output=True, text=True,
                              timeout=timeout, check=False)

    def systemctl(self, *args: str) -> str:
        """``systemctl ARGS`` inside, its stdout stripped (exit status ignored)."""
        return self.run("systemctl", *args).stdout.strip()
