"""What every subcommand shares: exit codes, the one-line error, I/O handles, file writing."""

from __future__ import annotations

import enum
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

__all__ = ["EXIT_MEANINGS", "CliError", "ExitCode", "Io", "write_output"]


class ExitCode(enum.IntEnum):
    """Exit codes of ``instanceha`` (meanings in :data:`EXIT_MEANINGS`, docs/cli.md)."""

    OK = 0
    PROBLEM = 1
    USAGE = 2
    CONFIG = 3
    MISSING = 4
    UNAVAILABLE = 5
    REFUSED = 6
    INTERNAL = 70


#: What each exit code means (the man page's EXIT STATUS).
EXIT_MEANINGS: dict[ExitCode, str] = {
    ExitCode.OK: "done; for check, nothing failed (warnings allowed)",
    ExitCode.PROBLEM: "the command ran and found a problem (a check failed, verify errors)",
    ExitCode.USAGE: "bad command line",
    ExitCode.CONFIG: "inventory, input file or credentials invalid or missing; unknown host",
    ExitCode.MISSING: "a tool or library the command needs is not installed",
    ExitCode.UNAVAILABLE: "the cluster or the cloud could not be asked",
    ExitCode.REFUSED: "the action is unsafe in the current state and was not done",
    ExitCode.INTERNAL: "a bug: rerun with --debug and report it",
}


class CliError(Exception):
    """Ends the command with ``code`` and one line: what went wrong and what to do."""

    def __init__(self, code: ExitCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Io:
    """The process's outputs and environment, handed to subcommands by ``main``."""

    out: TextIO
    err: TextIO
    env: Mapping[str, str]

    def note(self, text: str) -> None:
        """A progress or summary line on stderr (stdout stays machine-readable)."""
        print(f"instanceha: {text}", file=self.err)


def write_output(path: str | None, text: str, io: Io, *, private: bool = False) -> None:
    """Write ``text`` to ``path`` atomically (0600 when ``private``), or to stdout."""
    if path is None or path == "-":
        io.out.write(text)
        return
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o600 if private else 0o644)
        os.replace(tmp, target)
    except OSError as err:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise CliError(ExitCode.CONFIG, f"{path}: cannot write ({err.strerror})") from None


def agents_env(env: Mapping[str, str], clouds_yaml: str | None) -> Mapping[str, str]:
    """``env`` pointing at the clouds.yaml the agents are configured with (their
    ``clouds_yaml`` parameter), unless the caller already chose one with
    ``OS_CLIENT_CONFIG_FILE``: the CLI then sees the cloud the agents see."""
    if not clouds_yaml or env.get("OS_CLIENT_CONFIG_FILE"):
        return env
    return {**env, "OS_CLIENT_CONFIG_FILE": clouds_yaml}
