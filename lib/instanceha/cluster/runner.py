"""The one seam through which :mod:`instanceha.cluster` runs Pacemaker's CLIs.

Every command is an argument list run without a shell and with a timeout. Unit
tests substitute a recording fake for :class:`SubprocessRunner`; the lab wraps
it to run a command inside a compute host's namespaces.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "DEFAULT_SEARCH_PATH",
    "DEFAULT_TIMEOUT",
    "ClusterError",
    "CommandError",
    "CommandTimeout",
    "OutputError",
    "RunResult",
    "Runner",
    "SubprocessRunner",
    "ToolNotFound",
    "UnknownNode",
]

#: Seconds one CLI call may take unless the caller says otherwise.
DEFAULT_TIMEOUT = 30.0

#: Where Pacemaker's tools live; agents run under pacemaker-execd's minimal environment.
DEFAULT_SEARCH_PATH: tuple[str, ...] = ("/usr/sbin", "/usr/bin", "/sbin", "/bin")


class ClusterError(Exception):
    """Base class of everything :mod:`instanceha.cluster` raises."""


class ToolNotFound(ClusterError):
    """A Pacemaker command line tool is not installed."""


class CommandTimeout(ClusterError):
    """A command did not finish within its timeout (it was killed)."""

    def __init__(self, argv: Sequence[str], timeout: float) -> None:
        super().__init__(f"{argv[0]} did not finish within {timeout:g} s")
        self.argv = tuple(argv)
        self.timeout = timeout


class CommandError(ClusterError):
    """A command exited with a code its caller does not handle."""

    def __init__(self, argv: Sequence[str], rc: int, detail: str) -> None:
        super().__init__(f"{' '.join(argv[:2])} ... exited {rc}: {detail.strip()[:500]}")
        self.argv = tuple(argv)
        self.rc = rc
        self.detail = detail


class OutputError(ClusterError):
    """A command's output is not the XML this package expects."""


class UnknownNode(ClusterError):
    """The named node is not part of the cluster."""

    def __init__(self, node: str) -> None:
        super().__init__(f"unknown cluster node {node!r}")
        self.node = node


@dataclass(frozen=True)
class RunResult:
    """Outcome of one finished command."""

    argv: tuple[str, ...]
    rc: int
    stdout: str
    stderr: str


class Runner(Protocol):
    """Runs an argument list (no shell) and returns its exit code and output.

    Implementations raise :class:`CommandTimeout` when ``timeout`` expires and
    :class:`ToolNotFound` when ``argv[0]`` does not exist; any exit code is a
    normal result.
    """

    def run(self, argv: Sequence[str], *, timeout: float) -> RunResult: ...


class SubprocessRunner:
    """The real :class:`Runner`: :func:`subprocess.run` with a timeout.

    A bare ``argv[0]`` is looked up in ``search_path`` (not in ``$PATH``), so
    the same tool is found from a shell, a test and pacemaker-execd. The child
    inherits this process's environment; stdin is ``/dev/null``.
    """

    def __init__(self, search_path: Sequence[str] = DEFAULT_SEARCH_PATH) -> None:
        self._path = ":".join(search_path)

    def resolve(self, tool: str) -> str:
        """Absolute path of ``tool``; raises :class:`ToolNotFound`."""
        if "/" in tool:
            return tool
        found = shutil.which(tool, path=self._path)
        if found is None:
            raise ToolNotFound(f"{tool} not found in {self._path}")
        return found

    def run(self, argv: Sequence[str], *, timeout: float) -> RunResult:
        """Run ``argv``; see :class:`Runner`."""
        if not argv:
            raise ValueError("empty argument list")
        exe = self.resolve(argv[0])
        try:
            done = subprocess.run(
                [exe, *argv[1:]],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise CommandTimeout(argv, timeout) from exc
        except FileNotFoundError as exc:
            raise ToolNotFound(str(exc)) from exc
        return RunResult(tuple(argv), done.returncode, done.stdout, done.stderr)
