"""Resolve ``password_script``: run a command, take the first line it prints.

The command is split like a shell would (``shlex``) but run without one, with
a timeout, standard input closed, and its output captured: the password never
reaches a log, an argument list or a file.
"""

from __future__ import annotations

import shlex
import subprocess

from instanceha.fencing.codes import ExitCode, FenceError, UsageError

__all__ = ["SCRIPT_TIMEOUT", "run_password_script"]

#: Seconds a password script may take.
SCRIPT_TIMEOUT = 10.0


def run_password_script(command: str, timeout: float = SCRIPT_TIMEOUT) -> str:
    """The first line printed by ``command``.

    :raises UsageError: when the command cannot be parsed or started.
    :raises FenceError: (PASSWORD_MISSING) when it fails, times out or prints nothing.
    """
    try:
        argv = shlex.split(command)
    except ValueError as bad:
        raise UsageError(f"password_script cannot be parsed: {bad}") from None
    if not argv:
        raise UsageError("password_script is empty")
    try:
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise FenceError(ExitCode.PASSWORD_MISSING,
                         f"password_script {argv[0]} did not finish within {timeout:g} s") from None
    except OSError as bad:
        raise UsageError(f"password_script {argv[0]} cannot be run: {bad.strerror}") from None
    if done.returncode != 0:
        raise FenceError(ExitCode.PASSWORD_MISSING,
                         f"password_script {argv[0]} exited with status {done.returncode}")
    lines = done.stdout.decode("utf-8", "replace").splitlines()
    password = lines[0].rstrip("\r") if lines else ""
    if not password:
        raise FenceError(ExitCode.PASSWORD_MISSING,
                         f"password_script {argv[0]} printed no password")
    return password
