"""What every subcommand shares: exit codes, the one-line error, I/O handles, file writing."""

from __future__ import annotations

import enum
import os
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

__all__ = ["EXIT_MEANINGS", "CliError", "ExitCode", "Io", "check_output_path", "write_output"]


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
    ExitCode.CONFIG: "inventory, input or output file or credentials invalid or missing; "
                     "unknown host",
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


#: What a non-regular file at an output path is, for the refusal.
_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a named pipe"),
          (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symbolic link"))


def _refuse_non_regular(path: str) -> None:
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as err:
        raise CliError(ExitCode.CONFIG, f"{path}: cannot write ({err.strerror})") from None
    if stat.S_ISREG(mode):
        return
    kind = next((what for test, what in _KINDS if test(mode)), "a special file")
    raise CliError(ExitCode.CONFIG, f"{path}: {kind}, not a regular file; -o writes regular "
                                    "files only (without -o the output goes to stdout)")


def check_output_path(path: str) -> Path:
    """The directory of output ``path``, once :func:`write_output` could write there.

    Commands call it before their work, so a bad ``-o`` fails at once.

    :raises CliError: (CONFIG) for a missing directory or a non-regular file at ``path``.
    """
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    if not directory.is_dir():
        what = "is not a directory" if directory.exists() else "does not exist"
        raise CliError(ExitCode.CONFIG, f"{path}: directory {directory} {what} (create it first)")
    _refuse_non_regular(path)
    return directory


def write_output(path: str | None, text: str, io: Io, *, private: bool = False) -> None:
    """Write ``text`` to ``path`` atomically (0600 when ``private``), or to stdout.

    Only a regular file is written or replaced: a device (``-o /dev/null``), a
    directory, a pipe or a symbolic link at ``path`` is refused, as is a missing
    directory, each with one CONFIG error line.
    """
    if path is None or path == "-":
        io.out.write(text)
        return
    target = Path(path)
    directory = check_output_path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=directory)
    except OSError as err:
        raise CliError(ExitCode.CONFIG, f"{path}: cannot write in {directory} "
                                        f"({err.strerror})") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o600 if private else 0o644)
        _refuse_non_regular(path)  # nothing else took its place meanwhile
        os.replace(tmp, target)
    except (OSError, CliError) as err:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(err, CliError):
            raise
        raise CliError(ExitCode.CONFIG, f"{path}: cannot write ({err.strerror})") from None


def agents_env(env: Mapping[str, str], clouds_yaml: str | None) -> Mapping[str, str]:
    """``env`` pointing at the clouds.yaml the agents are configured with (their
    ``clouds_yaml`` parameter), unless the caller already chose one with
    ``OS_CLIENT_CONFIG_FILE``: the CLI then sees the cloud the agents see."""
    if not clouds_yaml or env.get("OS_CLIENT_CONFIG_FILE"):
        return env
    return {**env, "OS_CLIENT_CONFIG_FILE": clouds_yaml}
